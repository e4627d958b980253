#!/usr/bin/env python3
"""Catalogue read benchmark: latency of cache hits and misses, and Firestore reads per request.

Starts its own stack (Firestore and Auth emulators + Redis on free ports), seeds 100 products,
three categories and two price lists through the services, then serves both the `products`
function and a bare function with functions-framework on loopback and measures, in the same run:

- p50/p95 latency of `GET /products?limit=100` and `GET /products/{id}` on a cache hit, on a miss
  (cache invalidated before each request), and of the bare function (the floor);
- Firestore document reads per request on a miss and on a hit (counted in-process);
- p50/p95 with Redis killed mid-run (fail-open), against a miss with Redis up.

Run on demand: `make bench-catalogue` (or `functions/venv/bin/python benchmarks/catalogue.py
[--requests N]`). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "functions")]

from tools import stack  # noqa: E402


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0..100) of ``samples`` in milliseconds."""
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index] * 1000


def timed(session: Any, url: str, n: int, before: Any = None) -> list[float]:
    """Wall time of ``n`` GETs of ``url`` (``before()`` runs untimed before each)."""
    out = []
    for _ in range(n):
        if before:
            before()
        start = time.perf_counter()
        response = session.get(url, timeout=30)
        out.append(time.perf_counter() - start)
        assert response.status_code == 200, response.text[:300]
    return out


def seed(n_products: int) -> str:
    """Categories, products and price lists through the domain services; returns a product id."""
    from celeste.categories import CategoryCreate
    from celeste.pricing import PriceListBody
    from celeste.products import ProductCreate
    from celeste_functions.composition import services

    svc = services.get()
    root = svc.categories.create(CategoryCreate(name="Food", slug="food")).value
    kids = [
        svc.categories.create(CategoryCreate(name=n, slug=n.lower(), parent_id=root.id)).value
        for n in ("Fruit", "Bakery")
    ]
    first = ""
    for i in range(n_products):
        product = svc.products.create(
            ProductCreate(
                sku=f"SKU-{i:04d}",
                name=f"Product {i:04d}",
                category_id=kids[i % 2].id,
                base_price=100 + i,
                currency="EUR",
            )
        ).value
        first = first or product.id
    svc.price_lists.create(
        PriceListBody.model_validate(
            {
                "name": "Everyone 5%",
                "priority": 2,
                "rules": [{"scope": "all", "kind": "percentage", "value": 5}],
            }
        )
    )
    svc.price_lists.create(
        PriceListBody.model_validate(
            {
                "name": "Fruit 10%",
                "priority": 1,
                "rules": [
                    {
                        "scope": "category",
                        "target_id": kids[0].id,
                        "kind": "percentage",
                        "value": 10,
                    }
                ],
            }
        )
    )
    return first


def count_reads(path: str) -> tuple[int, int]:
    """Firestore documents read by one request served in-process: (miss, hit)."""
    from google.cloud.firestore_v1 import client as client_mod
    from google.cloud.firestore_v1 import document, query

    reads = [0]
    real_stream, real_get, real_get_all = (
        query.Query.stream,
        document.DocumentReference.get,
        client_mod.Client.get_all,
    )

    def stream(self: Any, *a: Any, **k: Any) -> Any:
        docs = list(real_stream(self, *a, **k))
        reads[0] += max(1, len(docs))  # an empty query still costs one read
        return iter(docs)

    def get(self: Any, *a: Any, **k: Any) -> Any:
        reads[0] += 1
        return real_get(self, *a, **k)

    def get_all(self: Any, refs: Any, *a: Any, **k: Any) -> Any:
        docs = list(real_get_all(self, refs, *a, **k))
        reads[0] += len(docs)
        return iter(docs)

    query.Query.stream, document.DocumentReference.get, client_mod.Client.get_all = (
        stream,
        get,
        get_all,
    )
    try:
        import functions_framework

        app = functions_framework.create_app("products", str(ROOT / "functions/main.py"))
        client = app.test_client()
        from celeste_functions.composition import services

        services.get().cache.invalidate(["products", "pricing"])
        reads[0] = 0
        assert client.get(path).status_code == 200
        miss = reads[0]
        reads[0] = 0
        assert client.get(path).status_code == 200
        return miss, reads[0]
    finally:
        query.Query.stream, document.DocumentReference.get, client_mod.Client.get_all = (
            real_stream,
            real_get,
            real_get_all,
        )


def serve(target: str, source: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """functions-framework serving ``target`` on ``port`` (its own process group)."""
    proc = subprocess.Popen(
        [
            str(stack.VENV / "bin/functions-framework"),
            "--target",
            target,
            "--source",
            str(source),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=source.parent,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    stack.wait_for(lambda: stack.port_open(port), 60, f"functions-framework {target}")
    return proc


def main() -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200, help="requests per measurement")
    parser.add_argument("--products", type=int, default=100)
    args = parser.parse_args()
    import requests

    toolchain = stack.setup()
    ports = stack.Ports.free()
    with stack.running(toolchain, ports, emulators=False) as running:
        running.start_emulators(only="auth,firestore")
        env = running.env()
        os.environ.update(env)
        product_id = seed(args.products)
        servers = []
        try:
            bare_port, products_port = stack.free_port(), stack.free_port()
            servers.append(serve("bare", ROOT / "benchmarks/bare_function.py", bare_port, env))
            servers.append(serve("products", ROOT / "functions/main.py", products_port, env))
            session = requests.Session()
            base = f"http://127.0.0.1:{products_port}"
            from celeste_functions.composition import services

            invalidate = lambda: services.get().cache.invalidate(["products"])  # noqa: E731
            n = args.requests
            rows = []
            for label, path in (("list of 100", "/?limit=100"), ("one product", f"/{product_id}")):
                timed(session, base + path, 5)  # warm up
                hit = timed(session, base + path, n)
                miss = timed(session, base + path, max(20, n // 4), before=invalidate)
                rows.append((label, hit, miss, *count_reads(path)))
            bare = timed(session, f"http://127.0.0.1:{bare_port}/", n)
            # Redis dies: every read must still answer 200, at about the cost of a miss.
            redis_proc = next(proc for name, proc in running.procs if name == "redis")
            redis_proc.kill()
            redis_proc.wait(timeout=10)
            down = {
                label: timed(session, base + path, max(20, n // 4))
                for label, path in (
                    ("list of 100", "/?limit=100"),
                    ("one product", f"/{product_id}"),
                )
            }
        finally:
            for proc in servers:
                os.killpg(proc.pid, 15)
                proc.wait(timeout=10)
    floor = percentile(bare, 50)
    print(
        f"\ncatalogue benchmark: {args.products} products, {args.requests} requests/figure, "
        "functions-framework on loopback, Firestore emulator, local Redis"
    )
    print(
        f"{'request':<14}{'hit p50':>9}{'hit p95':>9}{'miss p50':>10}{'miss p95':>10}"
        f"{'hit/bare':>10}{'reads miss':>12}{'reads hit':>11}"
    )
    for label, hit, miss, reads_miss, reads_hit in rows:
        print(
            f"{label:<14}{percentile(hit, 50):>8.1f}ms{percentile(hit, 95):>7.1f}ms"
            f"{percentile(miss, 50):>8.1f}ms{percentile(miss, 95):>8.1f}ms"
            f"{percentile(hit, 50) / floor:>9.1f}x{reads_miss:>12}{reads_hit:>11}"
        )
    print(f"{'bare function':<14}{floor:>8.1f}ms{percentile(bare, 95):>7.1f}ms")
    print("\nwith Redis killed (fail-open: every request still 200, served from Firestore)")
    for label, _hit, miss, _, _ in rows:
        extra = percentile(down[label], 50) - percentile(miss, 50)
        print(
            f"{label:<14} p50 {percentile(down[label], 50):.1f}ms  p95 "
            f"{percentile(down[label], 95):.1f}ms  ({extra:+.1f}ms vs a miss with Redis up)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
