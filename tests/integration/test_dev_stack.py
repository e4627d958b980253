"""The local stack's own parts, with real processes: Redis and the local Stripe started for a run
(``tools/services.py``), ``make dev``'s hold on the emulators and its data directory, and the
end of what firebase-tools leaves behind (``tools/stack.py``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tools.services import ROOT, LocalServices, local_services
from tools.stack import Exec, Ports, dev_data_args, free_port, port_open

pytestmark = pytest.mark.integration

#: The variables that name a run's services: a test here starts services of its own.
SERVICE_VARS = (
    "REDIS_URL",
    "STRIPE_API_BASE",
    "CELESTE_FUNCTIONS_URL",
    "CELESTE_REDIS_PORT",
    "CELESTE_SMTP_HOST",
    "CELESTE_SMTP_PORT",
    "CELESTE_MAILDEV_URL",
    "CELESTE_FCM_URL",
)


def _own_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in SERVICE_VARS}


def test_services_start_on_free_ports_when_none_are_named_and_stop() -> None:
    env = _own_env()
    with local_services(env) as services:
        assert env["REDIS_URL"] == f"redis://127.0.0.1:{services.redis_port}/0"
        assert env["STRIPE_API_BASE"] == f"http://127.0.0.1:{services.stripe_port}"
        assert env["CELESTE_MAILDEV_URL"] == f"http://127.0.0.1:{services.maildev_port}"
        assert env["CELESTE_FCM_URL"] == f"http://127.0.0.1:{services.fcm_port}"
        ports = [services.redis_port, services.stripe_port, services.smtp_port]
        ports += [services.maildev_port, services.fcm_port]
        assert all(port_open(port) for port in ports)
        assert services.exited() is None
    assert not any(port_open(port) for port in ports)


def test_services_start_on_the_named_ports_and_name_one_that_died() -> None:
    redis_port, stripe_port = free_port(), free_port()
    env = {
        **_own_env(),
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "STRIPE_API_BASE": f"http://127.0.0.1:{stripe_port}",
    }
    services = LocalServices(env).start()
    try:
        assert port_open(redis_port) and port_open(stripe_port)
        assert env["CELESTE_REDIS_PORT"] == str(redis_port)
        assert services.redis is not None and services.redis.proc is not None
        services.redis.proc.kill()
        services.redis.proc.wait(timeout=10)
        assert services.exited() == "redis-server"
        maildev = next(s for s in services.spawned if s.name == "maildev")
        os.killpg(maildev.proc.pid, signal.SIGKILL)
        maildev.proc.wait(timeout=10)
        services.redis = None
        assert services.exited() == "maildev"
    finally:
        services.stop()


def test_the_dev_session_holds_the_services_until_its_input_closes(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    session = subprocess.Popen(
        [sys.executable, str(ROOT / "tools/services.py"), "--ready", str(ready)],
        env=_own_env(),
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert session.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(1)
    assert session.poll() is None, "it exited while its input was still open"
    assert session.stdin is not None
    session.stdin.close()
    assert session.wait(timeout=30) == 0
    assert session.stderr is not None
    ports = [int(line.rsplit(":", 1)[1]) for line in session.stderr if "starting" in line]
    assert len(ports) == 4 and not any(port_open(p) for p in ports)  # redis, stripe, mail, fcm


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


def test_stop_lets_the_leader_export_before_its_group_is_ended(tmp_path: Path) -> None:
    # A stand-in for emulators:exec: once its command's input closes, it needs its child (the
    # emulators) alive to export; whatever it leaves in its group is ended afterwards.
    marker = tmp_path / "exported"
    leader = subprocess.Popen(
        [
            "sh",
            "-c",
            f"sleep 600 & child=$!; sleep 600 & cat >/dev/null; kill -0 $child && touch {marker}",
        ],
        stdin=subprocess.PIPE,
        start_new_session=True,
    )
    time.sleep(0.5)
    running = Exec(leader, Ports.free(), tmp_path / "log")
    assert running.stop("close", timeout_s=20) == 0
    assert marker.exists(), "the leader's child was killed before the leader could export"
    assert _alive_in_group(leader.pid) == [], "the sleeps it left behind outlived its group"


def _alive_in_group(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are not zombies (a zombie waits for its reaper)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive
