"""A loopback fake of FCM's HTTP v1 ``messages:send`` (no FCM emulator exists), so push is
tested end to end and ``make dev`` shows what would have been pushed.

- ``POST /v1/projects/{project}/messages:send`` records the JSON body and answers
  ``{"name": "projects/{project}/messages/{n}"}``; a ``message.token`` starting with
  ``unregistered-`` gets FCM's 404 ``UNREGISTERED`` error instead (recorded too), as FCM answers
  for a token whose app was uninstalled.
- ``GET /messages``: ``{"messages": [body, ...]}`` in the order received (each with
  ``project`` and ``accepted``); ``DELETE /messages`` forgets them.

Standard library only.

    python3 tools/fake_fcm.py --port 8426
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_SEND = re.compile(r"^/v1/projects/([^/]+)/messages:send$")
#: Tokens this fake treats as no longer registered.
UNREGISTERED_PREFIX = "unregistered-"


def unregistered_error() -> dict[str, Any]:
    """FCM's answer for a dead registration token (HTTP 404)."""
    return {
        "error": {
            "code": 404,
            "message": "Requested entity was not found.",
            "status": "NOT_FOUND",
            "details": [
                {
                    "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                    "errorCode": "UNREGISTERED",
                }
            ],
        }
    }


def invalid_argument(message: str) -> dict[str, Any]:
    """FCM's answer for a request it cannot read (HTTP 400)."""
    return {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}


class FakeFcm(ThreadingHTTPServer):
    """The server and what it received."""

    daemon_threads = True

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.lock = threading.Lock()
        self.messages: list[dict[str, Any]] = []
        self.sent = 0


class _Handler(BaseHTTPRequestHandler):
    server: FakeFcm

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the log is /messages
        pass

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_POST(self) -> None:
        match = _SEND.match(self.path)
        if not match:
            self._reply(404, {"error": {"code": 404, "message": "no such method"}})
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"null")
            token = body["message"]["token"]
            if not isinstance(token, str):
                raise TypeError("token")
        except (ValueError, KeyError, TypeError):
            self._reply(400, invalid_argument("Invalid JSON payload received."))
            return
        accepted = not token.startswith(UNREGISTERED_PREFIX)
        project = match.group(1)
        with self.server.lock:
            self.server.messages.append({**body, "project": project, "accepted": accepted})
            if accepted:
                self.server.sent += 1
                name = f"projects/{project}/messages/{self.server.sent}"
        if accepted:
            self._reply(200, {"name": name})
        else:
            self._reply(404, unregistered_error())

    def do_GET(self) -> None:
        if self.path.split("?")[0] != "/messages":
            self._reply(404, {"error": {"code": 404, "message": "GET /messages only"}})
            return
        with self.server.lock:
            messages = list(self.server.messages)
        self._reply(200, {"messages": messages})

    def do_DELETE(self) -> None:
        if self.path.split("?")[0] != "/messages":
            self._reply(404, {"error": {"code": 404, "message": "DELETE /messages only"}})
            return
        with self.server.lock:
            self.server.messages.clear()
        self._reply(200, {"messages": []})


def main(argv: list[str]) -> int:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8426)
    args = parser.parse_args(argv)
    server = FakeFcm(args.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
