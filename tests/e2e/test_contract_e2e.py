"""Contract checks seen from outside, through the functions emulator: media types, list
parameters, references on delete, quotes at a store, incomplete filters, one address shape."""

from __future__ import annotations

from typing import Any

import pytest
from google.cloud import firestore

from celeste.accounts.tiers import DEMO_TIERS
from celeste.services.products import SCAN_LIMIT
from tests.e2e.conftest import Api, problem
from tests.support.emulators import PROJECT
from tools.devauth import SignedIn

pytestmark = pytest.mark.e2e

ADDRESS = {"line1": "Rua Augusta 1", "city": "Lisboa", "postal_code": "1100-048", "country": "PT"}


@pytest.fixture
def db() -> firestore.Client:
    return firestore.Client(project=PROJECT)


def _post(api: Api, admin: SignedIn, function: str, body: dict[str, Any], path: str = "") -> Any:
    response = api.request("POST", function, path, user=admin, json=body)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def shop(api: Api, admin: SignedIn) -> dict[str, str]:
    """A category, two products and a store."""
    category = _post(api, admin, "categories", {"name": "Fruit", "slug": "fruit"})["id"]
    ids = {"category": category}
    for sku, name, price in [("PER-1", "Pear", 120), ("FIG-1", "Fig", 300)]:
        body = {"sku": sku, "name": name, "category_id": category, "base_price": price}
        ids[name.lower()] = _post(api, admin, "products", {**body, "currency": "EUR"})["id"]
    store = {"name": "Baixa", "address": ADDRESS, "location": {"lat": 38.71, "lng": -9.13}}
    ids["store"] = _post(api, admin, "stores", store)["id"]
    return ids


def test_a_204_carries_no_html_media_type(api: Api, admin: SignedIn) -> None:
    for tier in (DEMO_TIERS[0], DEMO_TIERS[2]):
        _post(api, admin, "tiers", tier.model_dump(mode="json"))
    response = api.request("DELETE", "tiers", f"/{DEMO_TIERS[2].code}", user=admin)
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert "Content-Type" not in response.headers


def test_a_dot_dot_id_never_reaches_another_route(api: Api, admin: SignedIn) -> None:
    # The emulator resolves "%2E" and "%2E%2E" segments before the function sees the path
    # (docs/contract.md, "Path ids"): "/products/%2E%2E" arrives as the project prefix, no route
    # of ours.
    for function, path in [("products", "/%2E%2E"), ("categories", "/%2e%2e")]:
        problem(api.request("GET", function, path, user=admin), 404)


def test_small_lists_take_limit_and_cursor(api: Api, admin: SignedIn) -> None:
    for tier in DEMO_TIERS:
        _post(api, admin, "tiers", tier.model_dump(mode="json"))
    assert api.request("GET", "tiers", "?limit=100").status_code == 200
    first = api.request("GET", "tiers", "?limit=3").json()
    rest = api.request("GET", "tiers", f"?limit=3&cursor={first['next_cursor']}").json()
    codes = [t["code"] for t in first["items"] + rest["items"]]
    assert codes == [t.code for t in sorted(DEMO_TIERS, key=lambda t: t.level)]
    assert rest["next_cursor"] is None
    for n in range(3):
        body = {"name": f"List {n}", "priority": n + 1, "valid_from": "2026-01-01T00:00:00Z"}
        rules = [{"scope": "all", "kind": "percentage", "value": "5"}]
        _post(api, admin, "pricing", {**body, "rules": rules}, "/price-lists")
    page = api.request("GET", "pricing", "/price-lists?limit=2", user=admin).json()
    assert [p["name"] for p in page["items"]] == ["List 0", "List 1"] and page["next_cursor"]
    last = api.request(
        "GET", "pricing", f"/price-lists?limit=2&cursor={page['next_cursor']}", user=admin
    ).json()
    assert ([p["name"] for p in last["items"]], last["next_cursor"]) == (["List 2"], None)
    problem(api.request("GET", "pricing", "/price-lists?limit=101", user=admin), 400)


def test_a_store_with_stock_is_not_deleted(api: Api, admin: SignedIn, shop: dict[str, str]) -> None:
    store, pear = shop["store"], shop["pear"]
    put = api.request("PUT", "inventory", f"/{store}/{pear}", user=admin, json={"on_hand": 5})
    assert put.status_code in (200, 201), put.text
    body = problem(api.request("DELETE", "stores", f"/{store}", user=admin), 409)
    assert "stock" in str(body["detail"])
    assert api.request("GET", "stores", f"/{store}").status_code == 200
    assert api.request("GET", "inventory", f"/{store}/{pear}", user=admin).status_code == 200
    empty = _post(api, admin, "stores", {**_store_body(), "name": "Empty"})["id"]
    assert api.request("DELETE", "stores", f"/{empty}", user=admin).status_code == 204


def _store_body() -> dict[str, Any]:
    return {"name": "X", "address": ADDRESS, "location": {"lat": 38.7, "lng": -9.1}}


def test_a_quote_at_a_store_reports_availability(
    api: Api, admin: SignedIn, shop: dict[str, str]
) -> None:
    store, pear, fig = shop["store"], shop["pear"], shop["fig"]
    put = api.request("PUT", "inventory", f"/{store}/{pear}", user=admin, json={"on_hand": 4})
    assert put.status_code in (200, 201), put.text
    lines = [{"product_id": pear, "quantity": 2}, {"product_id": fig, "quantity": 1}]
    at_store = {"lines": lines, "store_id": store}
    quote = api.request("POST", "pricing", "/quote", user=admin, json=at_store)
    assert quote.status_code == 200, quote.text
    body = quote.json()
    assert body["store_id"] == store
    assert [line["available"] for line in body["lines"]] == [4, 0]
    # Anyone but an admin is told availability up to the quantity asked for, not the stock.
    shopper = api.request("POST", "pricing", "/quote", json=at_store)
    assert [line["available"] for line in shopper.json()["lines"]] == [2, 0]
    missing = {"lines": lines, "store_id": "nowhere"}
    bad = problem(api.request("POST", "pricing", "/quote", json=missing), 400)
    assert [e["field"] for e in bad["errors"]] == ["store_id"]  # type: ignore[union-attr]


def test_a_filter_cut_short_says_incomplete(
    api: Api, admin: SignedIn, shop: dict[str, str], db: firestore.Client
) -> None:
    template = db.collection("products").document(shop["pear"]).get().to_dict() or {}
    complete = api.request("GET", "products", "?q=pear").json()
    assert complete["incomplete"] is False and len(complete["items"]) == 1
    batch, written = db.batch(), 0
    for n in range(SCAN_LIMIT):
        doc = {**template, "sku": f"BULK-{n}", "name": f"Bulk {n:04d}", "name_key": f"bulk {n:04d}"}
        batch.set(db.collection("products").document(f"bulk{n:04d}"), doc)
        written += 1
        if written == 400:
            batch.commit()
            batch, written = db.batch(), 0
    batch.commit()
    cut = api.request("GET", "products", "?q=pear&limit=5").json()
    assert cut["incomplete"] is True
    unfiltered = api.request("GET", "products", "?limit=5").json()
    assert unfiltered["incomplete"] is False


def test_one_address_shape_everywhere(api: Api, admin: SignedIn, customer: SignedIn) -> None:
    full = {**ADDRESS, "name": "Ada", "region": "Lisboa", "phone": "+351210000000"}
    store = _post(api, admin, "stores", {**_store_body(), "address": full})
    patched = api.request(
        "PATCH", "me", "", user=customer, json={"addresses": [{**full, "label": "Home"}]}
    )
    assert patched.status_code == 200, patched.text
    saved = patched.json()["addresses"][0]
    assert saved.pop("label") == "Home"
    assert store["address"] == saved
    old = api.request(
        "PATCH", "me", "", user=customer, json={"addresses": [{**ADDRESS, "recipient": "Ada"}]}
    )
    assert [e["field"] for e in problem(old, 400)["errors"]] == ["addresses[0].recipient"]  # type: ignore[index,union-attr]
