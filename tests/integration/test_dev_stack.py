"""``make dev``'s supervision and data persistence, with real processes (redis-server, the
emulators' export directory layout)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import require_env
from tools.stack import Ports, Stack, Supervisor, Toolchain, dev_data_args, free_port, port_open

pytestmark = pytest.mark.integration


def _stack() -> Stack:
    server = require_env("CELESTE_REDIS_SERVER")["CELESTE_REDIS_SERVER"]
    toolchain = Toolchain(java_bin=Path("/nonexistent"), launcher=None, redis_server=server)
    return Stack(toolchain, Ports(redis=free_port()))


def _kill(stack: Stack, name: str) -> int:
    proc = next(p for n, p in stack.procs if n == name)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    return proc.pid


def _other_service(stack: Stack, tmp_path: Path) -> subprocess.Popen[bytes]:
    stack._spawn("other", ["sleep", "600"], tmp_path / "other.log", dict(os.environ))
    return stack.procs[-1][1]


def test_a_dead_service_is_restarted_and_the_rest_keep_running(tmp_path: Path) -> None:
    stack = _stack()
    try:
        stack.start_redis()
        other = _other_service(stack, tmp_path)
        supervisor = Supervisor(stack, restart={"redis": stack.start_redis})
        old_pid = _kill(stack, "redis")
        assert supervisor.check() == ["redis"]
        assert port_open(stack.ports.redis)
        assert {n for n, _ in stack.procs} == {"redis", "other"}
        assert next(p for n, p in stack.procs if n == "redis").pid != old_pid
        assert other.poll() is None and not supervisor.given_up
        assert supervisor.check() == []  # all well: nothing to do
    finally:
        stack.stop()


def test_a_service_that_keeps_dying_is_left_stopped_and_named(tmp_path: Path) -> None:
    stack = _stack()
    try:
        stack.start_redis()
        other = _other_service(stack, tmp_path)
        supervisor = Supervisor(stack, restart={"redis": stack.start_redis}, max_restarts=2)
        for _ in range(2):
            _kill(stack, "redis")
            supervisor.check()
            assert port_open(stack.ports.redis)
        _kill(stack, "redis")
        assert supervisor.check() == ["redis"]
        assert supervisor.given_up == {"redis"}
        assert [n for n, _ in stack.procs] == ["other"] and other.poll() is None
        # A service with no way to restart it is named and left alone as well.
        os.killpg(other.pid, signal.SIGKILL)
        other.wait(timeout=10)
        assert supervisor.check() == ["other"] and supervisor.given_up == {"redis", "other"}
        assert stack.procs == []
    finally:
        stack.stop()


def test_dev_data_is_imported_when_an_export_exists_and_cleared_on_request(
    tmp_path: Path,
) -> None:
    data = tmp_path / "dev-data"
    assert dev_data_args(clean=False, data_dir=data) == ["--export-on-exit", str(data)]
    data.mkdir()
    (data / "firebase-export-metadata.json").write_text("{}")
    assert dev_data_args(clean=False, data_dir=data) == [
        "--import",
        str(data),
        "--export-on-exit",
        str(data),
    ]
    assert dev_data_args(clean=True, data_dir=data) == ["--export-on-exit", str(data)]
    assert not data.exists()


def test_stop_lets_the_emulators_leader_export_before_its_group_is_ended(tmp_path: Path) -> None:
    # A stand-in leader that, like firebase-tools, needs its child alive while it handles SIGINT.
    script = tmp_path / "leader.sh"
    marker = tmp_path / "exported"
    script.write_text(
        "#!/bin/sh\n"
        "sleep 600 & child=$!\n"
        f"trap 'kill -0 $child && touch {marker}; kill $child; exit 0' INT\n"
        "wait\n"
    )
    script.chmod(0o755)
    stack = _stack()
    stack._spawn("emulators", [str(script)], tmp_path / "leader.log", dict(os.environ))
    time.sleep(0.5)  # let the shell install its trap
    stack.stop()
    assert marker.exists(), "the leader's child was killed before the leader could export"
