"""The stores function through the functions emulator, with Auth-emulator tokens."""

from __future__ import annotations

from typing import Any

import pytest
from google.cloud import firestore

from tests.e2e.conftest import Api, problem
from tests.support.emulators import PROJECT, eventually
from tools.devauth import SignedIn

pytestmark = pytest.mark.e2e

LISBON = "38.7223,-9.1393"
ADDRESS = {"line1": "Rua Augusta 1", "city": "Lisboa", "postal_code": "1100-048", "country": "PT"}
STORES = {  # name -> (lat, lng)
    "Lisboa Baixa": (38.7104, -9.1366),
    "Lisboa Alvalade": (38.7530, -9.1440),
    "Porto Bolhão": (41.1496, -8.6057),
    "Madrid Sol": (40.4168, -3.7038),
}


def _create(api: Api, admin: SignedIn, name: str, **fields: Any) -> dict[str, Any]:
    lat, lng = STORES[name]
    body = {"name": name, "address": ADDRESS, "location": {"lat": lat, "lng": lng}, **fields}
    response = api.request("POST", "stores", user=admin, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    assert response.headers["Location"] == f"stores/{created['id']}"
    assert response.headers["ETag"]
    return created


def _near(api: Api, query: str, **kw: Any) -> list[tuple[str, float]]:
    response = api.request("GET", "stores", f"?{query}", **kw)
    assert response.status_code == 200, response.text
    return [(s["name"], s["distance_km"]) for s in response.json()["items"]]


def test_near_search_orders_by_distance_and_filters_by_radius(api: Api, admin: SignedIn) -> None:
    for name in STORES:
        _create(api, admin, name)
    found = _near(api, f"near={LISBON}&radius_km=600")
    assert [n for n, _ in found] == [
        "Lisboa Baixa",
        "Lisboa Alvalade",
        "Porto Bolhão",
        "Madrid Sol",
    ]
    distances = [d for _, d in found]
    assert distances == sorted(distances)
    assert distances[0] == 1.344 and distances[1] == 3.438
    assert 270 < distances[2] < 280 and 495 < distances[3] < 510
    # The default radius is 50 km; a smaller one filters further; both path forms answer.
    assert [n for n, _ in _near(api, f"near={LISBON}")] == ["Lisboa Baixa", "Lisboa Alvalade"]
    assert [n for n, _ in _near(api, f"near={LISBON}&radius_km=2")] == ["Lisboa Baixa"]
    prefixed = api.request("GET", "stores", f"/stores?near={LISBON}&radius_km=2")
    assert [s["name"] for s in prefixed.json()["items"]] == ["Lisboa Baixa"]
    # Paged: limit and the cursor walk the same order.
    first = api.request("GET", "stores", f"?near={LISBON}&radius_km=600&limit=3").json()
    rest = api.request(
        "GET", "stores", f"?near={LISBON}&radius_km=600&limit=3&cursor={first['next_cursor']}"
    ).json()
    assert [s["name"] for s in first["items"] + rest["items"]] == [n for n, _ in found]
    assert rest["next_cursor"] is None


def test_inactive_stores_are_hidden_from_the_public(api: Api, admin: SignedIn) -> None:
    hidden = _create(api, admin, "Lisboa Baixa", active=False)
    _create(api, admin, "Lisboa Alvalade")
    assert [n for n, _ in _near(api, f"near={LISBON}")] == ["Lisboa Alvalade"]
    assert [n for n, _ in _near(api, f"near={LISBON}", user=admin)] == [
        "Lisboa Baixa",
        "Lisboa Alvalade",
    ]
    problem(api.request("GET", "stores", f"/{hidden['id']}"), 404)
    assert api.request("GET", "stores", f"/{hidden['id']}", user=admin).status_code == 200
    listed = api.request("GET", "stores").json()
    assert [s["name"] for s in listed["items"]] == ["Lisboa Alvalade"]


def test_bad_queries_and_bodies_are_problems(api: Api, admin: SignedIn) -> None:
    for query, field in [
        ("near=38.7", "near"),
        ("near=91,0", "near"),
        ("near=abc,def", "near"),
        (f"near={LISBON}&radius_km=0", "radius_km"),
        (f"near={LISBON}&radius_km=20001", "radius_km"),
        ("radius_km=5", "radius_km"),
    ]:
        body = problem(api.request("GET", "stores", f"?{query}"), 400)
        assert [e["field"] for e in body["errors"]] == [field], query  # type: ignore[union-attr]
    bad = {"name": "X", "address": {**ADDRESS, "country": "XX"}, "location": {"lat": 0, "lng": 200}}
    body = problem(api.request("POST", "stores", user=admin, json=bad), 400)
    fields = {e["field"] for e in body["errors"]}  # type: ignore[union-attr]
    assert fields == {"address.country", "location.lng"}
    assert api.request("GET", "stores", user=admin).json()["items"] == []


def test_writes_are_for_admins(api: Api, admin: SignedIn, customer: SignedIn) -> None:
    body = {"name": "X", "address": ADDRESS, "location": {"lat": 0, "lng": 0}}
    problem(api.request("POST", "stores", json=body), 401)
    problem(api.request("POST", "stores", json=body, headers={"Authorization": "Bearer no"}), 401)
    problem(api.request("POST", "stores", user=customer, json=body), 403)
    store = _create(api, admin, "Madrid Sol")
    path = f"/{store['id']}"
    problem(api.request("PATCH", "stores", path, json={"name": "Y"}), 401)
    problem(api.request("PATCH", "stores", path, user=customer, json={"name": "Y"}), 403)
    problem(api.request("DELETE", "stores", path), 401)
    problem(api.request("DELETE", "stores", path, user=customer), 403)
    assert api.request("GET", "stores", path).json()["name"] == "Madrid Sol"


def test_if_match_and_delete(api: Api, admin: SignedIn) -> None:
    store = _create(api, admin, "Porto Bolhão")
    path = f"/{store['id']}"
    etag = api.request("GET", "stores", path).headers["ETag"]
    moved = {"location": {"lat": 41.15, "lng": -8.61}}
    ok = api.request("PATCH", "stores", path, user=admin, json=moved, headers={"If-Match": etag})
    assert ok.status_code == 200 and ok.json()["location"] == moved["location"]
    stale = {"If-Match": etag}
    problem(
        api.request("PATCH", "stores", path, user=admin, json={"name": "X"}, headers=stale), 412
    )
    problem(api.request("DELETE", "stores", path, user=admin, headers=stale), 412)
    fresh = {"If-Match": ok.headers["ETag"]}
    assert api.request("DELETE", "stores", path, user=admin, headers=fresh).status_code == 204
    problem(api.request("GET", "stores", path), 404)


def test_cache_hits_and_edits_are_visible_at_once(api: Api, admin: SignedIn) -> None:
    store = _create(api, admin, "Lisboa Baixa")
    path = f"/{store['id']}"
    near = f"?near={LISBON}&radius_km=10"
    # The create's own trigger retires the entries once more, asynchronously; then hits follow.
    for target in (path, "", near):
        eventually(
            lambda target=target: api.request("GET", "stores", target).headers["X-Cache"] == "hit",
            what=f"a cache hit on {target or '/'}",
        )
    renamed = api.request("PATCH", "stores", path, user=admin, json={"name": "Baixa-Chiado"})
    assert renamed.status_code == 200
    for _ in range(3):
        assert api.request("GET", "stores", path).json()["name"] == "Baixa-Chiado"
        assert api.request("GET", "stores").json()["items"][0]["name"] == "Baixa-Chiado"
        assert _near(api, near[1:])[0][0] == "Baixa-Chiado"
    closed = api.request("PATCH", "stores", path, user=admin, json={"active": False})
    assert closed.status_code == 200
    assert _near(api, near[1:]) == []


def test_trigger_invalidates_writes_made_outside_the_api(api: Api, admin: SignedIn) -> None:
    store = _create(api, admin, "Lisboa Baixa")
    near = f"?near={LISBON}&radius_km=10"
    eventually(
        lambda: api.request("GET", "stores", near).headers["X-Cache"] == "hit",
        what="a warm near search",
    )
    firestore.Client(project=PROJECT).collection("stores").document(str(store["id"])).update(
        {"location": {"lat": 41.1496, "lng": -8.6057}}  # moved to Porto from the console
    )
    eventually(lambda: _near(api, near[1:]) == [], what="trigger invalidation")
    assert [n for n, _ in _near(api, "near=41.15,-8.61&radius_km=5")] == ["Lisboa Baixa"]
