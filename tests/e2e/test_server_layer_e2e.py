"""The server layer through the functions emulator: what the Python process answers by itself
(a header over gunicorn's limit) is problem+json; what the emulator's Node front end answers
before any function runs is never an HTML page either."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest

from tests.conftest import require_env

pytestmark = pytest.mark.e2e


def _raw(request: bytes) -> bytes:
    base = urlsplit(require_env("CELESTE_FUNCTIONS_URL")["CELESTE_FUNCTIONS_URL"])
    with socket.create_connection((base.hostname, base.port), timeout=120) as sock:
        sock.sendall(request)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    return data


def _get(header: bytes) -> bytes:
    path = urlsplit(require_env("CELESTE_FUNCTIONS_URL")["CELESTE_FUNCTIONS_URL"]).path
    return (
        f"GET {path}/openapi HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
        + header
        + b"Connection: close\r\n\r\n"
    )


def test_a_header_over_gunicorns_limit_is_a_431_problem_through_the_emulator() -> None:
    answer = _raw(_get(b"X-Big: " + b"a" * 9_000 + b"\r\n"))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].split()[1] == b"431", answer[:300]
    assert b"content-type: application/problem+json" in head.lower(), head
    assert json.loads(body)["status"] == 431


def test_what_the_node_front_end_answers_itself_is_never_html() -> None:
    for header in (b"X-Huge: " + b"a" * 20_000 + b"\r\n", b"X-Bad\x01: y\r\n"):
        answer = _raw(_get(header))
        assert b"<html" not in answer.lower(), answer[:300]
