"""A webhook receiver for tests: ``http.server`` on a free loopback port, in a thread. It checks
each request's signature against the secret it is told, answers 2xx unless told to fail, and
keeps every request it got (in arrival order)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from celeste.webhooks.signing import verify


@dataclass(frozen=True)
class Received:
    """One request: its headers, raw body, parsed event, whether the signature verified and
    the status answered."""

    headers: dict[str, str]
    body: bytes
    event: dict[str, Any]
    verified: bool
    status: int


class Receiver:
    """Answers 204 to a verified request, 401 to one that does not verify, 500 while
    ``fail_first`` is above zero or ``fail_when(event)`` says so."""

    def __init__(self) -> None:
        self.secret = ""
        self.fail_first = 0
        self.fail_when: Callable[[dict[str, Any]], bool] = lambda event: False
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status = receiver._answer(dict(self.headers.items()), body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/hook"

    def _answer(self, headers: dict[str, str], body: bytes) -> int:
        signature = headers.get("Celeste-Signature", "")
        with self._lock:
            verified = verify(self.secret, signature, body, now=int(time.time()))
            event = json.loads(body) if body else {}
            if not verified:
                status = 401
            elif self.fail_first > 0:
                self.fail_first -= 1
                status = 500
            elif self.fail_when(event):
                status = 500
            else:
                status = 204
            self.received.append(Received(headers, body, event, verified, status))
        return status

    def acknowledged(self) -> list[dict[str, Any]]:
        """The events answered with a 2xx, in arrival order."""
        with self._lock:
            return [r.event for r in self.received if 200 <= r.status < 300]

    def summary(self) -> list[tuple[str, str, int]]:
        """(event id, type, status) of every request so far."""
        with self._lock:
            return [
                (r.event.get("id", ""), r.event.get("type", ""), r.status) for r in self.received
            ]


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    """A receiver serving until the block ends."""
    receiver = Receiver()
    thread = threading.Thread(target=receiver._server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver._server.shutdown()
        receiver._server.server_close()
