"""The serving process's own errors (before any Flask code runs) are problem+json, never HTML.

Each case runs against a real ``functions-framework`` process serving ``main.py``: gunicorn (as
in production and the functions emulator) and werkzeug's development server (``--debug``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` bytes as they are; the status, headers and body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


@pytest.fixture(scope="module", params=["gunicorn", "werkzeug"])
def server(request: pytest.FixtureRequest) -> Iterator[int]:
    """A functions-framework process serving the ``openapi`` function; yields its port."""
    port = _free_port()
    cmd = [
        str(Path(sys.executable).parent / "functions-framework"),
        "--target=openapi",
        "--source=main.py",
        "--host=127.0.0.1",
        f"--port={port}",
    ]
    if request.param == "werkzeug":
        cmd.append("--debug")
    env = {**os.environ, "GCLOUD_PROJECT": "demo-celeste", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        cmd,
        cwd=FUNCTIONS,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, "functions-framework exited"
                assert time.monotonic() < deadline, "functions-framework did not start"
                time.sleep(0.2)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def _assert_problem(answer: tuple[int, dict[str, str], bytes], status: int) -> dict[str, object]:
    got, headers, body = answer
    assert got == status, (got, body[:300])
    assert headers["content-type"] == "application/problem+json", headers
    assert b"<html" not in body.lower()
    problem = json.loads(body)
    assert problem["status"] == status and problem["title"] and problem["detail"]
    assert str(problem["type"]).startswith("https://celeste.dev/problems/")
    return problem


def _get(path: bytes, *headers: bytes) -> bytes:
    return (
        b"GET "
        + path
        + b" HTTP/1.1\r\nHost: x\r\n"
        + b"".join(headers)
        + b"Connection: close\r\n\r\n"
    )


def test_a_normal_request_still_reaches_the_function(server: int) -> None:
    status, headers, body = _raw(server, _get(b"/"))
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert json.loads(body)["openapi"].startswith("3.1")


def test_an_oversized_header_is_a_431_problem(server: int) -> None:
    # Over gunicorn's 8190-byte header line and werkzeug's 65536-byte one.
    big = b"X-Big: " + b"a" * 70_000 + b"\r\n"
    _assert_problem(_raw(server, _get(b"/", big)), 431)


def test_too_many_headers_is_a_431_problem(server: int) -> None:
    many = [b"X-H%d: 1\r\n" % i for i in range(120)]
    _assert_problem(_raw(server, _get(b"/", *many)), 431)


def test_invalid_utf8_in_the_path_is_never_html(server: int) -> None:
    status, headers, body = _raw(server, _get(b"/\xff\xfe"))
    # gunicorn refuses the request line (400); werkzeug passes it on and the router answers 404.
    assert status in (400, 404), (status, body[:300])
    _assert_problem((status, headers, body), status)


def test_a_malformed_header_is_never_html(server: int) -> None:
    status, headers, body = _raw(server, _get(b"/", b"X-Bad\x01: y\r\n"))
    if status < 400:  # werkzeug's server lets odd header names through to the function
        assert status == 200
        return
    _assert_problem((status, headers, body), 400)
