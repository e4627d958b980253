#!/usr/bin/env python3
"""Stale window after an edit made while Redis is frozen or killed, measured with real clocks.

Starts its own stack (Firestore and Auth emulators + a redis-server that keeps an RDB file), then
per trial: a *reader* instance warms ``GET /products/{id}`` (a hit), Redis is frozen (SIGSTOP) or
killed after a snapshot, a *writer* instance answers ``PATCH /products/{id}`` with a new base
price, Redis comes back (SIGCONT, or a restart that loads the old entries), and the reader polls
every 10 ms until it serves the new price. Prints, per fault, the longest and median time from the
PATCH's 2xx to the reader's first fresh read, and whether a quote right after Redis returned was
ever stale. Both instances run in this process with their own services and Redis connections;
the reader's epochs were read at a random moment of the window before the edit.

Run on demand: ``functions/venv/bin/python benchmarks/freshness.py [--trials N]``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "functions")]

from tools import stack  # noqa: E402


def main() -> int:
    """Run the trials and print the stale windows."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=10, help="trials per fault")
    args = parser.parse_args()
    toolchain = stack.setup()
    with stack.running(toolchain, only="auth,firestore") as env:
        os.environ.update(env)
        with tempfile.TemporaryDirectory() as tmp:
            results = measure(args.trials, Path(tmp))
    from celeste_functions.config import settings

    print(
        f"\nstale window after a 2xx edit (CELESTE_CACHE_FRESHNESS_S={settings().cache_freshness_s}"
        f", {args.trials} trials per fault)"
    )
    for fault, (windows, stale_quotes) in results.items():
        print(
            f"Redis {fault:<7} longest {max(windows) * 1000:6.0f} ms  median "
            f"{statistics.median(windows) * 1000:6.0f} ms  stale quotes {stale_quotes}"
        )
    return 0


def measure(trials: int, tmp: Path) -> dict[str, tuple[list[float], int]]:
    """Per fault: the stale windows (seconds) and how many quotes priced from old data."""
    import functions_framework

    from celeste.catalog.categories import CategoryCreate
    from celeste.catalog.products import ProductCreate
    from celeste_functions import composition
    from celeste_functions.clients import Lazy, firestore_client, make_redis
    from celeste_functions.composition import use
    from celeste_functions.config import settings
    from tests.support.redis_server import RedisServer
    from tools.devauth import AuthEmulator

    server = RedisServer(persist_dir=tmp).start()
    app = functions_framework.create_app("products", str(ROOT / "functions/main.py"))
    pricing_app = functions_framework.create_app("pricing", str(ROOT / "functions/main.py"))
    http, quotes = app.test_client(), pricing_app.test_client()
    admin = AuthEmulator().user("fresh-admin@celeste.test", "fresh-pass-1", role="admin")

    def instance() -> Any:
        client = make_redis(server.url, timeout_s=settings().redis_timeout_s)
        composition.redis_client = Lazy(lambda: client)  # type: ignore[attr-defined]
        composition.firestore_client = firestore_client  # type: ignore[attr-defined]
        return composition.build()

    writer = instance()
    category = writer.categories.create(CategoryCreate(name="Tea", slug="tea")).value
    product = writer.products.create(
        ProductCreate(
            sku="T-1", name="Tea", category_id=category.id, base_price=1000, currency="EUR"
        )
    ).value
    results: dict[str, tuple[list[float], int]] = {}
    price = 1000
    try:
        for fault in ("frozen", "killed"):
            windows, stale_quotes = [], 0
            for _ in range(trials):
                reader = instance()
                use(reader)
                assert http.get(f"/{product.id}").status_code == 200
                time.sleep(random.uniform(0, settings().cache_freshness_s))
                assert http.get(f"/{product.id}").headers["X-Cache"] == "hit"
                if fault == "frozen":
                    server.freeze()
                else:
                    server.save()
                    server.stop()
                price += 1
                use(writer)
                response = http.patch(
                    f"/{product.id}", json={"base_price": price}, headers=admin.headers
                )
                assert response.status_code == 200, response.get_data(as_text=True)
                answered = time.monotonic()
                if fault == "frozen":
                    server.thaw()
                else:
                    server.start()
                use(reader)
                body = {"lines": [{"product_id": product.id, "quantity": 1}]}
                quoted = quotes.post("/quote", json=body).get_json()
                stale_quotes += quoted["lines"][0]["unit_base_price"] != price
                while http.get(f"/{product.id}").get_json()["pricing"]["base_price"] != price:
                    time.sleep(0.01)
                windows.append(time.monotonic() - answered)
            results[fault] = (windows, stale_quotes)
    finally:
        server.stop()
    return results


if __name__ == "__main__":
    sys.exit(main())
