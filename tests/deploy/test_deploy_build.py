"""What `firebase deploy` and Cloud Build do, done here: build the shared wheel with the predeploy
hook, install functions/requirements.txt alone into a fresh venv, and load main.py with no
credentials and no network (a network namespace of its own when the machine allows one)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.functions import ALL_FUNCTIONS

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = set(ALL_FUNCTIONS)


def _offline(cmd: list[str]) -> list[str]:
    """``cmd`` inside a fresh network namespace (no interfaces up) when ``unshare`` works."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return [unshare, "-n", *cmd]
    return cmd


@pytest.fixture(scope="module")
def deployed_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """functions/ as deploy uploads it: no venv, plus the wheel the predeploy hook builds."""
    source = tmp_path_factory.mktemp("deploy") / "functions"
    ignore = json.loads((ROOT / "firebase.json").read_text())["functions"][0]["ignore"]
    shutil.copytree(ROOT / "functions", source, ignore=shutil.ignore_patterns(*ignore, "vendor"))
    hook = json.loads((ROOT / "firebase.json").read_text())["functions"][0]["predeploy"][0]
    assert "tools/build_shared_wheel.py" in hook
    subprocess.run(
        [sys.executable, str(ROOT / "tools/build_shared_wheel.py"), str(source / "vendor")],
        check=True,
        capture_output=True,
    )
    return source


@pytest.fixture(scope="module")
def fresh_python(deployed_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with only functions/requirements.txt installed, as Cloud Build does."""
    venv = tmp_path_factory.mktemp("venv") / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    result = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            "requirements.txt",
        ],
        cwd=deployed_source,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return python


def _clean_env() -> dict[str, str]:
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"}
    return {k: v for k, v in os.environ.items() if k in keep}


def test_main_imports_offline_without_credentials(
    deployed_source: Path, fresh_python: Path
) -> None:
    probe = (
        "import sys, main\n"
        "from celeste_functions import clients\n"
        "built = [n for n in ('firestore_client', 'redis_client', 'firebase_app')\n"
        "         if getattr(clients, n)._value is not clients._UNSET]\n"
        "assert not built, built\n"
        "assert 'redis' not in sys.modules\n"
        "import celeste; print(celeste.__file__)\n"
    )
    result = subprocess.run(
        _offline([str(fresh_python), "-c", probe]),
        cwd=deployed_source,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # The domain library came from the vendored wheel, not from the repository.
    assert "site-packages" in result.stdout


def test_function_discovery_lists_every_function(deployed_source: Path, fresh_python: Path) -> None:
    # The manifest firebase-tools asks for (GET /__/functions.yaml), produced the same way.
    probe = (
        "from firebase_functions.private import serving\n"
        "print(serving.functions_as_yaml(serving.get_functions()))\n"
    )
    result = subprocess.run(
        _offline([str(fresh_python), "-c", probe]),
        cwd=deployed_source,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for name in EXPECTED:
        assert f"{name}:" in result.stdout
    assert "cpu: 1" in result.stdout
