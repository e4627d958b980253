#!/usr/bin/env python3
"""Reservations/s against one hot discount code (one document), beside the same orders without it.

Run on demand, not a test:

    make bench-hot-code  (functions/venv/bin/python benchmarks/hot_code.py)
                                                 starts its own stack on free ports, runs, stops
    functions/venv/bin/python benchmarks/hot_code.py --orders 120 --concurrency 16

Each scenario stores ``--orders`` pending orders, every one for a product of its own (so stock
never contends), then runs the reservation (``OrderFulfilment.reserve``, the trigger's work)
for all of them from ``--concurrency`` threads against the Firestore emulator. "hot code": every
order carries the same code, so each reservation's batch also updates that one document;
"no code": the same orders without it. Reported: reservations committed per second and the
races lost on the way (each one a re-read and a retry). Figures from the emulator measure the
code and the emulator, not production Firestore.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "functions")]

DATABASE = "bench-hot-code"
STORE = "bench-store"


def scenario(name: str, *, orders: int, concurrency: int, with_code: bool) -> dict[str, object]:
    """Store the orders and stock, reserve them all concurrently, and count."""
    from google.cloud import firestore

    from celeste.inventory.records import StockRecord
    from celeste.kernel.ids import new_id
    from celeste.orders.order import AppliedCode, Order, OrderLine, StatusChange
    from celeste.orders.status import OrderStatus
    from celeste.pricing.discount_codes import DiscountCode
    from celeste.services.fulfilment import OrderFulfilment
    from celeste.services.tiers import TierService
    from celeste.writes import CreateOrder, PutLevel
    from celeste_functions.adapters.accounts import FirestoreCustomers
    from celeste_functions.adapters.cache import Cache
    from celeste_functions.adapters.discount_codes import FirestoreDiscountCodes
    from celeste_functions.adapters.inventory import FirestoreInventory
    from celeste_functions.adapters.orders import FirestoreOrders
    from celeste_functions.adapters.tiers import FirestoreTiers
    from celeste_functions.adapters.writer import FirestoreWriter

    db = firestore.Client(project="demo-celeste", database=DATABASE)
    client = lambda: db  # noqa: E731
    writer = FirestoreWriter(client=client, cache=Cache(client=lambda: None, ttl_s=60))
    codes = FirestoreDiscountCodes(client=client)
    now = datetime.now(UTC)
    code = f"HOT{new_id()[:6].upper()}"
    if with_code:
        codes.create(
            DiscountCode(code=code, kind="percentage", value=10, created_at=now, updated_at=now)
        )
    ids = []
    for _ in range(orders):
        product = new_id()
        writer.commit(
            [
                PutLevel(
                    StockRecord(store_id=STORE, product_id=product, on_hand=10, updated_at=now),
                    None,
                )
            ]
        )
        line = OrderLine(
            product_id=product,
            quantity=1,
            currency="EUR",
            unit_base_price=1000,
            unit_final_price=1000,
            line_subtotal=1000,
            line_discount=0,
            line_total=1000,
        )
        order = Order(
            id=new_id(),
            user_id=f"u{new_id()[:8]}",
            store_id=STORE,
            status=OrderStatus.PENDING,
            lines=[line],
            currency="EUR",
            tier="BRONZE",
            subtotal=1000,
            discount_total=100 if with_code else 0,
            total=900 if with_code else 1000,
            discount_code=(
                AppliedCode(code=code, kind="percentage", value=10, amount=100)
                if with_code
                else None
            ),
            history=[StatusChange(status=OrderStatus.PENDING, at=now, actor="customer")],
            created_at=now,
            updated_at=now,
        )
        writer.commit([CreateOrder(order)])
        ids.append(order.id)

    lost = 0
    lock = threading.Lock()

    def count_sleep(seconds: float) -> None:
        nonlocal lost
        with lock:
            lost += 1
        time.sleep(seconds)

    fulfilment = OrderFulfilment(
        orders=FirestoreOrders(client=client),
        inventory=FirestoreInventory(client=client),
        writer=writer,
        codes=codes,
        customers=FirestoreCustomers(client=client),
        tiers=TierService(repository=FirestoreTiers(client=client, writer=writer)),
        sleep=count_sleep,
    )
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        outcomes = list(pool.map(fulfilment.reserve, ids))
    elapsed = time.perf_counter() - started
    times_used = codes.get(code).value.times_used if with_code else None
    return {
        "name": name,
        "confirmed": outcomes.count("confirmed"),
        "per_s": outcomes.count("confirmed") / elapsed,
        "lost_races": lost,
        "times_used": times_used,
    }


def main(argv: list[str]) -> int:
    """Parse arguments; start a stack unless ``--reuse``; run and report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=120)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--reuse", action="store_true", help="use the emulator in the environment")
    args = parser.parse_args(argv)
    try:
        import google.cloud.firestore  # noqa: F401
    except ImportError:
        from tools import stack

        stack.setup()
        os.execv(stack.VENV_PY, [str(stack.VENV_PY), __file__, *argv])

    def run() -> list[dict[str, object]]:
        return [
            scenario("no code", orders=args.orders, concurrency=args.concurrency, with_code=False),
            scenario("hot code", orders=args.orders, concurrency=args.concurrency, with_code=True),
        ]

    if args.reuse:
        results = run()
    else:
        from tools import stack

        toolchain = stack.setup()
        with stack.running(toolchain) as env:
            os.environ.update(env)
            results = run()
    print(f"\n{args.orders} orders, {args.concurrency} threads, {os.cpu_count()} CPUs\n")
    print("| scenario | confirmed | reservations/s | lost races | times_used |")
    print("|---|---:|---:|---:|---:|")
    for r in results:
        per_s = float(r["per_s"])  # type: ignore[arg-type]
        print(
            f"| {r['name']} | {r['confirmed']} | {per_s:.1f} | {r['lost_races']} | "
            f"{r['times_used'] if r['times_used'] is not None else '-'} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
