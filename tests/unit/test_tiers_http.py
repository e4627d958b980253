"""Unit tests of the ``tiers`` function over in-memory fakes: routes, validation, set rules."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Response

from celeste.accounts.tiers import DEMO_TIERS
from celeste.services.tiers import TierService
from celeste_functions import clients, composition
from celeste_functions.adapters.cache import Cache
from celeste_functions.composition import Services
from celeste_functions.resources.tiers import router
from tests.fakes import InMemoryTiers
from tests.support.handlers import (
    AS_ADMIN,
    AS_CUSTOMER,
    NO_BODY,
    assert_problem,
    body_of,
    error_fields,
    use_test_tokens,
)
from tests.support.handlers import call as serve

DIAMOND = {"code": "DIAMOND", "name": "Diamond", "level": 5}


@pytest.fixture(autouse=True)
def repo(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemoryTiers]:
    """The tiers function on the demo tier set in memory, a cache without Redis, test tokens."""
    repository = InMemoryTiers(DEMO_TIERS)
    composition.use(
        Services(
            cache=Cache(client=lambda: None, ttl_s=60),
            tiers=TierService(repository=repository),
        )
    )
    use_test_tokens(monkeypatch)
    yield repository
    composition.services.reset()
    assert clients.firebase_app._value is clients._UNSET, "a unit test reached Firebase"


def call(method: str = "GET", path: str = "/", *, json_body: Any = NO_BODY, **kw: Any) -> Response:
    return serve(router, method, path, json_body=json_body, **kw)


def defaults() -> list[str]:
    return [t["code"] for t in body_of(call("GET", "/"))["items"] if t["is_default"]]


# --- reads -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/tiers", "/tiers/"])
def test_list_is_the_envelope_by_level(path: str) -> None:
    response = call("GET", path)
    assert response.status_code == 200 and response.headers["X-Cache"] == "miss"
    page = body_of(response)
    assert page["next_cursor"] is None
    assert [(t["code"], t["level"]) for t in page["items"]] == [
        ("BRONZE", 1),
        ("SILVER", 2),
        ("GOLD", 3),
        ("PLATINUM", 4),
    ]
    gold = page["items"][2]
    assert set(gold) == {"code", "name", "level", "is_default", "requirements", "benefits"}
    assert gold["requirements"] == {
        "min_orders": 20,
        "min_lifetime_spend": 50_000,
        "currency": "EUR",
        "min_orders_last_30_days": 2,
    }


def test_list_takes_limit_and_cursor() -> None:
    assert body_of(call("GET", "/?limit=100"))["next_cursor"] is None
    first = body_of(call("GET", "/?limit=3"))
    assert [t["code"] for t in first["items"]] == ["BRONZE", "SILVER", "GOLD"]
    rest = body_of(call("GET", f"/?limit=3&cursor={first['next_cursor']}"))
    assert ([t["code"] for t in rest["items"]], rest["next_cursor"]) == (["PLATINUM"], None)
    assert error_fields(call("GET", "/?limit=101")) == ["limit"]
    assert error_fields(call("GET", "/?limit=0")) == ["limit"]
    assert error_fields(call("GET", "/?cursor=nope")) == ["cursor"]
    assert error_fields(call("GET", "/?color=red")) == ["color"]


@pytest.mark.parametrize("prefix", ["", "/tiers"])
def test_one_tier_with_etag(repo: InMemoryTiers, prefix: str) -> None:
    response = call("GET", f"{prefix}/GOLD")
    assert response.status_code == 200
    assert body_of(response)["code"] == "GOLD"
    assert response.headers["ETag"] == f'"{repo.get("GOLD").version}"'
    assert_problem(call("GET", "/IRON"), 404)
    assert_problem(call("GET", "/gold"), 404)


@pytest.mark.parametrize("path", ["/?x=1", "/GOLD?cursor=a", "/GOLD?limit=5"])
def test_reads_take_no_unknown_query_parameters(path: str) -> None:
    assert error_fields(call("GET", path)) == [path.split("?")[1].split("=")[0]]


# --- writes ----------------------------------------------------------------------------------


def test_admin_create_is_201_with_location() -> None:
    body = {**DIAMOND, "requirements": {"min_orders": 100}, "benefits": ["Concierge"]}
    response = call("POST", "/", json_body=body, headers=AS_ADMIN)
    assert response.status_code == 201
    assert response.headers["Location"] == "tiers/DIAMOND"
    assert response.headers["ETag"]
    created = body_of(response)
    assert created["requirements"]["min_orders"] == 100 and created["is_default"] is False
    assert call("GET", "/DIAMOND").status_code == 200


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({**DIAMOND, "code": "diamond"}, ["code"]),
        ({**DIAMOND, "code": "D" * 33}, ["code"]),
        ({**DIAMOND, "level": "5"}, ["level"]),
        ({**DIAMOND, "level": 5.5}, ["level"]),
        ({**DIAMOND, "level": True}, ["level"]),
        ({**DIAMOND, "level": 1001}, ["level"]),
        ({**DIAMOND, "level": -1}, ["level"]),
        ({**DIAMOND, "is_default": "yes"}, ["is_default"]),
        ({**DIAMOND, "is_default": 1}, ["is_default"]),
        ({**DIAMOND, "name": ""}, ["name"]),
        ({**DIAMOND, "requirements": {"min_orders": "3"}}, ["requirements.min_orders"]),
        ({**DIAMOND, "requirements": {"min_orders": -1}}, ["requirements.min_orders"]),
        (
            {**DIAMOND, "requirements": {"min_lifetime_spend": 1.5}},
            ["requirements.min_lifetime_spend"],
        ),
        ({**DIAMOND, "requirements": {"min_visits": 3}}, ["requirements.min_visits"]),
        ({**DIAMOND, "benefits": ["x"] * 21}, ["benefits"]),
        ({**DIAMOND, "benefits": [""]}, ["benefits[0]"]),
        ({**DIAMOND, "discount": 10}, ["discount"]),
        ({"name": "X"}, ["code", "level"]),
    ],
)
def test_invalid_create_is_400_naming_each_field(
    repo: InMemoryTiers, body: dict[str, Any], fields: list[str]
) -> None:
    assert error_fields(call("POST", "/", json_body=body, headers=AS_ADMIN)) == fields
    assert repo.saves == 0


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({**DIAMOND, "code": "GOLD"}, 409),  # code taken
        ({**DIAMOND, "level": 3}, 409),  # level taken
    ],
)
def test_create_clashes_are_409(repo: InMemoryTiers, body: dict[str, Any], status: int) -> None:
    assert_problem(call("POST", "/", json_body=body, headers=AS_ADMIN), status)
    assert repo.saves == 0


def test_default_moves_on_patch_and_cannot_be_unset_or_deleted() -> None:
    moved = call("PATCH", "/SILVER", json_body={"is_default": True}, headers=AS_ADMIN)
    assert moved.status_code == 200 and body_of(moved)["is_default"] is True
    assert defaults() == ["SILVER"]
    assert_problem(call("PATCH", "/SILVER", json_body={"is_default": False}, headers=AS_ADMIN), 409)
    assert_problem(call("DELETE", "/SILVER", headers=AS_ADMIN), 409)
    assert defaults() == ["SILVER"]
    assert call("DELETE", "/BRONZE", headers=AS_ADMIN).status_code == 204


def test_creating_a_default_tier_moves_the_default() -> None:
    response = call("POST", "/", json_body={**DIAMOND, "is_default": True}, headers=AS_ADMIN)
    assert response.status_code == 201
    assert defaults() == ["DIAMOND"]


def test_patch_level_clash_is_409_and_merge_keeps_other_requirements() -> None:
    assert_problem(call("PATCH", "/GOLD", json_body={"level": 4}, headers=AS_ADMIN), 409)
    ok = call("PATCH", "/GOLD", json_body={"requirements": {"min_orders": 21}}, headers=AS_ADMIN)
    assert body_of(ok)["requirements"] == {
        "min_orders": 21,
        "min_lifetime_spend": 50_000,
        "currency": "EUR",
        "min_orders_last_30_days": 2,
    }


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"code": "IRON"}, ["code"]),
        ({"name": None}, ["name"]),
        ({"level": None}, ["level"]),
        ({"is_default": None}, ["is_default"]),
        ({"level": "2"}, ["level"]),
        ({"requirements": {"min_orders": None}}, ["requirements.min_orders"]),
        ({"benefits": "free shipping"}, ["benefits"]),
    ],
)
def test_invalid_patch_is_400_naming_each_field(body: dict[str, Any], fields: list[str]) -> None:
    assert error_fields(call("PATCH", "/GOLD", json_body=body, headers=AS_ADMIN)) == fields


def test_patch_and_delete_honour_if_match() -> None:
    etag = call("GET", "/GOLD").headers["ETag"]
    ok = call("PATCH", "/GOLD", json_body={"name": "Or"}, headers={**AS_ADMIN, "If-Match": etag})
    assert ok.status_code == 200 and ok.headers["ETag"] != etag
    stale = {**AS_ADMIN, "If-Match": etag}
    assert_problem(call("PATCH", "/GOLD", json_body={"name": "X"}, headers=stale), 412)
    assert_problem(call("DELETE", "/GOLD", headers=stale), 412)
    fresh = {**AS_ADMIN, "If-Match": ok.headers["ETag"]}
    assert call("DELETE", "/GOLD", headers=fresh).status_code == 204
    assert_problem(call("GET", "/GOLD"), 404)


def test_delete_while_a_user_holds_the_tier_is_409(repo: InMemoryTiers) -> None:
    repo.holders["customer-1"] = "PLATINUM"
    problem = assert_problem(call("DELETE", "/PLATINUM", headers=AS_ADMIN), 409)
    assert "hold" in problem["detail"]
    repo.holders.clear()
    assert call("DELETE", "/PLATINUM", headers=AS_ADMIN).status_code == 204


def test_unknown_tier_writes_are_404() -> None:
    assert_problem(call("PATCH", "/IRON", json_body={"name": "Iron"}, headers=AS_ADMIN), 404)
    assert_problem(call("DELETE", "/IRON", headers=AS_ADMIN), 404)


WRITES = [("POST", "/", DIAMOND), ("PATCH", "/GOLD", {"name": "X"}), ("DELETE", "/GOLD", None)]


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
@pytest.mark.parametrize(("headers", "status"), [({}, 401), (AS_CUSTOMER, 403)])
def test_writes_are_for_admins(
    repo: InMemoryTiers,
    method: str,
    path: str,
    body: Any,
    headers: dict[str, str],
    status: int,
) -> None:
    kwargs = {} if body is None else {"json_body": body}
    assert_problem(call(method, path, headers=headers, **kwargs), status)
    assert repo.saves == 0


def test_wrong_method_is_405() -> None:
    response = call("PUT", "/GOLD", json_body={}, headers=AS_ADMIN)
    assert_problem(response, 405)
    assert response.headers["Allow"] == "DELETE, GET, HEAD, PATCH"
    assert call("DELETE", "/", headers=AS_ADMIN).headers["Allow"] == "GET, HEAD, POST"
