#!/usr/bin/env python3
"""Catalogue read benchmark: throughput and server CPU per request against a bare function.

Starts its own stack (Firestore and Auth emulators + Redis on free ports), seeds 100 products in
three categories and two price lists, signs up a customer with a tier, then serves with
functions-framework in production mode (gunicorn gthread, ``WORKERS=1 THREADS=8``), each in its
own process group:

- ``bare``: a function returning a constant 2 KB JSON body (the platform floor);
- ``bare-redis``: the same after one Redis GET of a page-sized value on a per-thread
  connection: the floor of any cache hit that must ask Redis whether its entry is current;
- ``products`` with Redis;
- ``products`` without Redis (``REDIS_URL`` unset).

Each case is loaded with ``wrk`` (8 keep-alive connections; a warm-up, then a measured run;
the rounds interleave the cases so drift hits them all alike). Server CPU per request is read
from ``/proc`` for the server's whole process group. Misses are forced by 8 Python clients that
retire the ``products`` scope's Redis version before each request (its throughput is then the
clients', so only its CPU per request is compared); the share of misses is printed. Cold start
compares ``import main`` with importing the SDK modules it imports.

Run on demand: ``make bench-catalogue`` (``--warmup``, ``--duration``, ``--rounds``). Prints a
ratio table; asserts nothing. Installs ``wrk`` with apt-get when it is missing.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "functions")]

from tools import stack  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
#: Counts the responses' X-Cache values; wrk prints them when done.
WRK_SCRIPT = """
hits, misses = 0, 0
local threads = {}
function setup(thread) table.insert(threads, thread) end
function response(status, headers, body)
  local x = headers["X-Cache"]
  if x == "hit" then hits = hits + 1 elseif x == "miss" then misses = misses + 1 end
end
function done(summary, latency, requests)
  local h, m = 0, 0
  for _, t in ipairs(threads) do h = h + t:get("hits"); m = m + t:get("misses") end
  io.write(string.format("XCACHE %d %d\\n", h, m))
end
"""


def ensure_wrk() -> str:
    """``wrk`` from PATH, else installed from Debian's package."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("wrk is missing: install Debian's package (apt-get install wrk) and run again")
    print("installing wrk (apt-get)", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, stdout=subprocess.DEVNULL)
    return shutil.which("wrk") or sys.exit("apt-get did not install wrk")


def seed(n_products: int, n_variants: int) -> str:
    """Categories, products (each with ``n_variants`` sizes, or none when 1) and price lists
    through the domain services; returns a product id."""
    from celeste.catalog.categories import CategoryCreate
    from celeste.catalog.products import ProductCreate
    from celeste.pricing.price_lists import PriceListBody
    from celeste_functions.composition import services

    svc = services.get()
    root = svc.categories.create(CategoryCreate(name="Food", slug="food")).value
    kids = [
        svc.categories.create(CategoryCreate(name=n, slug=n.lower(), parent_id=root.id)).value
        for n in ("Fruit", "Bakery")
    ]
    first = ""
    sizes = [f"S{n}" for n in range(n_variants)] if n_variants > 1 else []
    for i in range(n_products):
        product = svc.products.create(
            ProductCreate.model_validate(
                {
                    "sku": f"SKU-{i:04d}",
                    "name": f"Product {i:04d}",
                    "category_id": kids[i % 2].id,
                    "base_price": 100 + i,
                    "currency": "EUR",
                    "options": [{"name": "Size", "values": sizes}] if sizes else [],
                    "variants": [
                        {
                            "sku": f"SKU-{i:04d}-{size}",
                            "options": {"Size": size},
                            "base_price": 100 + i + n,
                        }
                        for n, size in enumerate(sizes)
                    ],
                }
            )
        ).value
        first = first or product.id
    everyone = {"scope": "all", "kind": "percentage", "value": 5}
    fruit = {"scope": "category", "target_id": kids[0].id, "kind": "percentage", "value": 10}
    for name, priority, rule in (("Everyone 5%", 2, everyone), ("Fruit 10%", 1, fruit)):
        body = {"name": name, "priority": priority, "rules": [rule]}
        svc.price_lists.create(PriceListBody.model_validate(body))
    return first


def customer_token() -> str:
    """A signed-up customer holding tier SILVER (profile written directly); their ID token."""
    from google.cloud import firestore

    from tools.devauth import AuthEmulator

    signed = AuthEmulator().sign_up("bench@celeste.test", "bench-password-1")
    db = firestore.Client(project=stack.PROJECT)
    db.collection("users").document(signed.uid).set({"tier": "SILVER", "role": "customer"})
    return signed.id_token


def serve(target: str, source: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """functions-framework (production mode: gunicorn gthread) serving ``target``."""
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
        env={**env, "WORKERS": "1", "THREADS": "8"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    stack.wait_for(lambda: stack.port_open(port), 60, f"functions-framework {target}")
    return proc


def group_cpu_s(pgid: int) -> float:
    """User + system CPU seconds of every live process in process group ``pgid``."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:  # field 5 of stat: the process group
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / TICKS


@dataclass
class Case:
    """One load case: which server, which path, which headers."""

    label: str
    server: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    invalidate: bool = False
    results: list[tuple[float, float, float]] = field(default_factory=list)  # rps, cpu ms, miss


def run_wrk(
    wrk: str, url: str, headers: dict[str, str], seconds: int, script: Path
) -> tuple[int, float, int, int]:
    """(requests, seconds, hits, misses) of one wrk run."""
    cmd = [wrk, "-t2", "-c8", f"-d{seconds}s", "--latency", "-s", str(script)]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    match = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    if not match:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    duration = float(match.group(2)) / (1000 if match.group(3) == "ms" else 1)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} non-2xx responses")
    xcache = re.search(r"XCACHE (\d+) (\d+)", out)
    hits, misses = (int(xcache.group(1)), int(xcache.group(2))) if xcache else (0, 0)
    return int(match.group(1)), duration, hits, misses


def forced_misses(redis_url: str, url: str, seconds: float) -> tuple[int, float, int, int]:
    """8 keep-alive clients, each retiring the products scope's Redis version before every
    request of its own page size (so every request misses; the pricing snapshot stays cached,
    as after a product edit): (requests, seconds, hits, misses)."""
    import secrets
    import time

    import redis
    import requests

    counts = {"hit": 0, "miss": 0, "n": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(limit: int) -> None:
        r = redis.Redis.from_url(redis_url)
        session = requests.Session()
        while time.monotonic() < deadline:
            r.set("celeste:products:version", secrets.token_hex(8))
            response = session.get(f"{url}{limit}", timeout=30)
            if response.status_code != 200:
                raise RuntimeError(f"{url}: {response.status_code}")
            with lock:
                counts["n"] += 1
                counts[response.headers.get("X-Cache", "miss")] += 1

    started = time.monotonic()
    # Each client asks for its own key (limit=20..27), so no request waits on another's miss.
    threads = [threading.Thread(target=client, args=(20 + i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return counts["n"], time.monotonic() - started, counts["hit"], counts["miss"]


def import_times(env: dict[str, str], runs: int = 5) -> tuple[float, float]:
    """Median seconds of a cold ``import main``, and of importing the SDK modules it imports
    (``main`` imports each function's own modules on the function's first call)."""
    timed = "import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"
    sdk = "from firebase_functions import firestore_fn, https_fn, options, scheduler_fn"
    py, cwd = str(stack.VENV_PY), ROOT / "functions"

    def once(stmt: str) -> float:
        out = subprocess.run(
            [py, "-c", timed.format(stmt=stmt)], cwd=cwd, env=env, capture_output=True, text=True
        )
        return float(out.stdout.strip().splitlines()[-1])

    pairs = [(once("import main"), once(sdk)) for _ in range(runs)]  # interleaved: same load
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def main() -> int:
    """Run the benchmark and print the ratio table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--warmup", type=int, default=10, help="seconds of warm-up per case")
    parser.add_argument("--duration", type=int, default=20, help="measured seconds per case")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--products", type=int, default=100)
    parser.add_argument(
        "--variants", type=int, default=3, help="variants per product (1: no options)"
    )
    args = parser.parse_args()
    wrk = ensure_wrk()

    toolchain = stack.setup()
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(WRK_SCRIPT)
    with stack.running(toolchain, only="auth,firestore") as env:
        os.environ.update(env)
        product_id = seed(args.products, args.variants)
        token = customer_token()
        import redis

        from benchmarks.bare_function import REDIS_KEY

        # A JSON value the size of a cached list of 20 (11.5 KB).
        redis.Redis.from_url(env["REDIS_URL"]).set(REDIS_KEY, b"[" + b'"x",' * 2875 + b'"x"]')
        no_redis_env = {k: v for k, v in env.items() if k != "REDIS_URL"}
        servers: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
        try:
            for name, target, source, server_env in (
                ("bare", "bare", ROOT / "benchmarks/bare_function.py", env),
                ("bare-redis", "bare_redis", ROOT / "benchmarks/bare_function.py", env),
                ("redis", "products", ROOT / "functions/main.py", env),
                ("no-redis", "products", ROOT / "functions/main.py", no_redis_env),
            ):
                port = stack.free_port()
                servers[name] = (serve(target, source, port, server_env), port)
            signed = {"Authorization": f"Bearer {token}"}
            cases = [
                Case("bare function (2 KB JSON)", "bare", "/"),
                Case("bare + one Redis GET (11.5 KB)", "bare-redis", "/"),
                Case("list of 20, anonymous, hit", "redis", "/?limit=20"),
                Case("list of 20, signed-in, hit", "redis", "/?limit=20", signed),
                Case("one product, anonymous, hit", "redis", f"/{product_id}"),
                Case("list of 20-27, miss (Redis up)", "redis", "/?limit=", invalidate=True),
                Case("list of 20, no Redis", "no-redis", "/?limit=20"),
                Case("list of 20, signed-in, no Redis", "no-redis", "/?limit=20", signed),
            ]
            for round_no in range(args.rounds):
                for case in cases:
                    proc, port = servers[case.server]
                    url = f"http://127.0.0.1:{port}{case.path}"

                    def load(seconds: int, case: Case = case, url: str = url) -> Any:
                        if case.invalidate:
                            return forced_misses(env["REDIS_URL"], url, seconds)
                        return run_wrk(wrk, url, case.headers, seconds, script)

                    load(args.warmup)
                    before = group_cpu_s(proc.pid)
                    n, seconds, hits, misses = load(args.duration)
                    cpu = group_cpu_s(proc.pid) - before
                    miss_share = misses / max(1, hits + misses)
                    case.results.append((n / seconds, cpu * 1000 / max(1, n), miss_share))
                    print(
                        f"round {round_no + 1} {case.label:<34} {n / seconds:8.0f} req/s "
                        f"{cpu * 1000 / max(1, n):6.2f} CPU ms/req  misses {miss_share:.0%}",
                        flush=True,
                    )
        finally:
            for proc, _ in servers.values():
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=20)
        cold_main, cold_deps = import_times(no_redis_env)
    script.unlink()

    def med(case: Case, i: int) -> float:
        return statistics.median(r[i] for r in case.results)

    bare = cases[0]
    print(
        f"\ncatalogue benchmark: {args.products} products of {args.variants} variants, "
        "2 price lists; wrk 8 connections, "
        f"{args.warmup} s warm-up + {args.duration} s measured, {args.rounds} rounds interleaved "
        f"(medians); functions-framework gunicorn gthread WORKERS=1 THREADS=8; "
        f"{os.cpu_count()} CPUs\n"
    )
    print("| case | req/s | req/s ÷ bare | server CPU ms/req | CPU ÷ bare | misses |")
    print("|---|---:|---:|---:|---:|---:|")
    for case in cases:
        print(
            f"| {case.label} | {med(case, 0):.0f} | {med(case, 0) / med(bare, 0):.2f} | "
            f"{med(case, 1):.2f} | {med(case, 1) / med(bare, 1):.1f}x | {med(case, 2):.0%} |"
        )
    by = {case.label: case for case in cases}
    signed_hit, signed_none = (
        by["list of 20, signed-in, hit"],
        by["list of 20, signed-in, no Redis"],
    )
    miss, none = by["list of 20-27, miss (Redis up)"], by["list of 20, no Redis"]
    print(
        "\nsigned-in hit ÷ signed-in without cache: "
        f"{med(signed_hit, 0) / med(signed_none, 0):.1f}x "
        f"req/s; no Redis ÷ miss: {med(none, 1) / med(miss, 1):.2f}x CPU/req"
    )
    floor = by["bare + one Redis GET (11.5 KB)"]
    hits = [case for case in cases if case.label.endswith(", hit")]
    ratios = (f"{case.label} {med(case, 0) / med(floor, 0):.2f}x" for case in hits)
    print("hits ÷ bare + one Redis GET: " + "; ".join(ratios))
    print(
        f"cold start: import main {cold_main * 1000:.0f} ms, the SDK modules it imports alone "
        f"{cold_deps * 1000:.0f} ms ({cold_main / cold_deps:.2f}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
