"""The ``checkout`` and ``shipping`` functions and the tax-rate and code routes of ``pricing``
over in-memory fakes: required headers, refused bodies (nothing written), status codes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Response

from celeste.services.discount_codes import DiscountCodeService
from celeste.services.shipping import ShippingService
from celeste.services.tax import TaxRateService
from celeste_functions import composition
from celeste_functions.adapters.cache import Cache
from celeste_functions.composition import Services
from celeste_functions.http.auth import Caller
from celeste_functions.resources import checkout as checkout_resource
from celeste_functions.resources import pricing as pricing_resource
from celeste_functions.resources import shipping as shipping_resource
from tests.support.handlers import assert_problem, body_of, call, error_fields, use_test_tokens
from tests.unit.test_checkout_service import STORE, Shop, make_shop

TOKENS = {
    "admin": Caller(uid="admin-1", email="admin@unit.test", role="admin"),
    "alice": Caller(uid="alice", email=None, role="customer"),  # an anonymous Firebase user
}
ADDRESS = {
    "name": "Ana",
    "line1": "Rua 1",
    "city": "Lisboa",
    "postal_code": "1000",
    "country": "PT",
}
BODY = {"store_id": STORE, "shipping_address": ADDRESS, "shipping_method": "standard"}


def as_(who: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {who}", **extra}


@pytest.fixture
def shop(monkeypatch: pytest.MonkeyPatch) -> Iterator[Shop]:
    use_test_tokens(monkeypatch, TOKENS)
    shop = make_shop()
    composition.use(
        Services(
            cache=Cache(client=lambda: None, ttl_s=60),
            orders=shop.orders,
            shipping=ShippingService(repository=shop.methods),
            tax_rates=TaxRateService(repository=shop.rates),
            discount_codes=DiscountCodeService(repository=shop.codes),
        )
    )
    yield shop
    composition.services.reset()


def checkout(method: str, path: str = "/", **kw: Any) -> Response:
    return call(checkout_resource.router, method, path, **kw)


def pricing(method: str, path: str, **kw: Any) -> Response:
    return call(pricing_resource.router, method, path, **kw)


def test_checkout_needs_an_idempotency_key_and_writes_nothing_without(shop: Shop) -> None:
    shop.add_to_cart("alice", "tea", 1)
    response = checkout("POST", json_body=BODY, headers=as_("alice"))
    assert error_fields(response) == ["Idempotency-Key"]
    assert not shop.commerce.orders and len(shop.cart.lines("alice", limit=10)) == 1


def test_checkout_places_and_a_replay_is_marked(shop: Shop) -> None:
    shop.add_to_cart("alice", "tea", 1)
    headers = as_("alice", **{"Idempotency-Key": "key-1"})
    placed = checkout("POST", "/checkout", json_body=BODY, headers=headers)
    assert placed.status_code == 202, placed.get_data(as_text=True)
    order = body_of(placed)
    assert (order["total"], order["tax_total"], order["shipping_total"]) == (2750, 250, 500)
    assert placed.headers["Location"] == f"orders/{order['id']}"
    again = checkout("POST", json_body=BODY, headers=headers)
    assert body_of(again)["id"] == order["id"]
    assert again.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"total": 100}, "total"),
        ({"lines": [{"product_id": "tea", "quantity": 1}]}, "lines"),
        ({"shipping_address": {**ADDRESS, "country": "XX"}}, "shipping_address.country"),
        ({"discount_code": ""}, "discount_code"),
    ],
)
def test_bad_bodies_are_400_naming_the_field(
    shop: Shop, change: dict[str, Any], field: str
) -> None:
    shop.add_to_cart("alice", "tea", 1)
    for path in ("/", "/quote"):
        response = checkout(
            "POST",
            path,
            json_body={**BODY, **change},
            headers=as_("alice", **{"Idempotency-Key": "k"}),
        )
        assert error_fields(response) == [field]
    assert not shop.commerce.orders


def test_checkout_is_for_signed_in_callers(shop: Shop) -> None:
    assert_problem(checkout("POST", "/quote", json_body=BODY), 401)


def test_an_unavailable_line_is_a_409_naming_it(shop: Shop) -> None:
    shop.add_to_cart("alice", "retired", 1)
    response = checkout("POST", "/quote", json_body=BODY, headers=as_("alice"))
    problem = assert_problem(response, 409)
    assert [e["field"] for e in problem["errors"]] == ["cart.retired"]


def test_tax_rates_by_country(shop: Shop) -> None:
    created = pricing(
        "PUT", "/tax-rates/es", json_body={"rate_bp": 2100, "inclusive": True}, headers=as_("admin")
    )
    assert created.status_code == 201 and body_of(created)["country"] == "ES"
    updated = pricing("PUT", "/tax-rates/ES", json_body={"rate_bp": 1000}, headers=as_("admin"))
    assert updated.status_code == 200 and body_of(updated)["inclusive"] is False
    unknown = pricing("PUT", "/tax-rates/XX", json_body={"rate_bp": 10}, headers=as_("admin"))
    assert error_fields(unknown) == ["country"]
    assert "XX" not in shop.rates.rows
    assert pricing("DELETE", "/tax-rates/ES", headers=as_("admin")).status_code == 204
    assert_problem(pricing("GET", "/tax-rates/ES", headers=as_("admin")), 404)


def test_codes_are_created_upper_case_and_times_used_is_not_writable(shop: Shop) -> None:
    body = {"code": "spring", "kind": "percentage", "value": 15, "usage_limit": 3}
    created = pricing("POST", "/codes", json_body=body, headers=as_("admin"))
    assert created.status_code == 201 and created.headers["Location"] == "pricing/codes/SPRING"
    assert body_of(pricing("GET", "/codes/spring", headers=as_("admin")))["times_used"] == 0
    patch = pricing("PATCH", "/codes/SPRING", json_body={"times_used": 0}, headers=as_("admin"))
    assert error_fields(patch) == ["times_used"]
    assert_problem(pricing("POST", "/codes", json_body=body, headers=as_("admin")), 409)
    listed = body_of(pricing("GET", "/codes", headers=as_("admin")))
    assert [c["code"] for c in listed["items"]] == ["SPRING"]


def test_the_public_method_list_hides_inactive_methods(shop: Shop) -> None:
    patch = call(
        shipping_resource.router,
        "PATCH",
        "/methods/express",
        json_body={"active": False},
        headers=as_("admin"),
    )
    assert patch.status_code == 200, patch.get_data(as_text=True)
    public = body_of(call(shipping_resource.router, "GET", "/methods?country=PT"))
    assert [m["code"] for m in public["items"]] == ["standard"]
    every = body_of(call(shipping_resource.router, "GET", "/methods", headers=as_("admin")))
    assert [m["code"] for m in every["items"]] == ["express", "standard", "usa"]
