"""``/me/cart``, ``/me/wishlist`` and ``/me/tier`` through the functions emulator, with
Auth-emulator tokens: tier pricing, concurrent PUTs, isolation between customers."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from google.cloud import firestore

from celeste.accounts.tiers import DEMO_TIERS
from tests.e2e.conftest import Api, Shop, problem
from tests.e2e.test_variants_e2e import _tee, _variant
from tests.support.emulators import PROJECT, eventually
from tools.devauth import AuthEmulator, SignedIn

pytestmark = pytest.mark.e2e

NOW = datetime.now(UTC)


@pytest.fixture
def db() -> firestore.Client:
    return firestore.Client(project=PROJECT)


@pytest.fixture
def catalogue(api: Api, admin: SignedIn, db: firestore.Client) -> dict[str, str]:
    """The demo tier ladder, a category and three products (prices in cents)."""
    for tier in DEMO_TIERS:
        db.collection("tiers").document(tier.code).set(tier.model_dump(mode="json"))
    ids = {"fruit": _post(api, admin, "categories", {"name": "Fruit", "slug": "fruit"})}
    for name, sku, price in [
        ("Apple", "APL-1", 1000),
        ("Pear", "PER-1", 333),
        ("Bread", "BRD-1", 250),
    ]:
        ids[name.lower()] = _post(
            api,
            admin,
            "products",
            {
                "sku": sku,
                "name": name,
                "category_id": ids["fruit"],
                "base_price": price,
                "currency": "EUR",
            },
        )
    return ids


def _post(api: Api, admin: SignedIn, function: str, body: dict[str, Any]) -> str:
    response = api.request("POST", function, user=admin, json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _profile(db: firestore.Client, user: SignedIn, tier: str, **stats: Any) -> None:
    """A complete profile document, as registration (and later deliveries) would leave it."""
    db.collection("users").document(user.uid).set(
        {
            "email": user.email,
            "display_name": user.email.split("@")[0],
            "role": "customer",
            "tier": tier,
            "tier_locked": False,
            "disabled": False,
            "addresses": [],
            "stats": {"orders_count": 0, "lifetime_spend": 0, "recent_deliveries": [], **stats},
            "created_at": NOW,
            "updated_at": NOW,
        }
    )


@pytest.fixture
def gold(auth: AuthEmulator, db: firestore.Client) -> SignedIn:
    user = auth.user("cart-gold@e2e.test", "password-gold")
    _profile(db, user, "GOLD")
    return user


@pytest.fixture
def bronze(auth: AuthEmulator, db: firestore.Client) -> SignedIn:
    user = auth.user("cart-bronze@e2e.test", "password-bronze")
    _profile(db, user, "BRONZE")
    return user


def _put(api: Api, user: SignedIn, product_id: str, quantity: Any) -> requests.Response:
    return api.request(
        "PUT", "me", f"/cart/items/{product_id}", user=user, json={"quantity": quantity}
    )


def _cart(api: Api, user: SignedIn) -> dict[str, Any]:
    response = api.request("GET", "me", "/cart", user=user)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_the_cart_is_priced_for_the_callers_tier(
    api: Api, admin: SignedIn, catalogue: dict[str, str], gold: SignedIn, bronze: SignedIn
) -> None:
    response = api.request(
        "POST",
        "pricing",
        "/price-lists",
        user=admin,
        json={
            "name": "Gold 20%",
            "priority": 1,
            "tiers": ["GOLD"],
            "rules": [{"scope": "all", "kind": "percentage", "value": 20}],
        },
    )
    assert response.status_code == 201, response.text
    for user in (gold, bronze):
        assert _put(api, user, catalogue["pear"], 3).status_code == 201
        assert _put(api, user, catalogue["apple"], 1).status_code == 201
    cart = eventually(lambda: (c := _cart(api, gold))["total"] == 1599 and c, what="gold prices")
    assert (cart["tier"], cart["currency"], cart["subtotal"], cart["discount_total"]) == (
        "GOLD",
        "EUR",
        1999,
        400,
    )
    pear, apple = cart["lines"]
    assert (pear["product_id"], pear["quantity"], pear["name"], pear["sku"]) == (
        catalogue["pear"],
        3,
        "Pear",
        "PER-1",
    )
    assert pear["line_total"] == 799  # 3 x 333 x 0.8 = 799.2, half-even once per line
    assert pear["pricing"]["final_price"] == 266 and pear["pricing"]["tier"] == "GOLD"
    assert pear["pricing"]["applied_rule"]["price_list_name"] == "Gold 20%"
    assert (apple["line_total"], apple["unavailable"]) == (800, False)
    # The same engine as a quote for the same lines and caller.
    lines = [
        {"product_id": catalogue["pear"], "quantity": 3},
        {"product_id": catalogue["apple"], "quantity": 1},
    ]
    quote = api.request("POST", "pricing", "/quote", user=gold, json={"lines": lines}).json()
    assert (quote["subtotal"], quote["discount_total"], quote["total"]) == (1999, 400, 1599)
    plain = _cart(api, bronze)
    assert (plain["tier"], plain["subtotal"], plain["discount_total"], plain["total"]) == (
        "BRONZE",
        1999,
        0,
        1999,
    )
    assert plain["lines"][0]["pricing"]["applied_rule"] is None
    # A product taken off sale stays in the cart, flagged, out of the totals.
    assert (
        api.request("DELETE", "products", f"/{catalogue['apple']}", user=admin).status_code == 204
    )
    after = _cart(api, gold)
    apple = after["lines"][1]
    assert (apple["unavailable"], apple["unavailable_reason"], apple["pricing"]) == (
        True,
        "inactive",
        None,
    )
    assert (after["subtotal"], after["total"]) == (999, 799)
    problem(_put(api, gold, catalogue["apple"], 2), 404)
    assert (
        api.request("DELETE", "me", f"/cart/items/{catalogue['apple']}", user=gold).status_code
        == 204
    )
    assert [line["product_id"] for line in _cart(api, gold)["lines"]] == [catalogue["pear"]]


def _concurrently(api: Api, user: SignedIn, puts: list[tuple[str, int]]) -> list[int]:
    def one(put: tuple[str, int]) -> int:
        product_id, quantity = put
        response = requests.put(
            api.url("me", f"/cart/items/{product_id}"),
            headers=user.headers,
            json={"quantity": quantity},
            timeout=120,
        )
        assert response.status_code in (200, 201), response.text
        return response.status_code

    with ThreadPoolExecutor(max_workers=len(puts)) as pool:
        return list(pool.map(one, puts))


def test_concurrent_puts_lose_no_line_and_keep_one_line_per_product(
    api: Api, admin: SignedIn, catalogue: dict[str, str], bronze: SignedIn
) -> None:
    ids = [
        _post(
            api,
            admin,
            "products",
            {
                "sku": f"C-{i:02d}",
                "name": f"Item {i:02d}",
                "category_id": catalogue["fruit"],
                "base_price": 100 + i,
                "currency": "EUR",
            },
        )
        for i in range(20)
    ]
    statuses = _concurrently(api, bronze, [(pid, 2) for pid in ids])
    assert statuses == [201] * 20
    cart = _cart(api, bronze)
    assert sorted(line["product_id"] for line in cart["lines"]) == sorted(ids)
    assert cart["total"] == sum(2 * (100 + i) for i in range(20))

    quantities = list(range(1, 21))
    statuses = _concurrently(api, bronze, [(catalogue["pear"], q) for q in quantities])
    assert sorted(statuses) == [200] * 19 + [201]
    pears = [
        line for line in _cart(api, bronze)["lines"] if line["product_id"] == catalogue["pear"]
    ]
    assert len(pears) == 1 and pears[0]["quantity"] in quantities


def test_a_customer_only_ever_reaches_their_own_cart(
    api: Api, catalogue: dict[str, str], gold: SignedIn, bronze: SignedIn
) -> None:
    assert _put(api, gold, catalogue["pear"], 2).status_code == 201
    assert _cart(api, bronze)["lines"] == []
    # There is no path naming another customer's cart: every form of one is refused.
    for path in (
        f"/{gold.uid}/cart",
        f"/cart/{gold.uid}",
        f"/users/{gold.uid}/cart",
        f"/cart/items/{catalogue['pear']}/{gold.uid}",
    ):
        assert api.request("GET", "me", path, user=bronze).status_code == 404
    problem(api.request("GET", "me", f"/cart?uid={gold.uid}", user=bronze), 400)
    problem(api.request("GET", "me", "/cart"), 401)
    # The other customer's writes land in their own cart only.
    assert _put(api, bronze, catalogue["pear"], 9).status_code == 201
    assert (
        api.request("DELETE", "me", f"/cart/items/{catalogue['pear']}", user=bronze).status_code
        == 204
    )
    assert api.request("DELETE", "me", "/cart", user=bronze).status_code == 204
    lines = _cart(api, gold)["lines"]
    assert [(line["product_id"], line["quantity"]) for line in lines] == [(catalogue["pear"], 2)]
    assert api.request("DELETE", "me", "/cart", user=gold).status_code == 204
    assert _cart(api, gold)["lines"] == []


def test_cart_input_is_validated(api: Api, catalogue: dict[str, str], bronze: SignedIn) -> None:
    pear = catalogue["pear"]
    for quantity in (0, 1001, "2", 2.5):
        body = problem(_put(api, bronze, pear, quantity), 400)
        assert [e["field"] for e in body["errors"]] == ["quantity"]  # type: ignore[union-attr]
    unknown = problem(
        api.request(
            "PUT", "me", f"/cart/items/{pear}", user=bronze, json={"quantity": 1, "unit_price": 1}
        ),
        400,
    )
    assert [e["field"] for e in unknown["errors"]] == ["unit_price"]  # type: ignore[union-attr]
    problem(_put(api, bronze, "no-such-product", 1), 404)
    problem(api.request("PUT", "me", f"/cart/items/{pear}", json={"quantity": 1}), 401)
    assert _cart(api, bronze)["lines"] == []


def test_wishlist_flow(
    api: Api, admin: SignedIn, catalogue: dict[str, str], bronze: SignedIn, gold: SignedIn
) -> None:
    for name in ("apple", "pear", "bread"):
        first = api.request("PUT", "me", f"/wishlist/{catalogue[name]}", user=bronze)
        assert first.status_code == 201, first.text
    again = api.request("PUT", "me", f"/wishlist/{catalogue['pear']}", user=bronze)
    assert again.status_code == 200
    problem(api.request("PUT", "me", "/wishlist/no-such-product", user=bronze), 404)
    assert (
        api.request("DELETE", "products", f"/{catalogue['apple']}", user=admin).status_code == 204
    )
    page = api.request("GET", "me", "/wishlist?limit=2", user=bronze).json()
    rest = api.request(
        "GET", "me", f"/wishlist?limit=2&cursor={page['next_cursor']}", user=bronze
    ).json()
    items = page["items"] + rest["items"]
    assert [item["product_id"] for item in items] == [
        catalogue["bread"],
        catalogue["pear"],
        catalogue["apple"],
    ]  # newest first
    assert rest["next_cursor"] is None
    assert items[0]["product"]["name"] == "Bread" and items[0]["unavailable"] is False
    assert items[2]["product"]["sku"] == "APL-1" and items[2]["unavailable"] is True
    assert api.request("GET", "me", "/wishlist", user=gold).json()["items"] == []
    for _ in range(2):
        assert (
            api.request("DELETE", "me", f"/wishlist/{catalogue['pear']}", user=bronze).status_code
            == 204
        )
    left = api.request("GET", "me", "/wishlist", user=bronze).json()["items"]
    assert [item["product_id"] for item in left] == [catalogue["bread"], catalogue["apple"]]


def test_cart_and_wishlist_items_are_variants(
    api: Api, admin: SignedIn, bronze: SignedIn, shop: Callable[..., Shop]
) -> None:
    store = shop({"mug": 1})
    tee = _tee(api, admin, store)
    small, medium, large = (_variant(tee, size) for size in ("S", "M", "L"))
    for variant_id, quantity in ((small, 2), (medium, 1), (large, 1), (small, 3)):
        assert _put(api, bronze, variant_id, quantity).status_code in (200, 201)
    # A product with several variants names none of them: the caller must choose.
    for refused in (
        _put(api, bronze, tee["id"], 1),
        api.request("PUT", "me", f"/wishlist/{tee['id']}", user=bronze),
    ):
        body = problem(refused, 400)
        assert [e["field"] for e in body["errors"]] == ["variant_id"]  # type: ignore[union-attr]
    problem(_put(api, bronze, f"{small}x", 1), 404)

    cart = _cart(api, bronze)
    assert [
        (x["product_id"], x["variant_id"], x["sku"], x["options"], x["quantity"], x["line_total"])
        for x in cart["lines"]
    ] == [
        (tee["id"], small, f"{tee['sku']}-S", {"Size": "S"}, 3, 3000),
        (tee["id"], medium, f"{tee['sku']}-M", {"Size": "M"}, 1, 1000),
        (tee["id"], large, f"{tee['sku']}-L", {"Size": "L"}, 1, 1500),
    ]
    assert cart["total"] == 5500

    # A deactivated variant is flagged and left out of the totals; a deleted one reads missing.
    patch = api.request(
        "PATCH", "products", f"/{tee['id']}/variants/{medium}", user=admin, json={"active": False}
    )
    assert patch.status_code == 200, patch.text
    gone = api.request("DELETE", "products", f"/{tee['id']}/variants/{large}", user=admin)
    assert gone.status_code == 204, gone.text
    cart = _cart(api, bronze)
    assert [(x["variant_id"], x["unavailable_reason"]) for x in cart["lines"]] == [
        (small, None),
        (medium, "inactive"),
        (large, "missing"),
    ]
    assert cart["total"] == 3000
    problem(_put(api, bronze, medium, 2), 404)
    assert api.request("DELETE", "me", f"/cart/items/{large}", user=bronze).status_code == 204

    kept = api.request("PUT", "me", f"/wishlist/{small}", user=bronze)
    assert kept.status_code == 201, kept.text
    (item,) = api.request("GET", "me", "/wishlist", user=bronze).json()["items"]
    assert (item["product_id"], item["variant_id"], item["sku"], item["options"]) == (
        tee["id"],
        small,
        f"{tee['sku']}-S",
        {"Size": "S"},
    )
    assert item["unavailable"] is False and item["product"]["id"] == tee["id"]


def test_my_tier_shows_progress_towards_the_next(
    api: Api, auth: AuthEmulator, catalogue: dict[str, str], db: firestore.Client
) -> None:
    climber = auth.user("tier-climber@e2e.test", "password-climber")
    recent = [
        {
            "order_id": f"o{i}",
            "delivered_at": NOW - timedelta(days=2),
            "amount": 2_000,
            "refunded": False,
        }
        for i in range(1)
    ]
    _profile(db, climber, "SILVER", orders_count=8, lifetime_spend=30_000, recent_deliveries=recent)
    response = api.request("GET", "me", "/tier", user=climber)
    assert response.status_code == 200, response.text
    standing = response.json()
    assert (standing["tier"], standing["current"]["code"], standing["next"]["code"]) == (
        "SILVER",
        "SILVER",
        "GOLD",
    )
    assert standing["progress"] == [
        {"name": "min_orders", "current": 8, "required": 20, "percent": 40, "currency": None},
        {  # the stored scalar spend reads as EUR, the currency GOLD counts
            "name": "min_lifetime_spend",
            "current": 30_000,
            "required": 50_000,
            "percent": 60,
            "currency": "EUR",
        },
        {
            "name": "min_orders_last_30_days",
            "current": 1,
            "required": 2,
            "percent": 50,
            "currency": None,
        },
    ]
    top = auth.user("tier-top@e2e.test", "password-top")
    _profile(db, top, "PLATINUM", orders_count=80, lifetime_spend=500_000)
    at_top = api.request("GET", "me", "/tier", user=top).json()
    assert (at_top["current"]["code"], at_top["next"], at_top["progress"]) == ("PLATINUM", None, [])
    newcomer = auth.sign_up(f"tier-new-{NOW.timestamp():.0f}@e2e.test", "password-new")
    fresh = api.request("GET", "me", "/tier", user=newcomer).json()  # the profile is made now
    assert (fresh["tier"], fresh["next"]["code"]) == ("BRONZE", "SILVER")
    assert [p["current"] for p in fresh["progress"]] == [0, 0, 0]
    problem(api.request("GET", "me", "/tier"), 401)
