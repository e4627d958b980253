"""The tiers function through the functions emulator, with Auth-emulator tokens."""

from __future__ import annotations

from typing import Any

import pytest
from google.cloud import firestore

from celeste.accounts.tiers import DEMO_TIERS
from tests.e2e.conftest import Api, problem
from tests.support.emulators import PROJECT, eventually
from tools.devauth import SignedIn

pytestmark = pytest.mark.e2e


@pytest.fixture
def ladder(api: Api, admin: SignedIn) -> list[dict[str, Any]]:
    """The demo tiers, created through the API (the default first)."""
    created = []
    for tier in DEMO_TIERS:
        response = api.request("POST", "tiers", user=admin, json=tier.model_dump(mode="json"))
        assert response.status_code == 201, response.text
        assert response.headers["Location"] == f"tiers/{tier.code}"
        created.append(response.json())
    return created


def _defaults(api: Api) -> list[str]:
    return [t["code"] for t in api.request("GET", "tiers").json()["items"] if t["is_default"]]


def test_public_reads_by_level(api: Api, ladder: list[dict[str, Any]]) -> None:
    listed = api.request("GET", "tiers")
    assert listed.status_code == 200
    body = listed.json()
    assert body["next_cursor"] is None
    assert [(t["code"], t["level"]) for t in body["items"]] == [
        ("BRONZE", 1),
        ("SILVER", 2),
        ("GOLD", 3),
        ("PLATINUM", 4),
    ]
    assert body["items"] == ladder
    for path in ("/GOLD", "/tiers/GOLD"):
        one = api.request("GET", "tiers", path)
        assert one.status_code == 200 and one.json()["requirements"]["min_orders"] == 20
        assert one.headers["ETag"]
    problem(api.request("GET", "tiers", "/IRON"), 404)


def test_the_first_tier_must_be_the_default(api: Api, admin: SignedIn) -> None:
    body = {"code": "SILVER", "name": "Silver", "level": 2}
    problem(api.request("POST", "tiers", user=admin, json=body), 409)
    assert api.request("GET", "tiers").json()["items"] == []


def test_default_tier_rules(api: Api, admin: SignedIn, ladder: list[dict[str, Any]]) -> None:
    # Unsetting the only default, or deleting it, is refused; moving it is one write.
    problem(api.request("PATCH", "tiers", "/BRONZE", user=admin, json={"is_default": False}), 409)
    problem(api.request("DELETE", "tiers", "/BRONZE", user=admin), 409)
    moved = api.request("PATCH", "tiers", "/GOLD", user=admin, json={"is_default": True})
    assert moved.status_code == 200 and moved.json()["is_default"] is True
    assert _defaults(api) == ["GOLD"]
    assert api.request("GET", "tiers", "/BRONZE").json()["is_default"] is False
    # A level another tier holds is a conflict; nothing changes.
    problem(api.request("PATCH", "tiers", "/SILVER", user=admin, json={"level": 3}), 409)
    clash = {"code": "IRON", "name": "Iron", "level": 4}
    problem(api.request("POST", "tiers", user=admin, json=clash), 409)
    problem(api.request("POST", "tiers", user=admin, json={**clash, "code": "GOLD"}), 409)
    assert [t["level"] for t in api.request("GET", "tiers").json()["items"]] == [1, 2, 3, 4]
    # The old default is an ordinary tier now and may go.
    assert api.request("DELETE", "tiers", "/BRONZE", user=admin).status_code == 204
    assert [t["code"] for t in api.request("GET", "tiers").json()["items"]] == [
        "SILVER",
        "GOLD",
        "PLATINUM",
    ]


def test_a_held_tier_cannot_be_deleted(
    api: Api, admin: SignedIn, ladder: list[dict[str, Any]]
) -> None:
    users = firestore.Client(project=PROJECT).collection("users")
    users.document("holder").set({"tier": "SILVER", "role": "customer"})
    body = problem(api.request("DELETE", "tiers", "/SILVER", user=admin), 409)
    assert "hold" in str(body["detail"])
    users.document("holder").update({"tier": "GOLD"})
    assert api.request("DELETE", "tiers", "/SILVER", user=admin).status_code == 204


def test_bad_input_is_400_and_writes_nothing(
    api: Api, admin: SignedIn, ladder: list[dict[str, Any]]
) -> None:
    bad = {"code": "iron", "name": "", "level": "5", "requirements": {"min_orders": -1}}
    body = problem(api.request("POST", "tiers", user=admin, json=bad), 400)
    fields = {e["field"] for e in body["errors"]}  # type: ignore[union-attr]
    assert fields == {"code", "name", "level", "requirements.min_orders"}
    problem(api.request("PATCH", "tiers", "/GOLD", user=admin, json={"code": "OR"}), 400)
    problem(api.request("GET", "tiers", "?limit=500"), 400)
    assert len(api.request("GET", "tiers").json()["items"]) == 4


def test_writes_are_for_admins(api: Api, customer: SignedIn, ladder: list[dict[str, Any]]) -> None:
    body = {"code": "IRON", "name": "Iron", "level": 9}
    problem(api.request("POST", "tiers", json=body), 401)
    problem(api.request("POST", "tiers", user=customer, json=body), 403)
    problem(api.request("PATCH", "tiers", "/GOLD", json={"name": "X"}), 401)
    problem(api.request("PATCH", "tiers", "/GOLD", user=customer, json={"name": "X"}), 403)
    problem(api.request("DELETE", "tiers", "/GOLD"), 401)
    problem(api.request("DELETE", "tiers", "/GOLD", user=customer), 403)
    assert api.request("GET", "tiers", "/GOLD").json()["name"] == "Gold"


def test_if_match(api: Api, admin: SignedIn, ladder: list[dict[str, Any]]) -> None:
    etag = api.request("GET", "tiers", "/GOLD").headers["ETag"]
    ok = api.request(
        "PATCH", "tiers", "/GOLD", user=admin, json={"name": "Or"}, headers={"If-Match": etag}
    )
    assert ok.status_code == 200
    stale = {"If-Match": etag}
    problem(
        api.request("PATCH", "tiers", "/GOLD", user=admin, json={"name": "X"}, headers=stale), 412
    )
    problem(api.request("DELETE", "tiers", "/GOLD", user=admin, headers=stale), 412)
    fresh = {"If-Match": ok.headers["ETag"]}
    assert api.request("DELETE", "tiers", "/GOLD", user=admin, headers=fresh).status_code == 204


def test_cache_hits_and_edits_are_visible_at_once(
    api: Api, admin: SignedIn, ladder: list[dict[str, Any]]
) -> None:
    for path in ("", "/GOLD"):
        eventually(
            lambda path=path: api.request("GET", "tiers", path).headers["X-Cache"] == "hit",
            what=f"a cache hit on {path or '/'}",
        )
    changed = api.request(
        "PATCH", "tiers", "/GOLD", user=admin, json={"requirements": {"min_orders": 25}}
    )
    assert changed.status_code == 200
    for _ in range(3):
        one = api.request("GET", "tiers", "/GOLD").json()
        assert one["requirements"] == {
            "min_orders": 25,
            "min_lifetime_spend": 50_000,
            "currency": "EUR",
            "min_orders_last_30_days": 2,
        }
        listed = api.request("GET", "tiers").json()["items"]
        assert listed[2]["requirements"]["min_orders"] == 25


def test_trigger_invalidates_writes_made_outside_the_api(
    api: Api, ladder: list[dict[str, Any]]
) -> None:
    eventually(
        lambda: api.request("GET", "tiers", "/GOLD").headers["X-Cache"] == "hit",
        what="a cache hit",
    )
    tiers = firestore.Client(project=PROJECT).collection("tiers")
    tiers.document("GOLD").update({"name": "Gold (console)"})
    eventually(
        lambda: api.request("GET", "tiers", "/GOLD").json()["name"] == "Gold (console)",
        what="trigger invalidation",
    )
