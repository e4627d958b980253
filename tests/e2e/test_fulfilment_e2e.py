"""One set of money rules for every order, over HTTP: ``POST /orders`` charges the shipping and
tax that checkout charges for the same lines (finding 1 of the wave-2 review: it charged 1150
and 1000 where checkout charged 1955), and a pickup is taxed by its store's country."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from google.cloud import firestore

from tests.e2e.conftest import Api, Shop, problem
from tests.e2e.test_checkout_e2e import _ok
from tests.e2e.test_orders_e2e import order_body, place
from tools.devauth import SignedIn

pytestmark = pytest.mark.e2e

NZ = {"name": "Aroha", "line1": "1 Queen St", "city": "Auckland", "country": "NZ"}


def _nz_shipping_and_tax(api: Api, admin: SignedIn) -> None:
    """A 700 method for NZ and 15 % tax on top, as in the review's reproduction."""
    method = {"code": "nz-post", "name": "NZ Post", "price": 700, "currency": "EUR"}
    _ok(
        api.request(
            "POST", "shipping", "/methods", user=admin, json={**method, "countries": ["NZ"]}
        ),
        201,
    )
    tax = {"rate_bp": 1500, "inclusive": False}
    _ok(api.request("PUT", "pricing", "/tax-rates/NZ", user=admin, json=tax), 201)


def test_an_order_by_api_pays_the_shipping_and_tax_checkout_charges(
    api: Api,
    admin: SignedIn,
    customers: list[SignedIn],
    shop: Callable[..., Shop],
    db: firestore.Client,
) -> None:
    store = shop({"lamp": 10})
    _nz_shipping_and_tax(api, admin)
    user = customers[5]
    put = api.request(
        "PUT", "me", f"/cart/items/{store.products['lamp']}", user=user, json={"quantity": 1}
    )
    assert put.status_code in (200, 201), put.text
    terms = {"store_id": store.store_id, "shipping_address": NZ, "shipping_method": "nz-post"}
    quote = _ok(api.request("POST", "checkout", "/quote", user=user, json=terms))
    assert (quote["shipping_total"], quote["tax_total"], quote["total"]) == (700, 255, 1955)

    body = {**order_body(store, ("lamp", 1)), "shipping_address": NZ}
    # Where the shop ships to the address, the order must choose how: no free shipping by API.
    no_method = problem(place(api, user, body), 400)
    assert [e["field"] for e in no_method["errors"]] == ["shipping_method"]
    # And a delivery without an address (which skipped tax) is no order at all.
    no_address = problem(place(api, user, {**body, "shipping_address": None}), 400)
    assert [e["field"] for e in no_address["errors"]] == ["shipping_address"]
    assert list(db.collection("orders").limit(1).stream()) == []

    order = _ok(place(api, user, {**body, "shipping_method": "nz-post"}), 202)
    money = ("subtotal", "discount_total", "shipping_total", "tax_total", "total")
    assert [order[m] for m in money] == [quote[m] for m in money]
    assert order["total"] == 1955 and order["fulfilment"] == "delivery"
    assert order["shipping_method"]["code"] == "nz-post"


def test_a_pickup_at_a_store_that_offers_it_is_taxed_by_the_stores_country(
    api: Api,
    admin: SignedIn,
    customers: list[SignedIn],
    shop: Callable[..., Shop],
) -> None:
    store = shop({"lamp": 10})
    _nz_shipping_and_tax(api, admin)
    _ok(
        api.request(
            "PUT",
            "pricing",
            "/tax-rates/PT",
            user=admin,
            json={"rate_bp": 2300, "inclusive": False},
        ),
        201,
    )
    user = customers[6]
    pickup = {**order_body(store, ("lamp", 2)), "fulfilment": "pickup", "shipping_address": None}
    closed = problem(place(api, user, pickup), 400)
    assert [e["field"] for e in closed["errors"]] == ["fulfilment"]

    _ok(api.request("PATCH", "stores", f"/{store.store_id}", user=admin, json={"pickup": True}))
    with_address = problem(place(api, user, {**pickup, "shipping_address": NZ}), 400)
    assert [e["field"] for e in with_address["errors"]] == ["shipping_address"]
    order = _ok(place(api, user, pickup), 202)
    # 2 x 1000, no shipping, 23 % Portuguese tax on top (the store is in Lisbon).
    assert (order["fulfilment"], order["shipping_total"], order["tax_total"]) == ("pickup", 0, 460)
    assert order["total"] == 2460 and order["shipping_address"] is None
