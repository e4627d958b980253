"""Unit tests of the CORS policy: configured origins, preflight answers and exposed headers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from celeste.kernel.errors import Conflict
from celeste_functions import config
from celeste_functions.config import Settings
from celeste_functions.http.cors import (
    DEMO_ORIGINS,
    EXPOSED_HEADERS,
    CorsPolicy,
)
from celeste_functions.http.router import Reply, RequestContext, Router
from tests.support.handlers import assert_problem, call

STOREFRONT = "http://127.0.0.1:5000"
ELSEWHERE = "https://evil.example"


def _router() -> Router:
    router = Router("widgets")

    @router.get("/")
    def listing(ctx: RequestContext) -> Reply:
        return Reply({"items": []}, headers={"ETag": '"v1"', "X-Cache": "miss"})

    @router.post("/")
    def create(ctx: RequestContext) -> Reply:
        raise Conflict("that widget exists")

    return router


@pytest.fixture
def origins(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Settings re-read from the environment for each test (and again afterwards)."""
    monkeypatch.delenv("CELESTE_CORS_ORIGINS", raising=False)
    monkeypatch.setenv("GCLOUD_PROJECT", "demo-celeste")
    config.settings.cache_clear()
    yield monkeypatch
    config.settings.cache_clear()


def preflight(origin: str, method: str = "PUT", path: str = "/") -> dict[str, str]:
    """Headers of a browser-style preflight answer (asserted 204, empty)."""
    response = call(
        _router(),
        "OPTIONS",
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
        },
    )
    assert response.status_code == 204
    assert response.get_data() == b""
    assert "Content-Type" not in response.headers
    return dict(response.headers)


@pytest.mark.parametrize(
    ("setting", "project", "expected"),
    [
        (None, "demo-celeste", set(DEMO_ORIGINS)),
        (None, "celeste-prod", set()),
        ("", "demo-celeste", set()),
        ("https://shop.example.com", "celeste-prod", {"https://shop.example.com"}),
        (
            " https://Shop.Example.com/ , http://localhost:3000,,",
            "celeste-prod",
            {"https://shop.example.com", "http://localhost:3000"},
        ),
        ("*", "celeste-prod", {"*"}),
        ("http://[::1]:5000", "demo-x", {"http://[::1]:5000"}),
    ],
)
def test_origins_come_from_the_setting_or_the_demo_default(
    setting: str | None, project: str, expected: set[str]
) -> None:
    assert CorsPolicy.from_setting(setting, project_id=project).origins == expected


@pytest.mark.parametrize(
    "bad", ["shop.example.com", "ftp://shop.example.com", "https://shop.example.com/path", "*.x"]
)
def test_an_entry_that_is_not_an_origin_is_refused_by_name(bad: str) -> None:
    with pytest.raises(ValueError, match="CELESTE_CORS_ORIGINS") as raised:
        Settings.from_env(
            {"GCLOUD_PROJECT": "demo-celeste", "CELESTE_CORS_ORIGINS": f"http://ok.example,{bad}"}
        )
    assert bad in str(raised.value)


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (STOREFRONT, True),
        ("http://localhost:5000", True),
        ("HTTP://LOCALHOST:5000", True),
        ("http://127.0.0.1:5001", False),
        ("https://127.0.0.1:5000", False),
        ("http://127.0.0.1:5000.evil.example", False),
        ("null", False),
        ("", False),
        (None, False),
    ],
)
def test_only_configured_origins_are_allowed(origin: str | None, allowed: bool) -> None:
    policy = CorsPolicy.from_setting(None, project_id="demo-celeste")
    assert policy.allows(origin) is allowed


@given(st.text(max_size=40))
def test_no_origin_is_allowed_when_none_is_configured(origin: str) -> None:
    assert not CorsPolicy.from_setting("", project_id="demo-celeste").allows(origin)


def test_a_preflight_from_the_storefront_gets_every_grant(origins: pytest.MonkeyPatch) -> None:
    headers = preflight(STOREFRONT)
    assert headers["Access-Control-Allow-Origin"] == STOREFRONT
    methods = {m.strip() for m in headers["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "POST", "PUT", "PATCH", "DELETE"} <= methods
    allowed = {h.strip().lower() for h in headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key", "if-match", "prefer"} <= allowed
    assert int(headers["Access-Control-Max-Age"]) > 0
    assert "Origin" in headers["Vary"]


def test_a_preflight_is_answered_on_any_path_without_running_a_handler(
    origins: pytest.MonkeyPatch,
) -> None:
    headers = preflight(STOREFRONT, "DELETE", "/widgets/no-such/deep/path")
    assert headers["Access-Control-Allow-Origin"] == STOREFRONT


def test_a_preflight_from_another_origin_gets_no_grant(origins: pytest.MonkeyPatch) -> None:
    headers = preflight(ELSEWHERE)
    assert not any(name.lower().startswith("access-control-") for name in headers)
    assert "Origin" in headers["Vary"]


def test_configured_origins_replace_the_demo_default(origins: pytest.MonkeyPatch) -> None:
    origins.setenv("CELESTE_CORS_ORIGINS", "https://shop.example.com")
    config.settings.cache_clear()
    assert preflight("https://shop.example.com")["Access-Control-Allow-Origin"]
    assert "Access-Control-Allow-Origin" not in preflight(STOREFRONT)


def test_a_star_allows_any_origin_by_echoing_it(origins: pytest.MonkeyPatch) -> None:
    origins.setenv("CELESTE_CORS_ORIGINS", "*")
    config.settings.cache_clear()
    assert preflight(ELSEWHERE)["Access-Control-Allow-Origin"] == ELSEWHERE


def test_responses_expose_the_headers_apps_read(origins: pytest.MonkeyPatch) -> None:
    response = call(_router(), "GET", "/", headers={"Origin": STOREFRONT})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == STOREFRONT
    exposed = {h.strip() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert exposed == set(EXPOSED_HEADERS)
    assert {"ETag", "Location", "X-Request-Id", "X-Cache", "Retry-After"} <= exposed
    assert "Origin" in response.headers["Vary"]


def test_problems_carry_the_grant_so_the_app_can_read_their_detail(
    origins: pytest.MonkeyPatch,
) -> None:
    response = call(_router(), "POST", "/", json_body={}, headers={"Origin": STOREFRONT})
    assert assert_problem(response, 409)["detail"] == "that widget exists"
    assert response.headers["Access-Control-Allow-Origin"] == STOREFRONT


def test_responses_to_another_origin_carry_no_grant(origins: pytest.MonkeyPatch) -> None:
    response = call(_router(), "GET", "/", headers={"Origin": ELSEWHERE})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Expose-Headers" not in response.headers


def test_an_options_call_that_is_not_a_preflight_is_routed(origins: pytest.MonkeyPatch) -> None:
    response = call(_router(), "OPTIONS", "/", headers={"Origin": STOREFRONT})
    assert_problem(response, 405)
    assert response.headers["Access-Control-Allow-Origin"] == STOREFRONT
