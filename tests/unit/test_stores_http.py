"""Unit tests of the ``stores`` function over in-memory fakes: routes, validation, roles."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from flask import Response

from celeste.services.stores import StoreService
from celeste_functions import clients, composition
from celeste_functions.adapters.cache import Cache
from celeste_functions.composition import Services
from celeste_functions.resources.stores import router
from tests.fakes import InMemoryStoreReferences, InMemoryStores
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

ADDRESS = {"line1": "Rua Augusta 1", "city": "Lisboa", "postal_code": "1100-048", "country": "PT"}
BAIXA = {"name": "Baixa", "address": ADDRESS, "location": {"lat": 38.7104, "lng": -9.1366}}
PORTO = {"name": "Bolhão", "address": ADDRESS, "location": {"lat": 41.1496, "lng": -8.6057}}
MADRID = {"name": "Sol", "address": ADDRESS, "location": {"lat": 40.4168, "lng": -3.7038}}
LISBON = "38.7223,-9.1393"


@pytest.fixture
def references() -> InMemoryStoreReferences:
    return InMemoryStoreReferences()


@pytest.fixture(autouse=True)
def repo(
    monkeypatch: pytest.MonkeyPatch, references: InMemoryStoreReferences
) -> Iterator[InMemoryStores]:
    """The stores function on an in-memory repository, a cache without Redis, test tokens."""
    repository = InMemoryStores()
    composition.use(
        Services(
            cache=Cache(client=lambda: None, ttl_s=60),
            stores=StoreService(repository=repository, references=references),
        )
    )
    use_test_tokens(monkeypatch)
    yield repository
    composition.services.reset()
    assert clients.firebase_app._value is clients._UNSET, "a unit test reached Firebase"


def call(method: str = "GET", path: str = "/", *, json_body: Any = NO_BODY, **kw: Any) -> Response:
    return serve(router, method, path, json_body=json_body, **kw)


def create(body: dict[str, Any]) -> dict[str, Any]:
    response = call("POST", "/", json_body=body, headers=AS_ADMIN)
    assert response.status_code == 201, response.get_data(as_text=True)
    created: dict[str, Any] = body_of(response)
    return created


# --- writes ----------------------------------------------------------------------------------


def test_admin_create_is_201_with_location_and_etag(repo: InMemoryStores) -> None:
    response = call(
        "POST", "/stores", json_body={**BAIXA, "phone": "+351 21 000"}, headers=AS_ADMIN
    )
    assert response.status_code == 201
    created = body_of(response)
    assert response.headers["Location"] == f"stores/{created['id']}"
    assert response.headers["ETag"] == f'"{repo.get(created["id"]).version}"'
    blank = {"name": None, "line2": None, "region": None, "phone": None}
    assert created["address"] == {**blank, **ADDRESS}
    assert created["location"] == BAIXA["location"]
    assert (created["phone"], created["active"]) == ("+351 21 000", True)
    assert created["created_at"].endswith("Z")


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({**BAIXA, "location": {"lat": 91, "lng": 0}}, ["location.lat"]),
        ({**BAIXA, "location": {"lat": 0, "lng": -180.01}}, ["location.lng"]),
        ({**BAIXA, "location": {"lat": "38", "lng": 0}}, ["location.lat"]),
        ({**BAIXA, "location": {"lat": 0, "lng": 0, "z": 1}}, ["location.z"]),
        ({**BAIXA, "address": {**ADDRESS, "country": "XX"}}, ["address.country"]),
        ({**BAIXA, "address": {**ADDRESS, "postal_code": ""}}, ["address.postal_code"]),
        ({**BAIXA, "phone": "not a phone"}, ["phone"]),
        ({**BAIXA, "active": "true"}, ["active"]),
        ({**BAIXA, "distance_km": 1}, ["distance_km"]),
        ({"name": ""}, ["name", "address", "location"]),
    ],
)
def test_invalid_create_is_400_naming_each_field(
    repo: InMemoryStores, body: dict[str, Any], fields: list[str]
) -> None:
    assert error_fields(call("POST", "/", json_body=body, headers=AS_ADMIN)) == fields
    assert repo.count() == 0


def test_non_finite_coordinates_are_malformed_json() -> None:
    data = b'{"name":"X","address":{},"location":{"lat":NaN,"lng":0}}'
    response = call("POST", "/", data=data, content_type="application/json", headers=AS_ADMIN)
    assert_problem(response, 400)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"name": None}, ["name"]),
        ({"location": None}, ["location"]),
        ({"location": {"lat": 0}}, ["location.lng"]),
        (
            {"address": {"city": "Porto"}},
            ["address.line1", "address.country"],
        ),
        ({"created_at": "2025-01-01T00:00:00Z"}, ["created_at"]),
    ],
)
def test_invalid_patch_is_400_naming_each_field(body: dict[str, Any], fields: list[str]) -> None:
    made = create(BAIXA)
    response = call("PATCH", f"/{made['id']}", json_body=body, headers=AS_ADMIN)
    assert error_fields(response) == fields


def test_patch_honours_if_match_and_the_edit_is_read_back() -> None:
    made = create(BAIXA)
    path = f"/{made['id']}"
    etag = call("GET", path).headers["ETag"]
    moved = {"location": {"lat": 38.75, "lng": -9.15}, "phone": "+351 1"}
    ok = call("PATCH", path, json_body=moved, headers={**AS_ADMIN, "If-Match": etag})
    assert ok.status_code == 200 and body_of(ok)["location"] == moved["location"]
    stale = call("PATCH", path, json_body={"name": "X"}, headers={**AS_ADMIN, "If-Match": etag})
    assert_problem(stale, 412)
    assert body_of(call("GET", path))["phone"] == "+351 1"
    cleared = call("PATCH", path, json_body={"phone": None}, headers=AS_ADMIN)
    assert body_of(cleared)["phone"] is None


def test_delete_honours_if_match_then_is_gone() -> None:
    made = create(BAIXA)
    path = f"/stores/{made['id']}"
    etag = call("GET", path).headers["ETag"]
    call("PATCH", path, json_body={"name": "Changed"}, headers=AS_ADMIN)
    assert_problem(call("DELETE", path, headers={**AS_ADMIN, "If-Match": etag}), 412)
    response = call("DELETE", path, headers=AS_ADMIN)
    assert response.status_code == 204 and response.get_data() == b""
    assert_problem(call("GET", path), 404)
    assert_problem(call("DELETE", path, headers=AS_ADMIN), 404)


@pytest.mark.parametrize("reference", ["stocked", "with_open_orders"])
def test_delete_of_a_store_still_referenced_is_409_and_keeps_it(
    references: InMemoryStoreReferences, reference: str
) -> None:
    made = create(BAIXA)
    getattr(references, reference).add(made["id"])
    problem = assert_problem(call("DELETE", f"/{made['id']}", headers=AS_ADMIN), 409)
    assert made["id"] in problem["detail"]
    assert call("GET", f"/{made['id']}").status_code == 200
    getattr(references, reference).discard(made["id"])
    assert call("DELETE", f"/{made['id']}", headers=AS_ADMIN).status_code == 204


WRITES = [("POST", "/", BAIXA), ("PATCH", "/{id}", {"name": "X"}), ("DELETE", "/{id}", None)]


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
@pytest.mark.parametrize(("headers", "status"), [({}, 401), (AS_CUSTOMER, 403)])
def test_writes_are_for_admins(
    repo: InMemoryStores,
    method: str,
    path: str,
    body: Any,
    headers: dict[str, str],
    status: int,
) -> None:
    made = create(BAIXA)
    path = path.format(id=made["id"])
    kwargs = {} if body is None else {"json_body": body}
    assert_problem(call(method, path, headers=headers, **kwargs), status)
    assert repo.get(made["id"]).value.name == "Baixa" and repo.count() == 1


def test_wrong_method_is_405_and_unknown_path_404() -> None:
    response = call("PUT", "/abc", json_body={}, headers=AS_ADMIN)
    assert_problem(response, 405)
    assert response.headers["Allow"] == "DELETE, GET, HEAD, PATCH"
    assert_problem(call("GET", "/abc/def"), 404)
    assert_problem(call("GET", "/a%2Fb"), 404)


# --- reads -----------------------------------------------------------------------------------


def test_list_is_by_name_with_pages_and_inactive_for_admins_only() -> None:
    for body in (MADRID, PORTO, BAIXA):
        create(body)
    create({**BAIXA, "name": "Alfama", "active": False})
    names: list[str] = []
    path = "/?limit=2"
    while path:
        page = body_of(call("GET", path))
        assert set(page) == {"items", "next_cursor"}
        names += [s["name"] for s in page["items"]]
        path = f"/?limit=2&cursor={page['next_cursor']}" if page["next_cursor"] else ""
    assert names == ["Baixa", "Bolhão", "Sol"]
    admin = [s["name"] for s in body_of(call("GET", "/", headers=AS_ADMIN))["items"]]
    assert admin == ["Alfama", "Baixa", "Bolhão", "Sol"]


def test_inactive_store_is_404_for_the_public() -> None:
    hidden = create({**BAIXA, "active": False})
    assert_problem(call("GET", f"/{hidden['id']}"), 404)
    assert_problem(call("GET", f"/{hidden['id']}", headers=AS_CUSTOMER), 404)
    assert call("GET", f"/{hidden['id']}", headers=AS_ADMIN).status_code == 200


def test_near_is_sorted_by_distance_with_rounded_distances() -> None:
    for body in (MADRID, PORTO, BAIXA):
        create(body)
    response = call("GET", f"/?near={LISBON}&radius_km=600")
    assert response.status_code == 200 and response.headers["X-Cache"] == "miss"
    page = body_of(response)
    assert [s["name"] for s in page["items"]] == ["Baixa", "Bolhão", "Sol"]
    distances = [s["distance_km"] for s in page["items"]]
    assert distances == sorted(distances)
    assert distances[0] == 1.344
    assert all(round(d, 3) == d for d in distances)
    assert page["next_cursor"] is None


def test_near_defaults_to_50_km_and_the_radius_filters() -> None:
    for body in (MADRID, PORTO, BAIXA):
        create(body)
    assert [s["name"] for s in body_of(call("GET", f"/?near={LISBON}"))["items"]] == ["Baixa"]
    assert body_of(call("GET", f"/?near={LISBON}&radius_km=1"))["items"] == []
    wide = body_of(call("GET", f"/?near={LISBON}&radius_km=20000"))["items"]
    assert len(wide) == 3


def test_near_pages_with_limit_and_cursor() -> None:
    for body in (MADRID, PORTO, BAIXA):
        create(body)
    first = body_of(call("GET", f"/?near={LISBON}&radius_km=1000&limit=2"))
    assert [s["name"] for s in first["items"]] == ["Baixa", "Bolhão"]
    rest = body_of(
        call("GET", f"/?near={LISBON}&radius_km=1000&limit=2&cursor={first['next_cursor']}")
    )
    assert [s["name"] for s in rest["items"]] == ["Sol"] and rest["next_cursor"] is None


@pytest.mark.parametrize(
    "near",
    [
        "",
        "38.7",
        "38.7,",
        ",-9.1",
        "38.7;-9.1",
        "38.7,-9.1,3",
        "abc,def",
        "91,0",
        "-90.5,0",
        "0,180.1",
        "nan,0",
        "inf,0",
        "1e2,0",
        "0x10,0",
        "38.7,-9.1" + "0" * 60,
    ],
)
def test_malformed_near_is_400_naming_near(near: str) -> None:
    assert error_fields(call("GET", f"/?near={quote(near)}")) == ["near"]


@pytest.mark.parametrize("near", ["38.7,-9.1", " 38.7 , -9.1 ", "-90,180", "90,-180", "0,0"])
def test_well_formed_near_is_accepted(near: str) -> None:
    assert call("GET", f"/?near={quote(near)}").status_code == 200


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (f"near={LISBON}&radius_km=0", "radius_km"),
        (f"near={LISBON}&radius_km=-5", "radius_km"),
        (f"near={LISBON}&radius_km=20000.1", "radius_km"),
        (f"near={LISBON}&radius_km=nan", "radius_km"),
        (f"near={LISBON}&radius_km=inf", "radius_km"),
        (f"near={LISBON}&radius_km=far", "radius_km"),
        ("radius_km=10", "radius_km"),
        (f"near={LISBON}&near={LISBON}", "near"),
        (f"near={LISBON}&cursor=garbage", "cursor"),
        ("cursor=garbage", "cursor"),
        ("limit=101", "limit"),
        ("colour=red", "colour"),
    ],
)
def test_bad_list_query_is_400_naming_the_parameter(query: str, field: str) -> None:
    create(BAIXA)
    assert error_fields(call("GET", f"/?{query}")) == [field]


def test_single_store_takes_no_query_parameters() -> None:
    made = create(BAIXA)
    assert error_fields(call("GET", f"/{made['id']}?near={LISBON}")) == ["near"]


def test_cacheable_gets_say_x_cache() -> None:
    made = create(BAIXA)
    for path in ("/", f"/{made['id']}", f"/?near={LISBON}"):
        assert call("GET", path).headers["X-Cache"] == "miss"  # no Redis in unit tests
