"""The storefront's pure JS modules, under Node's own test runner (tests/web/*.test.mjs): the
unit layer runs them so a broken rule of the app fails ``make test-unit`` like a Python one."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_storefront_js_unit_tests_pass() -> None:
    node = shutil.which("node")
    assert node, "Node.js is part of the toolchain (python3 tools/stack.py setup)"
    result = subprocess.run(
        [node, "--test", "tests/web/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout and "# pass 0" not in result.stdout
