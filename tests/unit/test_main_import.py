"""Importing the functions' entry point does no I/O: no clients built, no Redis imported.

The Functions runtime (and the emulator's deploy-time discovery) imports ``main`` with whatever
environment it has; that must be fast and touch nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.functions import ALL_FUNCTIONS

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"

PROBE = """
import json, sys, time
started = time.perf_counter()
import main
elapsed = time.perf_counter() - started
from celeste_functions import clients, composition
lazies = {
    "firestore_client": clients.firestore_client,
    "redis_client": clients.redis_client,
    "firebase_app": clients.firebase_app,
    "services": composition.services,
}
print(json.dumps({
    "elapsed": elapsed,
    "redis_imported": any(m == "redis" or m.startswith("redis.") for m in sys.modules),
    "built": sorted(name for name, lazy in lazies.items() if lazy._value is not clients._UNSET),
    "functions": sorted(n for n, f in vars(main).items() if hasattr(f, "__firebase_endpoint__")),
}))
"""

#: Variables that would point the process at emulators, Redis or a real project.
_DROPPED_PREFIXES = ("FIREBASE_", "FIRESTORE_", "GCLOUD_", "GOOGLE_", "REDIS_", "CELESTE_")


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_PREFIXES)}
    env.pop("PYTHONPATH", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def test_importing_main_builds_nothing_and_skips_redis() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=FUNCTIONS,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["functions"] == list(ALL_FUNCTIONS)
    assert report["redis_imported"] is False
    assert report["built"] == []
