"""The order outbox through the functions emulator: an order placed, confirmed by its trigger
and cancelled by its owner shows ``order.placed``, ``order.confirmed`` and
``order.cancelled`` with sequences 1, 2, 3 in ``GET /events``, newest first; ``type=``
filters; only admins read the log."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from google.cloud import firestore

from tests.e2e.conftest import Api, Shop, problem
from tests.e2e.test_orders_e2e import order_body, place, settled
from tools.devauth import SignedIn

pytestmark = pytest.mark.e2e


def test_an_orders_life_is_in_the_event_log_newest_first(
    api: Api,
    admin: SignedIn,
    customers: list[SignedIn],
    shop: Callable[..., Shop],
    db: firestore.Client,
) -> None:
    store = shop({"kettle": 3})
    user = customers[3]
    placed = place(api, user, order_body(store, ("kettle", 1)), Prefer="wait=10")
    # 201 once settled within the wait; 202 when the trigger is slower (a loaded machine).
    assert placed.status_code in (201, 202), placed.text
    order = placed.json()
    assert settled(db, [order["id"]])[order["id"]] == "confirmed", order
    cancelled = api.request("POST", "orders", f"/{order['id']}/cancel", user=user)
    assert cancelled.status_code == 200, cancelled.text

    response = api.request("GET", "events", f"?aggregate_id={order['id']}", user=admin)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [(e["sequence"], e["type"]) for e in items] == [
        (3, "order.cancelled"),
        (2, "order.confirmed"),
        (1, "order.placed"),
    ]
    assert [e["id"] for e in items] == [f"order-{order['id']}-{n}" for n in (3, 2, 1)]
    assert all(e["aggregate"] == {"kind": "order", "id": order["id"]} for e in items)
    assert items[0]["data"]["status"] == "cancelled" and items[2]["data"]["status"] == "pending"
    assert items[0]["occurred_at"] >= items[1]["occurred_at"] >= items[2]["occurred_at"]
    assert response.json()["next_cursor"] is None

    page = api.request("GET", "events", f"?aggregate_id={order['id']}&limit=2", user=admin)
    cursor = page.json()["next_cursor"]
    assert [e["sequence"] for e in page.json()["items"]] == [3, 2] and cursor
    rest = api.request(
        "GET", "events", f"?aggregate_id={order['id']}&limit=2&cursor={cursor}", user=admin
    )
    assert [e["sequence"] for e in rest.json()["items"]] == [1]

    typed = api.request(
        "GET", "events", f"?type=order.confirmed&aggregate_id={order['id']}", user=admin
    )
    assert [e["type"] for e in typed.json()["items"]] == ["order.confirmed"]
    newest = api.request("GET", "events", "?type=order.cancelled&limit=100", user=admin)
    assert newest.status_code == 200, newest.text
    assert {e["type"] for e in newest.json()["items"]} == {"order.cancelled"}
    assert f"order-{order['id']}-3" in {e["id"] for e in newest.json()["items"]}

    problem(api.request("GET", "events", f"?aggregate_id={order['id']}", user=user), 403)
    problem(api.request("GET", "events", f"?aggregate_id={order['id']}"), 401)
    problem(api.request("GET", "events", "?type=nope", user=admin), 400)
