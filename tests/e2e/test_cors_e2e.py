"""CORS through the functions emulator: a preflight on every HTTPS function, from the storefront's
origin (granted) and from another origin (no grant)."""

from __future__ import annotations

import os

import pytest

from tests.e2e.conftest import Api
from tests.support.functions import HTTP_FUNCTIONS

OTHER_ORIGIN = "https://elsewhere.example"


def storefront_origin() -> str:
    """The origin the stack serves the storefront from (``make dev``: the demo default)."""
    return os.environ.get("CELESTE_STOREFRONT_URL", "http://127.0.0.1:5000").rstrip("/")


def preflight(api: Api, function: str, origin: str) -> dict[str, str]:
    response = api.request(
        "OPTIONS",
        function,
        "/some/sub/path",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
        },
    )
    assert response.status_code == 204, (function, response.status_code, response.text[:300])
    return {k.lower(): v for k, v in response.headers.items()}


@pytest.mark.parametrize("function", HTTP_FUNCTIONS)
def test_a_preflight_from_the_storefront_is_granted(api: Api, function: str) -> None:
    origin = storefront_origin()
    headers = preflight(api, function, origin)
    assert headers["access-control-allow-origin"] == origin
    assert "POST" in headers["access-control-allow-methods"]
    allowed = headers["access-control-allow-headers"].lower()
    for name in ("authorization", "content-type", "idempotency-key", "if-match", "prefer"):
        assert name in allowed


@pytest.mark.parametrize("function", HTTP_FUNCTIONS)
def test_a_preflight_from_another_origin_gets_no_grant(api: Api, function: str) -> None:
    headers = preflight(api, function, OTHER_ORIGIN)
    assert "access-control-allow-origin" not in headers


def test_a_cross_origin_read_exposes_the_headers_apps_need(api: Api) -> None:
    origin = storefront_origin()
    response = api.request("GET", "tiers", headers={"Origin": origin})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == origin
    exposed = response.headers["Access-Control-Expose-Headers"]
    for name in ("ETag", "Location", "X-Request-Id", "X-Cache", "Retry-After"):
        assert name in exposed
    other = api.request("GET", "tiers", headers={"Origin": OTHER_ORIGIN})
    assert other.status_code == 200
    assert "Access-Control-Allow-Origin" not in other.headers
