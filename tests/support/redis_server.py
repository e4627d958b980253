"""A real redis-server on a loopback port (a free one unless given), started and stopped by a
test or by a test session (``tools/services.py``)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """``redis-server`` (from ``CELESTE_REDIS_SERVER`` or PATH) that a test can stop and restart."""

    def __init__(
        self, *, persist_dir: Path | None = None, port: int = 0, args: tuple[str, ...] = ()
    ) -> None:
        #: With a directory, the server keeps ``dump.rdb`` there (``save()``) and a restart loads
        #: it back, as a Redis with persistence does after a crash.
        self.persist_dir = persist_dir
        self.binary = os.environ.get("CELESTE_REDIS_SERVER") or shutil.which("redis-server")
        if not self.binary:
            raise RuntimeError("redis-server not found: run `make setup` (it installs it)")
        self.port = port or _free_port()
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://`` URL of this server."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start (or restart) on the same port and wait until it answers PING."""
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                *(["--dir", str(self.persist_dir)] if self.persist_dir else []),
                *self.args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.05)

    def freeze(self) -> None:
        """``SIGSTOP`` the server: connections stay open, nothing is answered."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """``SIGCONT`` a frozen server."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def save(self) -> None:
        """Write the dataset to ``persist_dir`` now (what a restart will load)."""
        assert self.persist_dir is not None
        redis.Redis(port=self.port, socket_timeout=5).save()

    def stop(self) -> None:
        """Kill the server (as a crash would) and wait for it to be gone."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)  # a frozen server cannot die of SIGKILL later
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None
