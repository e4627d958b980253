"""Orders and inventory through the functions emulator: concurrent checkouts never oversell,
every status moves stock and stats as docs/api.md says, triggers replayed change nothing, the
auditor stays clean after every scenario."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from google.cloud import firestore

from tests.e2e.conftest import Api, Shop, problem
from tests.support.emulators import eventually
from tools.devauth import AuthEmulator, SignedIn

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
#: The emulator starts one Python worker per concurrent request: the first burst is slow.
SLOW_S = 240


#: Where the orders of these tests are delivered: each test starts with no shipping methods or
#: tax rates, so a delivery here costs the goods alone.
ADDRESS = {"name": "Ana", "line1": "Rua 1", "city": "Lisboa", "country": "PT"}


def order_body(shop: Shop, *lines: tuple[str, int]) -> dict[str, Any]:
    return {
        "store_id": shop.store_id,
        "shipping_address": ADDRESS,
        "lines": [{"product_id": shop.products[name], "quantity": q} for name, q in lines],
    }


def place(api: Api, user: SignedIn, body: dict[str, Any], **headers: str) -> requests.Response:
    """POST /orders with a long timeout (a cold emulator worker takes a while to start)."""
    return api.session.post(
        api.url("orders"), json=body, timeout=SLOW_S, headers={**user.headers, **headers}
    )


def checkout(api: Api, user: SignedIn, body: dict[str, Any]) -> requests.Response:
    """POST /orders as a careful client does: with an ``Idempotency-Key``, retried on a 5xx, a
    dropped connection or an answer that is not ours (``Api.post_keyed``)."""
    headers = {**user.headers, "Idempotency-Key": f"checkout-{uuid.uuid4()}"}
    return api.post_keyed("orders", body, headers=headers, timeout_s=SLOW_S)


def outcome(responses: list[requests.Response]) -> list[tuple[int, str]]:
    """Status and the start of the body of each response that was not accepted."""
    return [(r.status_code, r.text[:200]) for r in responses if r.status_code not in (200, 202)]


def level(api: Api, admin: SignedIn, shop: Shop, name: str) -> dict[str, Any]:
    response = api.request(
        "GET", "inventory", f"/{shop.store_id}/{shop.products[name]}", user=admin
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def ledger(api: Api, admin: SignedIn, shop: Shop, name: str) -> list[dict[str, Any]]:
    response = api.request(
        "GET",
        "inventory",
        f"/{shop.store_id}/{shop.products[name]}/movements?limit=100",
        user=admin,
    )
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def settled(
    db: firestore.Client, order_ids: list[str], timeout_s: float = SLOW_S
) -> dict[str, str]:
    """Wait until no order is pending; their statuses by id."""

    def check() -> dict[str, str] | None:
        statuses = {
            s.id: (s.to_dict() or {}).get("status")
            for s in db.get_all([db.collection("orders").document(i) for i in order_ids])
        }
        return statuses if all(v != "pending" for v in statuses.values()) else None

    return eventually(check, timeout_s=timeout_s, what="every order to settle")  # type: ignore[return-value]


def order_of(api: Api, user: SignedIn, order_id: str) -> dict[str, Any]:
    response = api.request("GET", "orders", f"/{order_id}", user=user)
    assert response.status_code == 200, response.text
    return dict(response.json())


def audit_clean(api: Api, admin: SignedIn) -> dict[str, Any]:
    """The admin audit endpoint reports no drift and no pending effect."""
    report = api.request("GET", "inventory", "/audit", user=admin)
    assert report.status_code == 200, report.text
    body = dict(report.json())
    assert body["clean"] is True and body["drifts"] == [], body
    assert body["pending_effects"] == [], body
    return body


def wait_for_level(api: Api, admin: SignedIn, shop: Shop, name: str, **expected: int) -> None:
    eventually(
        lambda: all(level(api, admin, shop, name)[k] == v for k, v in expected.items()),
        timeout_s=60,
        what=f"{name} to reach {expected}",
    )


def move(api: Api, admin: SignedIn, order_id: str, status: str) -> dict[str, Any]:
    response = api.request(
        "POST", "orders", f"/{order_id}/status", user=admin, json={"status": status}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


# --- concurrency ------------------------------------------------------------------------------


def race_the_trigger(order_ids: list[str]) -> None:
    """Run ``on_order_created`` for every order from as many threads at once, racing the
    emulator's own deliveries. (The emulator delivers one Firestore event at a time, so only
    this makes reservations truly concurrent; in production the trigger instances run in
    parallel.)"""
    from celeste_functions.triggers import orders as handlers

    barrier = threading.Barrier(len(order_ids))

    def reserve(order_id: str) -> None:
        barrier.wait()
        handlers.on_order_created(
            SimpleNamespace(id=f"race-{order_id}", params={"order_id": order_id}, data=None)
        )

    with ThreadPoolExecutor(len(order_ids)) as pool:
        list(pool.map(reserve, order_ids))


def test_forty_concurrent_orders_for_ten_units_confirm_exactly_ten(
    api: Api,
    admin: SignedIn,
    customers: list[SignedIn],
    shop: Callable[..., Shop],
    db: firestore.Client,
) -> None:
    store = shop({"widget": 10})
    body = order_body(store, ("widget", 1))
    barrier = threading.Barrier(len(customers))

    def buy(user: SignedIn) -> requests.Response:
        barrier.wait()
        return checkout(api, user, body)

    with ThreadPoolExecutor(len(customers)) as pool:
        responses = list(pool.map(buy, customers))
    # 202, or 200 for a retry that found its first attempt's order already settled
    assert all(r.status_code in (200, 202) for r in responses), outcome(responses)
    race_the_trigger([r.json()["id"] for r in responses])
    statuses = settled(db, [r.json()["id"] for r in responses])
    assert sorted(statuses.values()).count("confirmed") == 10
    assert list(statuses.values()).count("rejected") == 30
    widget = level(api, admin, store, "widget")
    assert (widget["on_hand"], widget["reserved"], widget["available"]) == (10, 10, 0)
    assert widget["low_stock"] is True
    rows = ledger(api, admin, store, "widget")
    assert sorted(r["kind"] for r in rows) == ["reserve"] * 10 + ["set"]
    rejected = next(r.json()["id"] for r in responses if statuses[r.json()["id"]] == "rejected")
    owner = next(c for c, r in zip(customers, responses, strict=True) if r.json()["id"] == rejected)
    shortfall = order_of(api, owner, rejected)["shortfalls"][0]
    assert shortfall["product_id"] == store.products["widget"] and shortfall["requested"] == 1
    audit_clean(api, admin)


def test_concurrent_multi_line_orders_sharing_products_never_oversell(
    api: Api,
    admin: SignedIn,
    customers: list[SignedIn],
    shop: Callable[..., Shop],
    db: firestore.Client,
) -> None:
    store = shop({"bolt": 10, "nut": 15})
    bodies = [
        order_body(store, ("bolt", 1), ("nut", 1))
        if i % 2
        else order_body(store, ("nut", 1), ("bolt", 1))
        for i in range(40)
    ]
    barrier = threading.Barrier(40)

    def buy(i: int) -> requests.Response:
        barrier.wait()
        return checkout(api, customers[i % 20], bodies[i])  # twenty customers, two each

    with ThreadPoolExecutor(40) as pool:
        responses = list(pool.map(buy, range(40)))
    assert all(r.status_code in (200, 202) for r in responses), outcome(responses)
    race_the_trigger([r.json()["id"] for r in responses])
    statuses = settled(db, [r.json()["id"] for r in responses])
    assert list(statuses.values()).count("confirmed") == 10
    bolt, nut = level(api, admin, store, "bolt"), level(api, admin, store, "nut")
    assert (bolt["reserved"], bolt["available"]) == (10, 0)
    assert (nut["reserved"], nut["available"]) == (10, 5)
    audit_clean(api, admin)


def test_concurrent_cancels_release_exactly_once(
    api: Api,
    admin: SignedIn,
    customers: list[SignedIn],
    shop: Callable[..., Shop],
) -> None:
    store = shop({"lamp": 3})
    owner = customers[0]
    created = place(api, owner, order_body(store, ("lamp", 2)), Prefer="wait=10")
    assert created.status_code == 201 and created.json()["status"] == "confirmed", created.text
    order_id = created.json()["id"]
    barrier = threading.Barrier(8)

    def cancel(i: int) -> requests.Response:
        barrier.wait()
        return api.session.post(
            api.url("orders", f"/{order_id}/cancel"),
            timeout=SLOW_S,
            headers=(owner if i % 2 else admin).headers,
        )

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(cancel, range(8)))
    assert sorted(r.status_code for r in responses) == [200] + [409] * 7, [
        r.text for r in responses
    ]
    wait_for_level(api, admin, store, "lamp", reserved=0, available=3)
    kinds = [r["kind"] for r in ledger(api, admin, store, "lamp")]
    assert kinds.count("release") == 1 and kinds.count("reserve") == 1
    history = [c["status"] for c in order_of(api, owner, order_id)["history"]]
    assert history == ["pending", "confirmed", "cancelled"]
    audit_clean(api, admin)


# --- triggers replayed ------------------------------------------------------------------------


class _Snapshot:
    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def to_dict(self) -> dict[str, Any]:
        return self._data


def _stock_state(db: firestore.Client, store: Shop) -> list[Any]:
    levels = [
        db.document(f"stores/{store.store_id}/inventory/{pid}").get().to_dict()
        for pid in store.products.values()
    ]
    rows = sorted(
        s.id
        for pid in store.products.values()
        for s in db.collection(f"stores/{store.store_id}/inventory/{pid}/movements").stream()
    )
    return [levels, rows]


def test_calling_the_handlers_twice_with_the_same_event_changes_nothing(
    api: Api,
    admin: SignedIn,
    customers: list[SignedIn],
    shop: Callable[..., Shop],
    db: firestore.Client,
) -> None:
    from celeste_functions.triggers import orders as handlers

    store = shop({"kettle": 5})
    user = customers[1]
    created = place(api, user, order_body(store, ("kettle", 2)), Prefer="wait=10")
    order_id = created.json()["id"]
    assert settled(db, [order_id]) == {order_id: "confirmed"}  # a loaded machine may answer 202
    # The confirmation's own trigger records the PaymentIntent asynchronously: the snapshot to
    # compare against is taken once that is done, so only the replays could change it.
    order_ref = db.document(f"orders/{order_id}")
    eventually(
        lambda: (order_ref.get().to_dict() or {}).get("payment") is not None,
        timeout_s=SLOW_S,
        what="the confirmed order's PaymentIntent to be recorded",
    )
    create_event = SimpleNamespace(
        id="replayed-create", params={"order_id": order_id}, data=_Snapshot({"status": "pending"})
    )
    before = _stock_state(db, store), order_ref.get().to_dict()
    handlers.on_order_created(create_event)
    handlers.on_order_created(create_event)
    assert (_stock_state(db, store), db.document(f"orders/{order_id}").get().to_dict()) == before

    cancelled = api.request("POST", "orders", f"/{order_id}/cancel", user=user)
    assert cancelled.status_code == 200
    wait_for_level(api, admin, store, "kettle", reserved=0)
    released = _stock_state(db, store)
    cancel_event = SimpleNamespace(
        id="replayed-cancel",
        params={"order_id": order_id},
        data=SimpleNamespace(
            before=_Snapshot({"status": "confirmed"}), after=_Snapshot({"status": "cancelled"})
        ),
    )
    handlers.on_order_updated(cancel_event)
    handlers.on_order_updated(cancel_event)
    assert _stock_state(db, store) == released
    assert [r["kind"] for r in ledger(api, admin, store, "kettle")].count("release") == 1
    audit_clean(api, admin)


# --- every status, through the API ------------------------------------------------------------


def test_ship_deliver_refund_move_stock_stats_and_tier(
    api: Api,
    admin: SignedIn,
    auth: AuthEmulator,
    shop: Callable[..., Shop],
) -> None:
    store = shop({"chair": 4}, price=2_500)
    user = auth.user(f"buyer-{uuid.uuid4().hex[:6]}@e2e.test", "password-buyer")
    me = api.request("GET", "me", user=user).json()
    assert (me["tier"], me["stats"]["orders_count"]) == ("BRONZE", 0)
    created = place(api, user, order_body(store, ("chair", 3)), Prefer="wait=10")
    assert created.status_code == 201 and created.json()["status"] == "confirmed"
    order_id = created.json()["id"]
    assert created.json()["total"] == 7_500 and created.json()["hold_expires_at"]
    wait_for_level(api, admin, store, "chair", on_hand=4, reserved=3, available=1)

    move(api, admin, order_id, "processing")
    problem(api.request("POST", "orders", f"/{order_id}/cancel", user=user), 409)
    move(api, admin, order_id, "shipped")
    wait_for_level(api, admin, store, "chair", on_hand=1, reserved=0, available=1)
    problem(api.request("POST", "orders", f"/{order_id}/cancel", user=admin), 409)

    move(api, admin, order_id, "delivered")

    def stats() -> dict[str, Any]:
        return dict(api.request("GET", "me", user=user).json())

    delivered = eventually(
        lambda: (s := stats())["stats"]["orders_count"] == 1 and s,
        timeout_s=60,
        what="the delivery to count",
    )
    assert delivered["stats"]["lifetime_spend"] == {"EUR": 7_500}
    assert delivered["stats"]["orders_last_30_days"] == 1
    assert delivered["tier"] == "SILVER"

    move(api, admin, order_id, "refunded")
    refunded = eventually(
        lambda: (s := stats())["stats"]["orders_count"] == 0 and s,
        timeout_s=60,
        what="the refund to reverse",
    )
    assert refunded["stats"]["lifetime_spend"] == {} and refunded["tier"] == "BRONZE"
    assert level(api, admin, store, "chair")["on_hand"] == 1  # a refund does not restock
    problem(
        api.request(
            "POST", "orders", f"/{order_id}/status", user=admin, json={"status": "confirmed"}
        ),
        409,
    )
    audit_clean(api, admin)


def test_cancel_releases_and_expiry_releases(
    api: Api,
    admin: SignedIn,
    customers: list[SignedIn],
    shop: Callable[..., Shop],
    db: firestore.Client,
) -> None:
    from celeste_functions.triggers.orders import expire_due

    store = shop({"mug": 5})
    user = customers[2]
    first = place(api, user, order_body(store, ("mug", 2)), Prefer="wait=10").json()
    second = place(api, user, order_body(store, ("mug", 3)), Prefer="wait=10").json()
    assert (first["status"], second["status"]) == ("confirmed", "confirmed")
    wait_for_level(api, admin, store, "mug", reserved=5, available=0)

    api.request("POST", "orders", f"/{first['id']}/cancel", user=user)
    wait_for_level(api, admin, store, "mug", reserved=3, available=2)

    report = expire_due(datetime.now(UTC) + timedelta(minutes=16))
    assert report.expired == 1
    assert order_of(api, user, second["id"])["status"] == "expired"
    wait_for_level(api, admin, store, "mug", on_hand=5, reserved=0, available=5)
    kinds = sorted(r["kind"] for r in ledger(api, admin, store, "mug"))
    assert kinds == ["release", "release", "reserve", "reserve", "set"]
    audit_clean(api, admin)
    command = subprocess.run(
        [sys.executable, str(ROOT / "tools/audit.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert command.returncode == 0, command.stdout + command.stderr
    assert "clean" in command.stdout


# --- the contract at the edges ----------------------------------------------------------------


def test_idempotency_key_and_prefer_wait(
    api: Api,
    admin: SignedIn,
    customers: list[SignedIn],
    shop: Callable[..., Shop],
    db: firestore.Client,
) -> None:
    store = shop({"pen": 2})
    user, key = customers[3], {"Idempotency-Key": f"checkout-{uuid.uuid4()}"}
    first = place(api, user, order_body(store, ("pen", 1)), **key)
    assert first.status_code == 202 and first.json()["status"] == "pending"
    settled(db, [first.json()["id"]], timeout_s=60)
    again = place(api, user, order_body(store, ("pen", 1)), **key)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"] and again.json()["status"] == "confirmed"
    conflict = place(api, user, order_body(store, ("pen", 2)), **key)
    assert "Idempotency-Key" in str(problem(conflict, 409)["detail"])
    assert len(list(db.collection("orders").stream())) == 1
    keys = list(db.collection("idempotency_keys").stream())
    assert len(keys) == 1 and keys[0].id.startswith(f"{user.uid}-")
    assert (keys[0].to_dict() or {})["expires_at"] > datetime.now(UTC) + timedelta(hours=23)

    waited = place(api, user, order_body(store, ("pen", 1)), Prefer="wait=10")
    assert waited.status_code == 201 and waited.json()["status"] == "confirmed"
    assert waited.headers["Preference-Applied"] == "wait=10"
    short = place(api, user, order_body(store, ("pen", 1)), Prefer="wait=10")
    assert short.status_code == 201 and short.json()["status"] == "rejected"
    assert short.json()["shortfalls"] == [
        {"product_id": store.products["pen"], "requested": 1, "available": 0}
    ]


def test_bad_orders_are_problems_and_write_nothing(
    api: Api,
    admin: SignedIn,
    customers: list[SignedIn],
    shop: Callable[..., Shop],
    db: firestore.Client,
) -> None:
    store = shop({"cup": 5, "saucer": 5})
    api.request("DELETE", "products", f"/{store.products['saucer']}", user=admin)
    user = customers[4]
    cases = [
        ({**order_body(store, ("cup", 1)), "store_id": "no-such-store"}, "store_id"),
        (
            {**order_body(store), "lines": [{"product_id": "ghost", "quantity": 1}]},
            "lines[0].product_id",
        ),
        (order_body(store, ("cup", 1), ("saucer", 1)), "lines[1].product_id"),
        # One line per product: a split quantity would be priced (and rounded) per part.
        (order_body(store, ("cup", 1), ("cup", 2)), "lines[1].product_id"),
        # A delivery needs an address: without one no shipping or tax could be charged.
        ({**order_body(store, ("cup", 1)), "shipping_address": None}, "shipping_address"),
        (order_body(store, ("cup", 0)), "lines[0].quantity"),
        (order_body(store, ("cup", 10**9)), "lines[0].quantity"),
        (
            {
                **order_body(store),
                "lines": [{"product_id": store.products["cup"], "quantity": 1, "unit_price": 1}],
            },
            "lines[0].unit_price",
        ),
    ]
    for body, field in cases:
        response = place(api, user, body)
        assert field in [e["field"] for e in problem(response, 400)["errors"]], response.text
    problem(
        api.session.post(api.url("orders"), json=order_body(store, ("cup", 1)), timeout=60), 401
    )
    assert list(db.collection("orders").limit(1).stream()) == []
    mine = place(api, user, order_body(store, ("cup", 1))).json()
    problem(api.request("GET", "orders", f"/{mine['id']}", user=customers[5]), 404)
    problem(api.request("POST", "orders", f"/{mine['id']}/cancel", user=customers[5]), 404)
    problem(api.request("GET", "inventory", "/", user=user), 403)
    settled(db, [mine["id"]], timeout_s=60)
    audit_clean(api, admin)
