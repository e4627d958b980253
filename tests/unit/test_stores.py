"""Unit tests of the stores domain: field validation, great-circle distance, the near filter."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from celeste.catalog.stores import (
    EARTH_RADIUS_KM,
    GeoPoint,
    Store,
    StoreCreate,
    StorePatch,
    distance_km,
    nearby,
)
from celeste.kernel.addresses import Address
from celeste.kernel.errors import ValidationFailed

NOW = datetime(2025, 6, 1, tzinfo=UTC)
LISBON = GeoPoint(lat=38.7223, lng=-9.1393)
PORTO = GeoPoint(lat=41.1579, lng=-8.6291)
MADRID = GeoPoint(lat=40.4168, lng=-3.7038)
ADDRESS = {"line1": "Rua Augusta 1", "city": "Lisboa", "postal_code": "1100-048", "country": "PT"}
VALID = {"name": "Baixa", "address": ADDRESS, "location": {"lat": 38.71, "lng": -9.14}}


def store(store_id: str, point: GeoPoint, *, active: bool = True) -> Store:
    return Store(
        id=store_id,
        name=store_id.title(),
        address=Address.model_validate(ADDRESS),
        location=point,
        active=active,
        created_at=NOW,
        updated_at=NOW,
    )


def invalid_fields(model: type[Any], body: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return sorted(".".join(str(p) for p in e["loc"]) for e in caught.value.errors())


# --- validation ------------------------------------------------------------------------------


def test_a_full_store_is_accepted_and_normalised() -> None:
    body = {
        **VALID,
        "name": "  Baixa  ",
        "address": {**ADDRESS, "line2": "2º andar", "region": "Lisboa", "country": "pt"},
        "location": {"lat": 38, "lng": -9.5},
        "phone": " +351 21 000 0000 ",
        "active": False,
    }
    made = StoreCreate.model_validate(body)
    assert made.name == "Baixa"
    assert made.address.country == "PT"
    assert made.location == GeoPoint(lat=38.0, lng=-9.5)
    assert made.phone == "+351 21 000 0000"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"location": {"lat": 90.0001, "lng": 0}}, "location.lat"),
        ({"location": {"lat": -91, "lng": 0}}, "location.lat"),
        ({"location": {"lat": 0, "lng": 180.5}}, "location.lng"),
        ({"location": {"lat": 0, "lng": -181}}, "location.lng"),
        ({"location": {"lat": "38.7", "lng": 0}}, "location.lat"),
        ({"location": {"lat": True, "lng": 0}}, "location.lat"),
        ({"location": {"lat": float("nan"), "lng": 0}}, "location.lat"),
        ({"location": {"lat": 0, "lng": float("inf")}}, "location.lng"),
        ({"location": {"lat": 0}}, "location.lng"),
        ({"location": {"lat": 0, "lng": 0, "alt": 3}}, "location.alt"),
        ({"location": [38.7, -9.1]}, "location"),
        ({"address": {**ADDRESS, "country": "XX"}}, "address.country"),
        ({"address": {**ADDRESS, "country": "PRT"}}, "address.country"),
        ({"address": {**ADDRESS, "country": "P1"}}, "address.country"),
        ({"address": {**ADDRESS, "line1": " "}}, "address.line1"),
        ({"address": {**ADDRESS, "line1": "x" * 201}}, "address.line1"),
        ({"address": {**ADDRESS, "city": "x" * 101}}, "address.city"),
        ({"address": {**ADDRESS, "postal_code": "x" * 21}}, "address.postal_code"),
        ({"address": {**ADDRESS, "postal_code": "12/34"}}, "address.postal_code"),
        ({"address": {**ADDRESS, "street": "x"}}, "address.street"),
        ({"address": {"line1": "x", "city": "y"}}, "address.country"),
        ({"address": {**ADDRESS, "state": "Lisboa"}}, "address.state"),
        ({"phone": "call me"}, "phone"),
        ({"phone": "+" + "1" * 40}, "phone"),
        ({"phone": 351210000000}, "phone"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"active": "yes"}, "active"),
        ({"active": 1}, "active"),
        ({"id": "abc"}, "id"),
    ],
)
def test_invalid_store_fields_are_named(change: dict[str, Any], field: str) -> None:
    assert invalid_fields(StoreCreate, {**VALID, **change}) == [field]


def test_every_assigned_country_code_is_accepted() -> None:
    for code in ("PT", "ES", "FR", "US", "GB", "AX", "SS", "BQ"):
        assert Address.model_validate({**ADDRESS, "country": code}).country == code
    for code in ("UK", "EU", "XK", "ZZ", "AA"):  # reserved or user-assigned, not countries
        assert invalid_fields(Address, {**ADDRESS, "country": code}) == ["country"]


def test_patch_refuses_null_except_for_phone() -> None:
    assert StorePatch.model_validate({"phone": None}).changes() == {"phone": None}
    for name in ("name", "address", "location", "active"):
        with pytest.raises(ValidationFailed) as caught:
            StorePatch.model_validate({name: None}).changes()
        assert [e.field for e in caught.value.errors] == [name]


def test_patch_replaces_the_address_whole() -> None:
    partial = {"address": {"city": "Porto"}}
    assert "address.line1" in invalid_fields(StorePatch, partial)


# --- distance --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "km"),
    [
        (LISBON, PORTO, 274.0),  # published great-circle distances, to the kilometre
        (LISBON, MADRID, 503.0),
        (PORTO, MADRID, 422.0),
    ],
)
def test_distance_between_known_cities(a: GeoPoint, b: GeoPoint, km: float) -> None:
    assert distance_km(a, b) == pytest.approx(km, abs=2.5)


def test_distance_of_one_degree_of_latitude_and_across_the_antimeridian() -> None:
    one_degree = math.pi * EARTH_RADIUS_KM / 180
    assert distance_km(GeoPoint(lat=0, lng=0), GeoPoint(lat=1, lng=0)) == pytest.approx(one_degree)
    west = GeoPoint(lat=0, lng=179.5)
    east = GeoPoint(lat=0, lng=-179.5)
    assert distance_km(west, east) == pytest.approx(one_degree)


def test_antipodes_are_half_the_circumference() -> None:
    half = math.pi * EARTH_RADIUS_KM
    assert distance_km(GeoPoint(lat=90, lng=0), GeoPoint(lat=-90, lng=0)) == pytest.approx(half)
    assert distance_km(GeoPoint(lat=0, lng=0), GeoPoint(lat=0, lng=180)) == pytest.approx(half)


points = st.builds(
    GeoPoint,
    lat=st.floats(min_value=-90, max_value=90, allow_nan=False),
    lng=st.floats(min_value=-180, max_value=180, allow_nan=False),
)


@given(a=points, b=points)
def test_distance_is_symmetric_bounded_and_zero_on_itself(a: GeoPoint, b: GeoPoint) -> None:
    d = distance_km(a, b)
    assert 0 <= d <= math.pi * EARTH_RADIUS_KM + 1e-6
    assert d == pytest.approx(distance_km(b, a), abs=1e-6)
    assert distance_km(a, a) == pytest.approx(0, abs=1e-6)


@given(a=points, b=points, c=points)
def test_distance_obeys_the_triangle_inequality(a: GeoPoint, b: GeoPoint, c: GeoPoint) -> None:
    assert distance_km(a, c) <= distance_km(a, b) + distance_km(b, c) + 1e-6


# --- the near filter -------------------------------------------------------------------------


def test_nearby_sorts_by_distance_filters_by_radius_and_rounds() -> None:
    stores = [store("madrid", MADRID), store("porto", PORTO), store("lisbon", LISBON)]
    found = nearby(stores, LISBON, 600)
    assert [s.id for s in found] == ["lisbon", "porto", "madrid"]
    assert found[0].distance_km == 0.0
    for s in found:
        assert s.distance_km == round(distance_km(LISBON, s.location), 3)
    assert [s.id for s in nearby(stores, LISBON, 300)] == ["lisbon", "porto"]
    assert nearby(stores, GeoPoint(lat=-33.9, lng=18.4), 50) == []


def test_the_radius_is_inclusive_and_ties_go_by_id() -> None:
    origin = GeoPoint(lat=0, lng=0)
    east, west = GeoPoint(lat=0, lng=1), GeoPoint(lat=0, lng=-1)
    stores = [store("b", east), store("a", west)]
    exact = distance_km(origin, east)
    assert [s.id for s in nearby(stores, origin, exact)] == ["a", "b"]
    assert nearby(stores, origin, exact * 0.999) == []


@given(
    origin=points,
    located=st.lists(points, max_size=12),
    radius=st.floats(min_value=0.001, max_value=20_000),
)
def test_nearby_keeps_exactly_the_stores_within_the_radius_in_order(
    origin: GeoPoint, located: list[GeoPoint], radius: float
) -> None:
    stores = [store(f"s{i:02d}", p) for i, p in enumerate(located)]
    found = nearby(stores, origin, radius)
    assert {s.id for s in found} == {
        s.id for s in stores if distance_km(origin, s.location) <= radius
    }
    keys = [(s.distance_km, s.id) for s in found]
    assert keys == sorted(keys)
