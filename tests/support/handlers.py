"""Helpers for handler unit tests: real ``flask.Request`` objects, test tokens, problem checks."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

import pytest
from flask import Request, Response
from werkzeug.test import EnvironBuilder

from celeste.kernel.errors import Unauthenticated
from celeste_functions.http import router as router_module
from celeste_functions.http.auth import Caller
from celeste_functions.http.problems import PROBLEM_BASE
from celeste_functions.http.router import Router

ADMIN = Caller(uid="admin-1", email="admin@unit.test", role="admin")
CUSTOMER = Caller(uid="customer-1", email="customer@unit.test", role="customer")
TOKENS = {"admin-token": ADMIN, "customer-token": CUSTOMER}
AS_ADMIN = {"Authorization": "Bearer admin-token"}
AS_CUSTOMER = {"Authorization": "Bearer customer-token"}
NO_BODY = object()


def use_test_tokens(monkeypatch: pytest.MonkeyPatch, tokens: Mapping[str, Caller] = TOKENS) -> None:
    """Bearer tokens from ``tokens``; any other bearer token is forged (401); no token at all
    goes through the real ``authenticate`` (which answers without reaching Firebase)."""
    real = router_module.authenticate

    def authenticate(header: str | None, *, strict: bool = False) -> Caller | None:
        scheme, _, token = (header or "").strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            caller = tokens.get(token.strip())
            if caller is None:
                raise Unauthenticated("the token is not a valid Firebase ID token")
            return caller
        return real(header, strict=strict)

    monkeypatch.setattr(router_module, "authenticate", authenticate)


def call(
    router: Router,
    method: str = "GET",
    path: str = "/",
    *,
    json_body: Any = NO_BODY,
    data: bytes | None = None,
    content_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Serve one request through ``router`` as the Functions runtime would hand it over."""
    kwargs: dict[str, Any] = {"path": path, "method": method, "headers": headers or {}}
    if json_body is not NO_BODY:
        kwargs["json"] = json_body
    if data is not None:
        kwargs["data"] = data
    if content_type is not None:
        kwargs["content_type"] = content_type
    return router(cast(Request, EnvironBuilder(**kwargs).get_request(Request)))


def body_of(response: Response) -> Any:
    """The decoded JSON body."""
    return json.loads(response.get_data(as_text=True))


def assert_problem(response: Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with ``status`` and no internals; returns its body."""
    text = response.get_data(as_text=True)
    assert response.status_code == status, text
    assert response.mimetype == "application/problem+json"
    problem: dict[str, Any] = json.loads(text)
    assert {"type", "title", "status", "detail"} <= set(problem)
    assert problem["status"] == status
    assert problem["type"].startswith(PROBLEM_BASE)
    assert isinstance(problem["title"], str) and problem["title"]
    assert isinstance(problem["detail"], str) and problem["detail"]
    assert "Traceback" not in text and 'File "' not in text
    assert response.headers.get("X-Request-Id")
    for error in problem.get("errors", []):
        assert set(error) == {"field", "message"}
    return problem


def error_fields(response: Response) -> list[str]:
    """The fields a 400 problem names, in order."""
    return [e["field"] for e in assert_problem(response, 400).get("errors", [])]
