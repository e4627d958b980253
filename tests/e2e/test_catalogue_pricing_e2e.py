"""Products priced by tier through the functions emulator: lists, bands, windows, quotes, caches."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.cloud import firestore

from tests.e2e.conftest import Api, problem
from tests.support.emulators import PROJECT, eventually
from tools.devauth import AuthEmulator, SignedIn

pytestmark = pytest.mark.e2e


@pytest.fixture
def db() -> firestore.Client:
    return firestore.Client(project=PROJECT)


@pytest.fixture
def catalogue(api: Api, admin: SignedIn, db: firestore.Client) -> dict[str, Any]:
    """Tiers, a category tree and three products (prices in cents)."""
    for code, level, default in [("BRONZE", 1, True), ("SILVER", 2, False), ("GOLD", 3, False)]:
        db.collection("tiers").document(code).set(
            {
                "code": code,
                "name": code.title(),
                "level": level,
                "is_default": default,
                "requirements": {},
                "benefits": [],
            }
        )
    ids: dict[str, Any] = {}

    def post(function: str, body: dict[str, Any]) -> str:
        response = api.request("POST", function, user=admin, json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    ids["food"] = post("categories", {"name": "Food", "slug": "food"})
    ids["fruit"] = post("categories", {"name": "Fruit", "slug": "fruit", "parent_id": ids["food"]})
    ids["apple"] = post(
        "products",
        {
            "sku": "APL-1",
            "name": "Apple",
            "category_id": ids["fruit"],
            "base_price": 1000,
            "currency": "EUR",
        },
    )
    ids["pear"] = post(
        "products",
        {
            "sku": "PER-1",
            "name": "Pear",
            "category_id": ids["fruit"],
            "base_price": 333,
            "currency": "EUR",
        },
    )
    ids["bread"] = post(
        "products",
        {
            "sku": "BRD-1",
            "name": "Bread",
            "category_id": ids["food"],
            "base_price": 250,
            "currency": "EUR",
            "tags": ["bakery"],
        },
    )
    return ids


@pytest.fixture
def gold(auth: AuthEmulator, db: firestore.Client) -> SignedIn:
    user = auth.user("gold@e2e.test", "password-gold")
    db.collection("users").document(user.uid).set({"tier": "GOLD", "role": "customer"})
    return user


@pytest.fixture
def bronze(auth: AuthEmulator, db: firestore.Client) -> SignedIn:
    user = auth.user("bronze@e2e.test", "password-bronze")
    db.collection("users").document(user.uid).set({"tier": "BRONZE", "role": "customer"})
    return user


def _price_list(api: Api, admin: SignedIn, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "list")
    body.setdefault("priority", 10)
    response = api.request("POST", "pricing", "/price-lists", user=admin, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _price(api: Api, product_id: str, user: SignedIn | None = None, query: str = "") -> int:
    response = api.request("GET", "products", f"/{product_id}{query}", user=user)
    assert response.status_code == 200, response.text
    return int(response.json()["pricing"]["final_price"])


def test_tier_prices_reach_only_their_tier(
    api: Api, admin: SignedIn, catalogue: dict[str, Any], gold: SignedIn, bronze: SignedIn
) -> None:
    _price_list(
        api,
        admin,
        name="Gold 20%",
        tiers=["GOLD"],
        rules=[{"scope": "all", "kind": "percentage", "value": 20}],
    )
    apple = catalogue["apple"]
    eventually(lambda: _price(api, apple, gold) == 800, what="gold price")
    assert _price(api, apple, bronze) == 1000
    assert _price(api, apple) == 1000  # anonymous: the default tier (BRONZE)
    body = api.request("GET", "products", f"/{apple}", user=gold).json()
    assert body["pricing"] | {"applied_rule": None} == {
        "base_price": 1000,
        "final_price": 800,
        "currency": "EUR",
        "discount": 200,
        "tier": "GOLD",
        "applied_rule": None,
        "quantity": 1,
        "line_total": 800,
    }
    assert body["pricing"]["applied_rule"]["price_list_name"] == "Gold 20%"
    listed = api.request("GET", "products", "?sort=price", user=gold).json()["items"]
    assert [p["pricing"]["final_price"] for p in listed] == [200, 266, 800]


def test_bands_inheritance_and_ties(api: Api, admin: SignedIn, catalogue: dict[str, Any]) -> None:
    _price_list(
        api,
        admin,
        name="Bulk fruit",
        priority=5,
        rules=[
            {
                "scope": "category",
                "target_id": catalogue["food"],
                "kind": "fixed",
                "value": 100,
                "min_quantity": 10,
            },
        ],
    )
    _price_list(
        api,
        admin,
        name="Same price, worse priority",
        priority=7,
        rules=[
            {
                "scope": "product",
                "target_id": catalogue["apple"],
                "kind": "fixed",
                "value": 100,
                "min_quantity": 10,
            },
        ],
    )
    apple = catalogue["apple"]
    assert eventually(lambda: _price(api, apple, query="?quantity=10") == 900, what="band price")
    assert _price(api, apple, query="?quantity=9") == 1000  # below the band
    winner = api.request("GET", "products", f"/{apple}?quantity=10").json()["pricing"]
    assert winner["applied_rule"]["price_list_name"] == "Bulk fruit"  # priority 5 beats 7
    assert winner["line_total"] == 9000


def test_quote_totals_and_trace(
    api: Api, admin: SignedIn, catalogue: dict[str, Any], gold: SignedIn
) -> None:
    _price_list(
        api,
        admin,
        name="Gold 10%",
        tiers=["GOLD"],
        rules=[{"scope": "all", "kind": "percentage", "value": "10"}],
    )
    lines = [
        {"product_id": catalogue["pear"], "quantity": 3},
        {"product_id": catalogue["bread"], "quantity": 1},
    ]
    quote = api.request("POST", "pricing", "/quote", user=gold, json={"lines": lines}).json()
    assert quote["tier"] == "GOLD"
    assert quote["total"] == sum(line["line_total"] for line in quote["lines"])
    assert quote["subtotal"] - quote["discount_total"] == quote["total"]
    assert quote["lines"][0]["line_total"] == 899  # 3 x 333 x 0.9 = 899.1 → half-even once
    assert quote["lines"][0]["trace"][0]["won"] is True
    anon = api.request("POST", "pricing", "/quote", json={"lines": lines}).json()
    assert anon["total"] == 3 * 333 + 250
    bad = problem(
        api.request(
            "POST",
            "pricing",
            "/quote",
            json={
                "lines": [
                    {"product_id": "nope", "quantity": 1},
                    {"product_id": catalogue["pear"], "quantity": 0},
                    {"product_id": catalogue["pear"], "quantity": 1, "unit_price": 1},
                ]
            },
        ),
        400,
    )
    fields = {e["field"] for e in bad["errors"]}  # type: ignore[union-attr]
    assert {"lines[1].quantity", "lines[2].unit_price"} <= fields
    problem(
        api.request(
            "POST", "pricing", "/quote", json={"lines": [{"product_id": "nope", "quantity": 1}]}
        ),
        400,
    )


def test_admin_edit_shows_at_once_and_never_reverts(
    api: Api, admin: SignedIn, catalogue: dict[str, Any]
) -> None:
    created = _price_list(api, admin, rules=[{"scope": "all", "kind": "percentage", "value": 10}])
    apple = catalogue["apple"]
    eventually(lambda: _price(api, apple) == 900, what="first price")
    eventually(
        lambda: api.request("GET", "products", f"/{apple}").headers["X-Cache"] == "hit",
        what="a warm cache",
    )
    response = api.request(
        "PATCH",
        "pricing",
        f"/price-lists/{created['id']}",
        user=admin,
        json={"rules": [{"scope": "all", "kind": "percentage", "value": 50}]},
    )
    assert response.status_code == 200, response.text
    assert _price(api, apple) == 500  # the very next read
    for _ in range(10):
        assert _price(api, apple) == 500


def test_validity_window_starts_on_time_with_a_warm_cache(
    api: Api, admin: SignedIn, catalogue: dict[str, Any]
) -> None:
    starts = datetime.now(UTC) + timedelta(seconds=6)
    _price_list(
        api,
        admin,
        name="Flash sale",
        valid_from=starts.isoformat(),
        valid_until=(starts + timedelta(hours=1)).isoformat(),
        rules=[{"scope": "all", "kind": "percentage", "value": 30}],
    )
    apple = catalogue["apple"]
    eventually(
        lambda: api.request("GET", "products", f"/{apple}").headers["X-Cache"] == "hit",
        what="a warm cache",
    )
    assert _price(api, apple) == 1000
    time.sleep(max(0.0, (starts - datetime.now(UTC)).total_seconds()) + 1.5)
    assert _price(api, apple) == 700


def test_filters_sorting_and_paging(api: Api, admin: SignedIn, catalogue: dict[str, Any]) -> None:
    def names(query: str) -> list[str]:
        return [p["name"] for p in api.request("GET", "products", query).json()["items"]]

    assert names("") == ["Apple", "Bread", "Pear"]
    assert names(f"?category_id={catalogue['fruit']}") == ["Apple", "Pear"]
    assert names(f"?category_id={catalogue['food']}") == ["Apple", "Bread", "Pear"]
    assert names("?q=bak") == ["Bread"]
    assert names("?min_price=300&max_price=1000&sort=-price") == ["Apple", "Pear"]
    first = api.request("GET", "products", "?limit=2").json()
    second = api.request("GET", "products", f"?limit=2&cursor={first['next_cursor']}").json()
    assert [p["name"] for p in first["items"] + second["items"]] == ["Apple", "Bread", "Pear"]
    assert second["next_cursor"] is None
    problem(api.request("GET", "products", "?min_price=5&max_price=1"), 400)
    problem(api.request("GET", "products", "?in_stock=true"), 400)
    problem(api.request("GET", "products", "?sort=colour"), 400)
    problem(api.request("GET", "products", "?category_id=missing"), 400)


def test_product_upkeep(
    api: Api, admin: SignedIn, customer: SignedIn, catalogue: dict[str, Any]
) -> None:
    apple = catalogue["apple"]
    problem(
        api.request(
            "POST",
            "products",
            user=admin,
            json={
                "sku": "APL-1",
                "name": "Dup",
                "category_id": catalogue["fruit"],
                "base_price": 1,
                "currency": "EUR",
            },
        ),
        409,
    )
    bad = problem(
        api.request(
            "POST",
            "products",
            user=admin,
            json={
                "sku": "X",
                "name": "X",
                "category_id": "nope",
                "base_price": 1.5,
                "currency": "eur",
            },
        ),
        400,
    )
    assert {"base_price", "currency"} <= {e["field"] for e in bad["errors"]}  # type: ignore
    problem(api.request("POST", "products", user=customer, json={}), 403)
    assert api.request("DELETE", "products", f"/{apple}", user=admin).status_code == 204
    problem(api.request("GET", "products", f"/{apple}"), 404)
    assert api.request("GET", "products", f"/{apple}", user=admin).json()["active"] is False
    # Soft-deleted: the category still has a product, so it cannot be deleted.
    problem(api.request("DELETE", "categories", f"/{catalogue['fruit']}", user=admin), 409)


def test_price_list_validation(api: Api, admin: SignedIn, customer: SignedIn) -> None:
    problem(api.request("POST", "pricing", "/price-lists", user=customer, json={}), 403)
    problem(api.request("GET", "pricing", "/price-lists"), 401)
    bad = problem(
        api.request(
            "POST",
            "pricing",
            "/price-lists",
            user=admin,
            json={
                "name": "bad",
                "priority": 1,
                "rules": [
                    {"scope": "all", "kind": "percentage", "value": 150},
                    {"scope": "product", "kind": "fixed", "value": 0, "target_id": "p"},
                    {
                        "scope": "all",
                        "kind": "fixed",
                        "value": 5,
                        "min_quantity": 5,
                        "max_quantity": 2,
                    },
                ],
            },
        ),
        400,
    )
    fields = {e["field"] for e in bad["errors"]}  # type: ignore[union-attr]
    assert {"rules[0].value", "rules[1].value", "rules[2].max_quantity"} <= fields
    assert api.request("GET", "pricing", "/price-lists", user=admin).json()["items"] == []
