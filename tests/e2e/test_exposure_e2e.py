"""What public callers can learn and how often they can ask, through the functions emulator:
quotes (and product reads at a store) show a shopper only the price lists open to them and stock
up to the quantity asked for, and quotes are rate limited; every discount code that does not
apply gets one answer, and failed code attempts are rate limited (then every code is refused,
right or wrong).

The test stack keeps the per-caller limits of quotes and discount codes at their defaults
(tools/stack.py ``TEST_RATE_LIMITS`` lifts only the per-address ones).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.e2e.conftest import Api, Shop, problem
from tools.devauth import AuthEmulator, SignedIn

pytestmark = pytest.mark.e2e

QUOTE_LIMIT = os.environ.get("CELESTE_RATE_QUOTE_PER_USER", "30/60")
CODE_LIMIT = os.environ.get("CELESTE_RATE_DISCOUNT_CODE_PER_USER", "10/600")
QUOTES_PER_USER = int(QUOTE_LIMIT.split("/")[0])
CODES_PER_USER = int(CODE_LIMIT.split("/")[0])
PT = {"name": "Ana", "line1": "Rua 1", "city": "Lisboa", "postal_code": "1000-001", "country": "PT"}


def _created(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 201, (response.status_code, response.text[:500])
    return dict(response.json())


def _fresh(auth: AuthEmulator, name: str) -> SignedIn:
    return auth.user(f"{name}-{uuid.uuid4().hex[:8]}@e2e.test", f"password-{name}")


def _limit_window(limit: str, *, burst_s: float) -> None:
    """Start a burst of ``burst_s`` seconds at most inside one window of ``limit``
    (``N/SECONDS``): the sliding estimate lets a request past the limit through when a slow
    burst straddles a window boundary (by design: at most twice the limit in any window), which
    would turn the 429 the test expects into a 200."""
    window_s = int(limit.split("/")[1])
    left = window_s - time.time() % window_s
    if left < burst_s:
        time.sleep(left + 0.05)


# --- quotes ---------------------------------------------------------------------------------


def _price_list(api: Api, admin: SignedIn, name: str, **fields: Any) -> str:
    body = {
        "name": name,
        "priority": 1,
        "rules": [{"scope": "all", "kind": "percentage", "value": 10}],
        **fields,
    }
    created = _created(api.request("POST", "pricing", "/price-lists", user=admin, json=body))
    return str(created["id"])


def test_a_shoppers_quote_names_only_their_lists_and_stock_up_to_the_quantity(
    api: Api, admin: SignedIn, customer: SignedIn, shop: Callable[..., Shop]
) -> None:
    store = shop({"tea": 50})
    tea = store.products["tea"]
    later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    lists = {
        "open": _price_list(api, admin, "Everyone"),
        "tier": _price_list(api, admin, "Silver only", tiers=["SILVER"]),
        "scheduled": _price_list(api, admin, "Next month", valid_from=later),
        "off": _price_list(api, admin, "Switched off", active=False),
    }
    body = {"lines": [{"product_id": tea, "quantity": 3}], "store_id": store.store_id}

    def quoted(user: SignedIn | None) -> dict[str, Any]:
        response = api.request("POST", "pricing", "/quote", user=user, json=body)
        assert response.status_code == 200, response.text
        return dict(response.json()["lines"][0])

    for shopper in (None, customer):
        line = quoted(shopper)
        assert line["available"] == 3  # "all 3 you asked for", not "50 on hand"
        assert {entry["price_list_id"] for entry in line["trace"]} == {lists["open"]}
        assert line["unit_final_price"] == 900
    # The shop's own view is whole: exact stock, and every list with why it was left out.
    line = quoted(admin)
    assert line["available"] == 50
    rejected = {e["price_list_id"]: e["rejected"] for e in line["trace"] if e["rejected"]}
    assert rejected == {
        lists["tier"]: "tier",
        lists["scheduled"]: "not_started",
        lists["off"]: "inactive",
    }
    assert line["unit_final_price"] == 900
    # Short stock is still told exactly: that is what the shopper needs to know.
    short = {"lines": [{"product_id": tea, "quantity": 80}], "store_id": store.store_id}
    response = api.request("POST", "pricing", "/quote", json=short)
    assert response.status_code == 200 and response.json()["lines"][0]["available"] == 50


def test_a_shopper_reads_a_products_availability_only_up_to_the_quantity(
    api: Api, admin: SignedIn, customer: SignedIn, shop: Callable[..., Shop]
) -> None:
    store = shop({"tea": 50, "cup": 0})
    tea, where = store.products["tea"], f"store_id={store.store_id}"

    def one(user: SignedIn | None, quantity: int) -> int:
        response = api.request("GET", "products", f"/{tea}?{where}&quantity={quantity}", user=user)
        assert response.status_code == 200, response.text
        return int(response.json()["available"])

    def listed(user: SignedIn | None) -> dict[str, int]:
        response = api.request("GET", "products", f"?{where}", user=user)
        assert response.status_code == 200, response.text
        return {p["id"]: p["available"] for p in response.json()["items"]}

    assert one(None, 3) == one(customer, 3) == 3
    assert one(None, 80) == 50  # short: told exactly how many there are
    assert one(admin, 3) == 50
    assert listed(None) == {tea: 1, store.products["cup"]: 0}  # in stock, or not
    assert listed(admin) == {tea: 50, store.products["cup"]: 0}


def test_quotes_are_rate_limited_per_caller_with_retry_after(
    api: Api, auth: AuthEmulator, shop: Callable[..., Shop]
) -> None:
    store = shop({"tea": 5})
    body = {"lines": [{"product_id": store.products["tea"], "quantity": 1}]}
    flooder, calm = _fresh(auth, "quoter"), _fresh(auth, "calm-quoter")
    _limit_window(QUOTE_LIMIT, burst_s=10.0)
    statuses = [
        api.request("POST", "pricing", "/quote", user=flooder, json=body).status_code
        for _ in range(QUOTES_PER_USER)
    ]
    assert statuses == [200] * QUOTES_PER_USER
    refused = api.request("POST", "pricing", "/quote", user=flooder, json=body)
    assert str(problem(refused, 429)["type"]).endswith("/rate-limited")
    # At most the rest of this window and the slice of the next one the full window still
    # weighs (celeste.kernel.ratelimits.decide): window + window / requests.
    requests_n, window_s = (int(part) for part in QUOTE_LIMIT.split("/"))
    assert 1 <= int(refused.headers["Retry-After"]) <= window_s + -(-window_s // requests_n)
    # Everyone else is still served: another customer, and anonymous callers elsewhere.
    assert api.request("POST", "pricing", "/quote", user=calm, json=body).status_code == 200
    elsewhere = {"X-Forwarded-For": "198.51.100.77"}
    assert api.request("POST", "pricing", "/quote", json=body, headers=elsewhere).status_code == 200


# --- discount codes -------------------------------------------------------------------------


def _checkout_setup(api: Api, admin: SignedIn, shop: Callable[..., Shop]) -> Shop:
    store = shop({"tea": 100})
    method = {"code": "standard", "name": "Standard", "price": 500, "currency": "EUR"}
    _created(api.request("POST", "shipping", "/methods", user=admin, json=method))
    return store


def _code(api: Api, admin: SignedIn, code: str, **fields: Any) -> None:
    body = {"code": code, "kind": "percentage", "value": 10, **fields}
    _created(api.request("POST", "pricing", "/codes", user=admin, json=body))


def _with_tea(api: Api, user: SignedIn, store: Shop) -> None:
    put = api.request(
        "PUT", "me", f"/cart/items/{store.products['tea']}", user=user, json={"quantity": 1}
    )
    assert put.status_code in (200, 201), put.text


def _quote(api: Api, user: SignedIn, store: Shop, code: str) -> requests.Response:
    body = {"store_id": store.store_id, "shipping_address": PT, "discount_code": code}
    return api.request("POST", "checkout", "/quote", user=user, json=body)


def test_every_unusable_code_gets_one_answer_whether_it_exists_or_not(
    api: Api, admin: SignedIn, auth: AuthEmulator, shop: Callable[..., Shop]
) -> None:
    store = _checkout_setup(api, admin, shop)
    _code(api, admin, "SLEEPY", active=False)
    _code(api, admin, "VIPONLY", tiers=["SILVER"])
    _code(api, admin, "BIGSPEND", min_subtotal=1_000_000)
    _code(api, admin, "BYGONE", valid_until="2020-01-01T00:00:00Z")
    _code(api, admin, "SOON", valid_from=(datetime.now(UTC) + timedelta(days=9)).isoformat())
    _code(api, admin, "DOLLARS", kind="fixed", value=100, currency="USD")
    shopper = _fresh(auth, "guesser")
    _with_tea(api, shopper, store)
    answers = {}
    for code in ("NOSUCHCODE", "SLEEPY", "VIPONLY", "BIGSPEND", "BYGONE", "SOON", "DOLLARS"):
        body = problem(_quote(api, shopper, store, code), 400)
        answers[code] = (body["type"], body["title"], body["detail"], body["errors"])
    assert len(set(map(repr, answers.values()))) == 1, answers
    _, _, detail, errors = answers["NOSUCHCODE"]
    assert isinstance(errors, list) and [e["field"] for e in errors] == ["discount_code"]
    assert "NOSUCHCODE" not in str(detail)


def test_failed_code_attempts_are_rate_limited_then_every_code_is_refused(
    api: Api, admin: SignedIn, auth: AuthEmulator, shop: Callable[..., Shop]
) -> None:
    store = _checkout_setup(api, admin, shop)
    _code(api, admin, "REAL10")
    guesser, honest = _fresh(auth, "code-guesser"), _fresh(auth, "code-honest")
    for user in (guesser, honest):
        _with_tea(api, user, store)
    _limit_window(CODE_LIMIT, burst_s=30.0)
    # A code that applies uses none of the allowance, however often it is quoted.
    for _ in range(CODES_PER_USER + 2):
        assert _quote(api, guesser, store, "REAL10").status_code == 200
    for n in range(CODES_PER_USER):
        assert _quote(api, guesser, store, f"GUESS{n}").status_code == 400
    refused = _quote(api, guesser, store, "GUESS-MORE")
    assert str(problem(refused, 429)["type"]).endswith("/rate-limited")
    assert int(refused.headers["Retry-After"]) >= 1
    # Past the limit the right code is refused too: a 200 would tell the guesser it is real;
    # so is any other request that tries a code (placing an order with it).
    problem(_quote(api, guesser, store, "REAL10"), 429)
    order = {
        "store_id": store.store_id,
        "lines": [{"product_id": store.products["tea"], "quantity": 1}],
        "shipping_address": PT,
        "shipping_method": "standard",
        "discount_code": "REAL10",
    }
    problem(api.request("POST", "orders", user=guesser, json=order), 429)
    # Without a code the guesser still gets a quote, and other shoppers are unaffected.
    plain = {"store_id": store.store_id, "shipping_address": PT}
    assert api.request("POST", "checkout", "/quote", user=guesser, json=plain).status_code == 200
    assert _quote(api, honest, store, "REAL10").status_code == 200
    assert _quote(api, honest, store, "TYPO10").status_code == 400
