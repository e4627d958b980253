"""Unit tests of ``/me/tier``, ``/me/cart`` and ``/me/wishlist`` over in-memory fakes: routes,
auth, strict validation of the quantity, status codes and the shape of every reply."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Response

from celeste.accounts.tiers import DEMO_TIERS
from celeste.services.accounts import AccountService
from celeste.services.cart import CartService, WishlistService
from celeste.services.pricing import PricingService
from celeste.services.tier_standing import TierStandingService
from celeste.services.tiers import TierService
from celeste_functions import clients, composition
from celeste_functions.adapters.cache import Cache
from celeste_functions.composition import Services
from celeste_functions.resources.me import router
from tests.fakes import (
    FakeIdentity,
    InMemoryCart,
    InMemoryCatalogue,
    InMemoryProfiles,
    InMemoryTiers,
    InMemoryWishlist,
    ladder,
)
from tests.support.handlers import (
    AS_ADMIN,
    AS_CUSTOMER,
    CUSTOMER,
    NO_BODY,
    assert_problem,
    body_of,
    error_fields,
    use_test_tokens,
)
from tests.support.handlers import call as serve

MAX_LINES = 4


@pytest.fixture
def catalogue() -> InMemoryCatalogue:
    catalogue = InMemoryCatalogue()
    for product_id, price in [
        ("apple", 1000),
        ("pear", 333),
        ("bread", 250),
        ("fig", 90),
        ("kiwi", 75),
    ]:
        catalogue.add(product_id, price=price)
    catalogue.add("retired", price=1, active=False)
    return catalogue


@pytest.fixture
def cart_repo() -> InMemoryCart:
    return InMemoryCart()


@pytest.fixture(autouse=True)
def wired(
    monkeypatch: pytest.MonkeyPatch, catalogue: InMemoryCatalogue, cart_repo: InMemoryCart
) -> Iterator[None]:
    pricing = PricingService(source=catalogue, products=catalogue, tiers=catalogue)
    accounts = AccountService(
        profiles=InMemoryProfiles(), identity=FakeIdentity(), tiers=ladder({"BRONZE": True})
    )
    composition.use(
        Services(
            cache=Cache(client=lambda: None, ttl_s=60),
            accounts=accounts,
            pricing=pricing,
            cart=CartService(
                cart=cart_repo, products=catalogue, pricing=pricing, max_lines=MAX_LINES
            ),
            wishlist=WishlistService(wishlist=InMemoryWishlist(), products=catalogue),
            tier_standing=TierStandingService(
                accounts=accounts, tiers=TierService(repository=InMemoryTiers(DEMO_TIERS))
            ),
        )
    )
    use_test_tokens(monkeypatch)
    yield
    composition.services.reset()
    assert clients.firebase_app._value is clients._UNSET, "a unit test reached Firebase"


def call(method: str, path: str, json_body: Any = NO_BODY, **kw: Any) -> Response:
    kw.setdefault("headers", AS_CUSTOMER)
    return serve(router, method, path, json_body=json_body, **kw)


def put(product_id: str, quantity: Any, **kw: Any) -> Response:
    return call("PUT", f"/cart/items/{product_id}", {"quantity": quantity}, **kw)


ROUTES = [
    ("GET", "/tier"),
    ("GET", "/cart"),
    ("DELETE", "/cart"),
    ("PUT", "/cart/items/apple"),
    ("DELETE", "/cart/items/apple"),
    ("GET", "/wishlist"),
    ("PUT", "/wishlist/apple"),
    ("DELETE", "/wishlist/apple"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_a_valid_token(method: str, path: str, cart_repo: InMemoryCart) -> None:
    body = {"quantity": 1} if method == "PUT" else NO_BODY
    assert_problem(call(method, path, body, headers={}), 401)
    assert_problem(call(method, path, body, headers={"Authorization": "Bearer forged"}), 401)
    assert cart_repo.writes == 0


@pytest.mark.parametrize(
    "quantity", [0, -1, 1001, "2", 2.5, 2.0, True, None, [1], {"n": 1}], ids=repr
)
def test_quantity_must_be_a_strict_integer_from_1_to_1000(
    quantity: Any, cart_repo: InMemoryCart
) -> None:
    assert error_fields(put("apple", quantity)) == ["quantity"]
    assert cart_repo.writes == 0


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, ["quantity"]),
        ({"quantity": 1, "unit_price": 5}, ["unit_price"]),
        ({"quantity": 1, "product_id": "pear"}, ["product_id"]),
        ([{"quantity": 1}], ["body"]),
    ],
)
def test_put_refuses_missing_and_unknown_fields(
    body: Any, fields: list[str], cart_repo: InMemoryCart
) -> None:
    assert error_fields(call("PUT", "/cart/items/apple", body)) == fields
    assert cart_repo.writes == 0


def test_put_needs_a_json_body() -> None:
    assert_problem(
        call(
            "PUT",
            "/cart/items/apple",
            data=b"quantity=1",
            content_type="application/x-www-form-urlencoded",
        ),
        415,
    )
    assert_problem(
        call("PUT", "/cart/items/apple", data=b"{", content_type="application/json"), 400
    )


@pytest.mark.parametrize("product_id", ["ghost", "retired", "a..b", "__x__"])
def test_put_of_an_unknown_inactive_or_malformed_product_is_404(
    product_id: str, cart_repo: InMemoryCart
) -> None:
    assert_problem(put(product_id, 1), 404)
    assert cart_repo.writes == 0


def test_put_is_201_then_200_and_returns_the_line() -> None:
    created = put("apple", 2)
    assert created.status_code == 201
    line = body_of(created)
    assert set(line) == {"product_id", "variant_id", "quantity", "added_at", "updated_at"}
    assert (line["product_id"], line["variant_id"], line["quantity"]) == ("apple", "apple", 2)
    assert line["added_at"].endswith("Z")
    updated = put("apple", 1000)
    assert updated.status_code == 200
    assert body_of(updated)["quantity"] == 1000
    assert body_of(updated)["added_at"] == line["added_at"]


def test_get_cart_prices_every_line_and_totals() -> None:
    put("pear", 3)
    put("apple", 1)
    response = call("GET", "/me/cart")  # the Hosting-rewrite form of the path too
    assert response.status_code == 200
    cart = body_of(response)
    assert set(cart) == {"lines", "subtotal", "discount_total", "total", "currency", "tier"}
    assert (cart["subtotal"], cart["discount_total"], cart["total"]) == (1999, 0, 1999)
    assert (cart["currency"], cart["tier"]) == ("EUR", "BRONZE")
    pear = cart["lines"][0]
    assert set(pear) == {
        "product_id",
        "variant_id",
        "quantity",
        "name",
        "sku",
        "options",
        "image_url",
        "unavailable",
        "unavailable_reason",
        "pricing",
        "line_total",
        "added_at",
        "updated_at",
    }
    assert (pear["product_id"], pear["quantity"], pear["name"], pear["sku"]) == (
        "pear",
        3,
        "Pear",
        "SKU-pear",
    )
    assert (pear["variant_id"], pear["options"]) == ("pear", {})
    assert (pear["unavailable"], pear["line_total"]) == (False, 999)
    assert pear["pricing"] | {"applied_rule": None} == {
        "base_price": 333,
        "final_price": 333,
        "currency": "EUR",
        "discount": 0,
        "tier": "BRONZE",
        "applied_rule": None,
        "quantity": 3,
        "line_total": 999,
    }
    assert [line["product_id"] for line in cart["lines"]] == ["pear", "apple"]


def test_an_inactive_product_is_flagged_and_the_cart_stays_readable(
    catalogue: InMemoryCatalogue,
) -> None:
    put("pear", 1)
    put("apple", 1)
    catalogue.products["apple"] = catalogue.products["apple"].model_copy(update={"active": False})
    cart = body_of(call("GET", "/cart"))
    apple = cart["lines"][1]
    assert (apple["unavailable"], apple["unavailable_reason"]) == (True, "inactive")
    assert (apple["pricing"], apple["line_total"], apple["name"]) == (None, None, "Apple")
    assert cart["total"] == 333
    assert_problem(put("apple", 2), 404)  # cannot be changed, only removed
    assert call("DELETE", "/cart/items/apple").status_code == 204


def test_an_empty_cart() -> None:
    assert body_of(call("GET", "/cart")) == {
        "lines": [],
        "subtotal": 0,
        "discount_total": 0,
        "total": 0,
        "currency": None,
        "tier": "BRONZE",
    }


def test_get_cart_takes_no_query_parameters() -> None:
    assert error_fields(call("GET", f"/cart?uid={CUSTOMER.uid}")) == ["uid"]


def test_a_full_cart_is_409() -> None:
    for product_id in ("apple", "pear", "bread", "fig"):
        assert put(product_id, 1).status_code == 201
    assert_problem(put("kiwi", 1), 409)
    assert put("fig", 3).status_code == 200


def test_delete_item_and_clear_are_204_and_idempotent() -> None:
    put("apple", 1)
    put("pear", 1)
    for _ in range(2):
        response = call("DELETE", "/cart/items/apple")
        assert response.status_code == 204 and response.get_data() == b""
    assert call("DELETE", "/cart/items/never-there").status_code == 204
    assert [line["product_id"] for line in body_of(call("GET", "/cart"))["lines"]] == ["pear"]
    for _ in range(2):
        assert call("DELETE", "/cart").status_code == 204
    assert body_of(call("GET", "/cart"))["lines"] == []


def test_each_caller_sees_only_their_own_cart() -> None:
    put("apple", 2)
    assert body_of(call("GET", "/cart", headers=AS_ADMIN))["lines"] == []
    put("pear", 1, headers=AS_ADMIN)
    assert [line["product_id"] for line in body_of(call("GET", "/cart"))["lines"]] == ["apple"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/cart/items/apple", 405),
        ("POST", "/cart", 405),
        ("PUT", "/cart/items", 404),
        ("GET", "/cart/items/apple/extra", 404),
        ("PATCH", "/wishlist/apple", 405),
        ("POST", "/tier", 405),
    ],
)
def test_unserved_paths_and_methods(method: str, path: str, status: int) -> None:
    response = call(method, path, {"quantity": 1})
    assert_problem(response, status)
    if status == 405:
        assert response.headers["Allow"]


# --- variants ---------------------------------------------------------------------------------


@pytest.fixture
def shirt(catalogue: InMemoryCatalogue) -> None:
    catalogue.add_sized("shirt", price=1500, sizes={"S": None, "M": 1800})


@pytest.mark.usefixtures("shirt")
def test_cart_items_are_variants_each_line_showing_its_sku_and_options(
    cart_repo: InMemoryCart,
) -> None:
    created = put("shirt-S", 2)
    assert created.status_code == 201
    assert (body_of(created)["product_id"], body_of(created)["variant_id"]) == ("shirt", "shirt-S")
    assert put("shirt-M", 1).status_code == 201
    cart = body_of(call("GET", "/cart"))
    shown = [
        (x["product_id"], x["variant_id"], x["sku"], x["options"], x["name"], x["line_total"])
        for x in cart["lines"]
    ]
    assert shown == [
        ("shirt", "shirt-S", "SKU-shirt-S", {"Size": "S"}, "Shirt", 3000),
        ("shirt", "shirt-M", "SKU-shirt-M", {"Size": "M"}, "Shirt", 1800),
    ]
    assert cart["total"] == 4800
    assert call("DELETE", "/cart/items/shirt-S").status_code == 204
    assert [x["variant_id"] for x in body_of(call("GET", "/cart"))["lines"]] == ["shirt-M"]


@pytest.mark.usefixtures("shirt")
@pytest.mark.parametrize("path", ["/cart/items/shirt", "/wishlist/shirt"])
def test_the_id_of_a_product_with_several_variants_is_400_naming_variant_id(
    path: str, cart_repo: InMemoryCart
) -> None:
    body = {"quantity": 1} if path.startswith("/cart") else NO_BODY
    assert error_fields(call("PUT", path, body)) == ["variant_id"]
    assert cart_repo.writes == 0


@pytest.mark.usefixtures("shirt")
def test_an_unknown_or_inactive_variant_is_404(catalogue: InMemoryCatalogue) -> None:
    catalogue.change_variant("shirt", "shirt-M", active=False)
    for variant_id in ("shirt-M", "shirt-XL"):
        assert_problem(put(variant_id, 1), 404)
        assert_problem(call("PUT", f"/wishlist/{variant_id}"), 404)


@pytest.mark.usefixtures("shirt")
def test_the_wishlist_keeps_variants_and_shows_their_sku_and_options() -> None:
    first = call("PUT", "/wishlist/shirt-M")
    assert first.status_code == 201
    assert set(body_of(first)) == {"product_id", "variant_id", "added_at"}
    (item,) = body_of(call("GET", "/wishlist"))["items"]
    assert (item["product_id"], item["variant_id"], item["sku"], item["options"]) == (
        "shirt",
        "shirt-M",
        "SKU-shirt-M",
        {"Size": "M"},
    )
    assert item["unavailable"] is False and item["product"]["id"] == "shirt"
    assert call("DELETE", "/wishlist/shirt-M").status_code == 204


# --- wishlist ---------------------------------------------------------------------------------


def test_wishlist_put_is_201_then_200_and_delete_is_204() -> None:
    first = call("PUT", "/wishlist/apple")
    assert first.status_code == 201
    assert set(body_of(first)) == {"product_id", "variant_id", "added_at"}
    again = call("PUT", "/wishlist/apple")
    assert again.status_code == 200 and body_of(again) == body_of(first)
    for _ in range(2):
        assert call("DELETE", "/wishlist/apple").status_code == 204
    assert body_of(call("GET", "/wishlist")) == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("product_id", ["ghost", "retired", "a..b"])
def test_wishlist_put_of_an_unknown_product_is_404(product_id: str) -> None:
    assert_problem(call("PUT", f"/wishlist/{product_id}"), 404)


def test_wishlist_lists_newest_first_in_pages_with_summaries(catalogue: InMemoryCatalogue) -> None:
    for product_id in ("apple", "pear", "bread"):
        call("PUT", f"/wishlist/{product_id}")
    catalogue.products["apple"] = catalogue.products["apple"].model_copy(update={"active": False})
    first = body_of(call("GET", "/wishlist?limit=2"))
    assert set(first) == {"items", "next_cursor"}
    rest = body_of(call("GET", f"/me/wishlist?limit=2&cursor={first['next_cursor']}"))
    items = first["items"] + rest["items"]
    added = [item["added_at"] for item in items]
    assert added == sorted(added, reverse=True)
    assert {item["product_id"] for item in items} == {"apple", "pear", "bread"}
    apple = next(item for item in items if item["product_id"] == "apple")
    assert apple["unavailable"] is True
    assert apple["product"] == {
        "id": "apple",
        "sku": "SKU-apple",
        "name": "Apple",
        "image_url": None,
        "base_price": 1000,
        "currency": "EUR",
        "unit": "each",
    }
    assert rest["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "field"), [("limit=0", "limit"), ("limit=101", "limit"), ("sort=name", "sort")]
)
def test_wishlist_bad_query_is_400(query: str, field: str) -> None:
    assert error_fields(call("GET", f"/wishlist?{query}")) == [field]


# --- tier -------------------------------------------------------------------------------------


def test_my_tier_shows_the_next_tier_and_progress() -> None:
    response = call("GET", "/tier")
    assert response.status_code == 200
    standing = body_of(response)
    assert set(standing) == {"tier", "tier_locked", "current", "next", "progress"}
    assert (standing["tier"], standing["tier_locked"]) == ("BRONZE", False)
    assert standing["current"]["code"] == "BRONZE" and standing["next"]["code"] == "SILVER"
    assert standing["progress"] == [
        {"name": "min_orders", "current": 0, "required": 5, "percent": 0, "currency": None},
        {
            "name": "min_lifetime_spend",
            "current": 0,
            "required": 10_000,
            "percent": 0,
            "currency": "EUR",
        },
        {
            "name": "min_orders_last_30_days",
            "current": 0,
            "required": 1,
            "percent": 0,
            "currency": None,
        },
    ]
    assert error_fields(call("GET", "/tier?tier=GOLD")) == ["tier"]
