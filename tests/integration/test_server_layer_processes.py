"""The serving process's own errors (before any Flask code runs) are problem+json, never HTML.

Each case runs against a real ``functions-framework`` process serving ``main.py``: gunicorn (as
in production and the functions emulator) and werkzeug's development server (``--debug``).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

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


@contextmanager
def _serving(
    target: str, env: dict[str, str], *, debug: bool = False, log: IO[bytes] | None = None
) -> Iterator[int]:
    """A functions-framework process serving ``target`` of ``main.py`` with ``env``; yields its
    port (its output goes to ``log``, if given)."""
    port = _free_port()
    cmd = [
        str(Path(sys.executable).parent / "functions-framework"),
        f"--target={target}",
        "--source=main.py",
        "--host=127.0.0.1",
        f"--port={port}",
    ]
    if debug:
        cmd.append("--debug")
    out = log if log is not None else subprocess.DEVNULL
    proc = subprocess.Popen(
        cmd,
        cwd=FUNCTIONS,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=out,
        stderr=out,
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


@pytest.fixture(scope="module", params=["gunicorn", "werkzeug"])
def server(request: pytest.FixtureRequest) -> Iterator[int]:
    """A functions-framework process serving the ``openapi`` function; yields its port."""
    env = {**os.environ, "GCLOUD_PROJECT": "demo-celeste"}
    with _serving("openapi", env, debug=request.param == "werkzeug") as port:
        yield port


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


def _forged_admin_token(project: str) -> bytes:
    """An unsigned ID token claiming ``role: admin``: what firebase_admin accepts in emulator
    mode (``FIREBASE_AUTH_EMULATOR_HOST`` set)."""
    now = int(time.time())
    claims = {
        "iss": f"https://securetoken.google.com/{project}",
        "aud": project,
        "sub": "mallory",
        "user_id": "mallory",
        "iat": now - 10,
        "exp": now + 3600,
        "auth_time": now - 10,
        "role": "admin",
        "firebase": {"sign_in_provider": "password", "identities": {}},
    }

    def part(data: dict[str, object]) -> bytes:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=")

    return part({"alg": "none", "typ": "JWT"}) + b"." + part(claims) + b"."


#: Variables that would point the process at a project or at emulators (the stack's own).
_PROJECT_OR_EMULATOR = ("GCLOUD_PROJECT", "GOOGLE_CLOUD_PROJECT", "FUNCTIONS_EMULATOR")


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        (
            {"GCLOUD_PROJECT": "celeste-prod", "FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9"},
            "FIREBASE_AUTH_EMULATOR_HOST",
        ),
        ({}, "no project id"),
    ],
    ids=["emulator-host-in-a-real-project", "no-project-id"],
)
def test_a_misconfigured_process_refuses_every_request_and_logs_why(
    tmp_path: Path, setting: dict[str, str], reason: str
) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _PROJECT_OR_EMULATOR and not k.endswith(("_EMULATOR_HOST", "_EMULATOR_HUB"))
    }
    env.update(setting)
    log_path = tmp_path / "functions.log"
    token = _forged_admin_token("celeste-prod")
    with log_path.open("wb") as log, _serving("users", env, log=log) as port:
        for request in (
            _get(b"/", b"Authorization: Bearer " + token + b"\r\n"),
            _get(b"/"),
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 2\r\nConnection: close\r\n\r\n{}",
        ):
            problem = _assert_problem(_raw(port, request), 503)
            assert str(problem["type"]).endswith("/not-configured")
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    refusals = [line for line in lines if str(line.get("message", "")).startswith("refusing")]
    assert refusals, log_path.read_text()[-2000:]
    assert refusals[0]["severity"] == "ERROR" and reason in str(refusals[0]["reason"])
