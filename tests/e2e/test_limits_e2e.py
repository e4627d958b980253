"""Fair use through the functions emulator: rate limits answer 429 with ``Retry-After`` to the
caller or address over its limit while everyone else is served; one customer cannot hold more
than the caps on open unpaid orders.

The test stack sets the limits (tools/stack.py ``TEST_RATE_LIMITS``): 12 orders a minute per
customer and 30 registrations per 10 minutes per address.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.conftest import Api, Shop, problem
from tests.e2e.test_orders_e2e import checkout, order_body, place
from tools.devauth import AuthEmulator

pytestmark = pytest.mark.e2e

ORDERS_PER_USER = int(os.environ.get("CELESTE_RATE_ORDERS_PER_USER", "12/60").split("/")[0])
REGISTER_PER_IP = int(os.environ.get("CELESTE_RATE_REGISTER_PER_IP", "30/600").split("/")[0])


def test_an_order_burst_beyond_the_limit_is_429_and_other_customers_are_served(
    api: Api,
    auth: AuthEmulator,
    shop: Callable[..., Shop],
) -> None:
    store = shop({"tea": 500})
    flooder = auth.user(f"flood-{uuid.uuid4().hex[:6]}@e2e.test", "password-flood")
    other = auth.user(f"calm-{uuid.uuid4().hex[:6]}@e2e.test", "password-calm")
    for _ in range(ORDERS_PER_USER):
        placed = place(api, flooder, order_body(store, ("tea", 1)))
        assert placed.status_code == 202, placed.text
        # Cancelled straight away, so the hold caps never get in the way of the burst.
        order_id = placed.json()["id"]
        cancelled = api.request("POST", "orders", f"/{order_id}/cancel", user=flooder)
        assert cancelled.status_code == 200, cancelled.text
    refused = place(api, flooder, order_body(store, ("tea", 1)))
    body = problem(refused, 429)
    assert str(body["type"]).endswith("/rate-limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 120
    # Legitimate traffic around the burst: another customer orders, the flooder still reads.
    assert place(api, other, order_body(store, ("tea", 1))).status_code == 202
    assert api.request("GET", "orders", "/", user=flooder).status_code == 200
    again = place(api, flooder, order_body(store, ("tea", 1)))
    assert again.status_code == 429 and "Retry-After" in again.headers


def _register(api: Api, address: str) -> int:
    tag = uuid.uuid4().hex[:10]
    response = api.request(
        "POST",
        "auth",
        "/register",
        json={"email": f"r-{tag}@e2e.test", "password": "password-r", "display_name": "R"},
        headers={"X-Forwarded-For": address},
    )
    if response.status_code == 429:
        problem(response, 429)
        assert int(response.headers["Retry-After"]) >= 1
    return response.status_code


def test_registrations_are_limited_per_address(api: Api) -> None:
    flood, calm = "198.51.100.20", "198.51.100.21"
    statuses = [_register(api, flood) for _ in range(REGISTER_PER_IP)]
    assert statuses == [201] * REGISTER_PER_IP
    assert _register(api, flood) == 429
    assert _register(api, calm) == 201  # another address is unaffected
    assert _register(api, flood) == 429


MAX_OPEN = int(os.environ.get("CELESTE_HOLD_MAX_OPEN_ORDERS", "5"))
MAX_UNITS = int(os.environ.get("CELESTE_HOLD_MAX_UNITS_PER_PRODUCT", "20"))


def test_one_customer_cannot_hold_more_than_the_caps(
    api: Api,
    auth: AuthEmulator,
    shop: Callable[..., Shop],
) -> None:
    store = shop({"tea": 100, "cup": 100})
    hoarder = auth.user(f"hoard-{uuid.uuid4().hex[:6]}@e2e.test", "password-hoard")
    other = auth.user(f"fair-{uuid.uuid4().hex[:6]}@e2e.test", "password-fair")
    # The whole stock at once: refused at placement, nothing written.
    body = problem(place(api, hoarder, order_body(store, ("tea", 100))), 409)
    assert str(body["type"]).endswith("/hold-limit") and str(MAX_UNITS) in str(body["detail"])
    assert api.request("GET", "orders", "/", user=hoarder).json()["items"] == []
    # Up to the cap is fine (and confirmed: the stock is held) ...
    held = place(api, hoarder, order_body(store, ("tea", MAX_UNITS)), Prefer="wait=10")
    assert held.status_code in (201, 202), held.text
    # ... one unit more is not, while everyone else still buys.
    problem(place(api, hoarder, order_body(store, ("tea", 1))), 409)
    assert place(api, other, order_body(store, ("tea", MAX_UNITS))).status_code == 202
    # Cancelling gives the allowance back.
    order_id = held.json()["id"]
    assert api.request("POST", "orders", f"/{order_id}/cancel", user=hoarder).status_code == 200
    assert place(api, hoarder, order_body(store, ("tea", 1))).status_code == 202


def test_concurrent_orders_of_one_customer_never_pass_the_open_order_cap(
    api: Api,
    auth: AuthEmulator,
    shop: Callable[..., Shop],
) -> None:
    store = shop({"cup": 100})
    burst = auth.user(f"burst-{uuid.uuid4().hex[:6]}@e2e.test", "password-burst")
    tries = MAX_OPEN + 4
    barrier = threading.Barrier(tries)

    def one(_: int) -> int:
        barrier.wait()
        # Retried on a cold worker's 5xx with the same key (a replay answers 200 or 202).
        status = checkout(api, burst, order_body(store, ("cup", 1))).status_code
        return 202 if status == 200 else status

    with ThreadPoolExecutor(tries) as pool:
        statuses = list(pool.map(one, range(tries)))
    assert sorted(statuses) == [202] * MAX_OPEN + [409] * (tries - MAX_OPEN), statuses
    mine = api.request("GET", "orders", "/", user=burst).json()["items"]
    assert len(mine) == MAX_OPEN
