#!/usr/bin/env python3
"""Order placement -> settled latency and settled orders/s, on distinct SKUs and on one hot SKU.

Run on demand, not a test:

    make bench-orders  (functions/venv/bin/python benchmarks/orders.py)
                                                 starts its own stack (tools/stack.py: free ports,
                                                 emulators + Redis), runs, stops everything
    functions/venv/bin/python benchmarks/orders.py --orders 80 --concurrency 16

With ``CELESTE_FUNCTIONS_URL``, ``FIRESTORE_EMULATOR_HOST`` and ``FIREBASE_AUTH_EMULATOR_HOST``
already set (e.g. inside ``make dev``'s environment) and ``--reuse``, it uses that stack instead.

Each scenario places ``--orders`` single-unit orders from ``--concurrency`` threads (one customer
per thread, real Auth-emulator tokens). "Placed" is when the ``POST /orders`` request is sent;
"settled" is when a watcher polling Firestore every 20 ms first sees the order leave ``pending``
(the ``on_order_created`` trigger confirmed or rejected it). Throughput is settled orders over the
time from the first request to the last settlement. A warm-up round first starts the emulator's
Python workers, so cold starts are not measured. Figures from the emulator measure the code and
the emulator, not production Firestore.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]


@dataclass
class Result:
    """One scenario's figures."""

    name: str
    orders: int
    confirmed: int
    rejected: int
    post_p50_ms: float
    p50_ms: float
    p95_ms: float
    max_ms: float
    per_s: float


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


class Bench:
    """Drives one stack: setup through the API as an admin, then timed scenarios."""

    def __init__(self, base_url: str, concurrency: int) -> None:
        import requests
        from google.cloud import firestore

        from tools.devauth import AuthEmulator

        self.base = base_url
        self.http = requests.Session()
        self.http.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=concurrency * 2))
        self.db = firestore.Client(project=os.environ.get("GCLOUD_PROJECT", "demo-celeste"))
        auth = AuthEmulator()
        self.admin = auth.user("bench-admin@bench.test", "password-bench", role="admin")
        with ThreadPoolExecutor(8) as pool:
            self.customers = list(
                pool.map(
                    lambda i: auth.user(f"bench{i}@bench.test", f"password-bench-{i}"),
                    range(concurrency),
                )
            )
        self.tag = uuid.uuid4().hex[:6]

    def call(self, method: str, path: str, user: Any, body: Any = None) -> Any:
        response = self.http.request(
            method, f"{self.base}/{path}", json=body, headers=user.headers, timeout=300
        )
        if response.status_code >= 300:
            raise SystemExit(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json()

    def stocked(self, skus: int, units: int) -> tuple[str, list[str]]:
        """A store and ``skus`` products with ``units`` each, made through the API."""
        n = uuid.uuid4().hex[:6]
        category = self.call(
            "POST", "categories", self.admin, {"name": f"Bench {n}", "slug": f"bench-{n}"}
        )
        store = self.call(
            "POST",
            "stores",
            self.admin,
            {
                "name": f"Bench {n}",
                "address": {
                    "line1": "1 Bench St",
                    "city": "Porto",
                    "postal_code": "4000-001",
                    "country": "PT",
                },
                "location": {"lat": 41.15, "lng": -8.61},
                "pickup": True,
            },
        )
        products = []
        for i in range(skus):
            product = self.call(
                "POST",
                "products",
                self.admin,
                {
                    "sku": f"B{n}-{i}".upper(),
                    "name": f"Item {i}",
                    "category_id": category["id"],
                    "base_price": 500,
                    "currency": "EUR",
                },
            )
            self.call(
                "PUT", f"inventory/{store['id']}/{product['id']}", self.admin, {"on_hand": units}
            )
            products.append(product["id"])
        return store["id"], products

    def run(
        self,
        name: str,
        store_id: str,
        products: list[str],
        orders: int,
        *,
        settle_s: float = 300,
    ) -> Result | None:
        """Place ``orders`` orders (order i buys ``products[i % len]``) and time their settling;
        ``None`` when some did not settle within ``settle_s`` (only the warm-up may)."""
        placed: dict[str, float] = {}
        settled_at: dict[str, tuple[float, str]] = {}
        done = threading.Event()
        lock = threading.Lock()

        def watch() -> None:
            while not done.is_set():
                with lock:
                    waiting = [oid for oid in placed if oid not in settled_at]
                refs = [self.db.collection("orders").document(oid) for oid in waiting]
                for snapshot in self.db.get_all(refs) if refs else []:
                    status = (snapshot.to_dict() or {}).get("status")
                    if status and status != "pending":
                        settled_at[snapshot.id] = (time.perf_counter(), status)
                time.sleep(0.02)

        answered: list[float] = []  # how long each POST /orders took to answer

        def place(i: int) -> None:
            user = self.customers[i % len(self.customers)]
            body = {
                "store_id": store_id,
                "fulfilment": "pickup",  # collected at the bench store: no shipping to choose
                "lines": [{"product_id": products[i % len(products)], "quantity": 1}],
            }
            # An Idempotency-Key makes a retry safe: a burst of cold starts sometimes costs the
            # functions emulator a request (two new workers handed the same port).
            headers = {**user.headers, "Idempotency-Key": str(uuid.uuid4())}
            started = time.perf_counter()
            for _ in range(3):
                response = self.http.post(
                    f"{self.base}/orders", json=body, headers=headers, timeout=300
                )
                if response.status_code < 500:
                    break
            if response.status_code not in (200, 202):
                raise SystemExit(f"POST /orders: {response.status_code} {response.text[:300]}")
            with lock:
                placed[response.json()["id"]] = started
                answered.append((time.perf_counter() - started) * 1000)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        first = time.perf_counter()
        with ThreadPoolExecutor(len(self.customers)) as pool:
            list(pool.map(place, range(orders)))
        deadline = time.monotonic() + settle_s
        while len(settled_at) < orders and time.monotonic() < deadline:
            time.sleep(0.05)
        done.set()
        watcher.join()
        if len(settled_at) < orders:
            print(f"{name}: only {len(settled_at)} of {orders} orders settled", file=sys.stderr)
            return None
        latencies = [(settled_at[oid][0] - placed[oid]) * 1000 for oid in placed]
        last = max(moment for moment, _ in settled_at.values())
        statuses = [status for _, status in settled_at.values()]
        return Result(
            name=name,
            orders=orders,
            confirmed=statuses.count("confirmed"),
            rejected=statuses.count("rejected"),
            post_p50_ms=statistics.median(answered),
            p50_ms=statistics.median(latencies),
            p95_ms=percentile(latencies, 0.95),
            max_ms=max(latencies),
            per_s=orders / (last - first),
        )

    def audit_clean(self) -> bool:
        response = self.http.get(
            f"{self.base}/inventory/audit", headers=self.admin.headers, timeout=300
        )
        return bool(response.json().get("clean"))


BENCH_LIMITS = {
    "CELESTE_RATE_ORDERS_PER_USER": "off",
    "CELESTE_RATE_ORDERS_PER_IP": "off",
    "CELESTE_HOLD_MAX_OPEN_ORDERS": "1000000",
    "CELESTE_HOLD_MAX_UNITS_PER_PRODUCT": "1000000",
}


def benchmark(orders: int, concurrency: int) -> list[Result]:
    """Warm up, then the two scenarios."""
    bench = Bench(os.environ["CELESTE_FUNCTIONS_URL"], concurrency)
    warm_store, warm_products = bench.stocked(skus=concurrency, units=10)
    print(f"warming up {concurrency} workers per function ...", file=sys.stderr, flush=True)
    # The emulator sometimes drops one trigger request in the warm-up's burst of cold starts
    # (two new workers handed one port: "socket hang up"); deployed, the scheduled re-drive
    # (`expire_reservations`) would settle that order. The warm-up only starts the workers.
    bench.run("warm-up", warm_store, warm_products, concurrency * 2, settle_s=60)
    store, distinct = bench.stocked(skus=orders, units=5)
    hot_store, hot = bench.stocked(skus=1, units=orders)
    results = [
        bench.run("distinct SKUs", store, distinct, orders),
        bench.run("one hot SKU", hot_store, hot, orders),
    ]
    if None in results:
        raise SystemExit("a measured scenario did not settle every order in 300 s")
    if not bench.audit_clean():
        raise SystemExit("the auditor found drift after the benchmark")
    return [r for r in results if r is not None]


def report(results: list[Result], *, orders: int, concurrency: int) -> None:
    """The figures, as a Markdown table."""
    print(
        f"\n{orders} single-unit orders per scenario, {concurrency} concurrent clients, "
        f"{os.cpu_count()} CPUs; auditor clean afterwards\n"
    )
    print(
        "| scenario | confirmed | rejected | POST /orders p50 ms "
        "| settled p50 ms | p95 ms | max ms | settled orders/s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r.name} | {r.confirmed} | {r.rejected} | {r.post_p50_ms:.0f} | "
            f"{r.p50_ms:.0f} | {r.p95_ms:.0f} | "
            f"{r.max_ms:.0f} | {r.per_s:.1f} |"
        )


def main(argv: list[str]) -> int:
    """Parse arguments; start a stack unless ``--reuse``; run and report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=12)
    parser.add_argument("--reuse", action="store_true", help="use the stack in the environment")
    args = parser.parse_args(argv)
    try:
        import google.cloud.firestore  # noqa: F401
    except ImportError:  # plain python3: set up functions/venv if needed and run in it
        from tools import stack

        stack.setup()
        os.execv(stack.VENV_PY, [str(stack.VENV_PY), __file__, *argv])
    # It measures throughput, not fair use: twelve customers place every order, so the per-customer
    # rate limit and hold caps are lifted for its own stack (an override in the environment wins).
    for name, value in BENCH_LIMITS.items():
        os.environ.setdefault(name, value)
    if args.reuse:
        results = benchmark(args.orders, args.concurrency)
    else:
        from tools import stack

        toolchain = stack.setup()
        with stack.running(toolchain) as env:
            os.environ.update(env)
            results = benchmark(args.orders, args.concurrency)
    report(results, orders=args.orders, concurrency=args.concurrency)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
