#!/usr/bin/env python3
"""Build the domain library's wheel into functions/vendor/ (firebase.json's predeploy hook).

Usage: python3 tools/build_shared_wheel.py [DEST_DIR]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build(dest: Path) -> Path:
    """Build ``shared/`` as a wheel into ``dest`` (replacing older builds) and return its path."""
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("celeste_domain-*.whl"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        # Build from a copy so no build/ or *.egg-info litter lands in the source tree.
        src = Path(tmp) / "shared"
        shutil.copytree(
            ROOT / "shared",
            src,
            ignore=shutil.ignore_patterns(
                "build", "*.egg-info", "__pycache__", ".mypy_cache", ".ruff_cache"
            ),
        )
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--no-deps",
                "-w",
                str(dest),
                str(src),
            ],
            check=True,
        )
    (wheel,) = dest.glob("celeste_domain-*.whl")
    return wheel


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "functions" / "vendor"
    print(f"built {build(target)}")
