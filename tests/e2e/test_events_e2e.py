"""The order outbox through the functions emulator: an order placed, confirmed by its trigger
and cancelled by its owner shows ``order.placed``, ``order.confirmed`` and
``order.cancelled`` with sequences 1, 2, 3 in ``GET /events``, newest first; ``type=``
filters; only admins read the log. A product's writes and a stock level's flips are there
too, each under its own aggregate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


def _log(api: Api, admin: SignedIn, aggregate_id: str) -> list[dict[str, Any]]:
    response = api.request("GET", "events", f"?aggregate_id={aggregate_id}", user=admin)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_a_products_writes_are_in_the_event_log(
    api: Api, admin: SignedIn, shop: Callable[..., Shop]
) -> None:
    store = shop({"lamp": 0})
    pid = store.products["lamp"]
    updated = api.request("PATCH", "products", f"/{pid}", user=admin, json={"name": "Desk lamp"})
    assert updated.status_code == 200, updated.text
    assert updated.json()["revision"] == 2
    gone = api.request("DELETE", "products", f"/{pid}", user=admin)
    assert gone.status_code == 204, gone.text
    again = api.request("DELETE", "products", f"/{pid}", user=admin)  # inactive already
    assert again.status_code == 204, again.text
    items = _log(api, admin, pid)
    assert [(e["sequence"], e["type"]) for e in items] == [
        (3, "product.deleted"),
        (2, "product.updated"),
        (1, "product.created"),
    ]
    assert [e["id"] for e in items] == [f"product-{pid}-{n}" for n in (3, 2, 1)]
    assert all(e["aggregate"] == {"kind": "product", "id": pid} for e in items)
    assert items[2]["data"]["name"] == "Lamp" and items[1]["data"]["name"] == "Desk lamp"
    assert items[0]["data"]["active"] is False and items[0]["data"]["revision"] == 3
    typed = api.request("GET", "events", f"?type=product.deleted&aggregate_id={pid}", user=admin)
    assert [e["sequence"] for e in typed.json()["items"]] == [3]


def test_a_level_driven_low_then_out_then_back_tells_three_events(
    api: Api, admin: SignedIn, shop: Callable[..., Shop]
) -> None:
    store = shop({"torch": 0})  # a level created empty (threshold 1): nothing to tell
    pid = store.products["torch"]
    level_id = f"{store.store_id}__{pid}"
    assert _log(api, admin, level_id) == []
    for delta in (1, -1, 5, -1):  # 1: out -> low (back), 0: out, 5: back (ok), 4: ok
        adjusted = api.request(
            "POST",
            "inventory",
            f"/{store.store_id}/{pid}/adjustments",
            user=admin,
            json={"delta": delta, "reason": "count"},
        )
        assert adjusted.status_code == 201, adjusted.text
    put = api.request(
        "PUT",
        "inventory",
        f"/{store.store_id}/{pid}",
        user=admin,
        json={"on_hand": 1, "low_stock_threshold": 1},
    )
    assert put.status_code == 200, put.text  # 1 left at threshold 1: low
    items = _log(api, admin, level_id)
    assert [(e["sequence"], e["type"]) for e in items] == [
        (4, "stock.low"),
        (3, "stock.back_in_stock"),
        (2, "stock.out"),
        (1, "stock.back_in_stock"),
    ]
    assert all(e["aggregate"] == {"kind": "stock", "id": level_id} for e in items)
    assert [e["data"]["available"] for e in items] == [1, 5, 0, 1]
    assert [e["data"]["state"] for e in items] == ["low", "ok", "out", "low"]
