"""The ``orders`` and ``inventory`` functions and the order triggers over in-memory fakes: input
validation (nothing written on a 400), who may see and move what, idempotency and
``Prefer: wait`` headers, and triggers called twice with the same event."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
from flask import Response

from celeste.inventory.records import StockPut
from celeste.orders.status import OrderStatus
from celeste.services.accounts import AccountService
from celeste.services.fulfilment import OrderFulfilment
from celeste.services.inventory import InventoryService, StockAuditor
from celeste.services.payment_events import PaymentEventService
from celeste.services.payments import PaymentService
from celeste.services.placing import OrderService
from celeste.services.pricing import PricingService
from celeste.services.refunds import Refunds
from celeste.services.retry import Backoff
from celeste_functions import clients, composition
from celeste_functions.adapters.cache import Cache
from celeste_functions.composition import Services
from celeste_functions.http.auth import Caller
from celeste_functions.resources import inventory as inventory_resource
from celeste_functions.resources import orders as orders_resource
from celeste_functions.triggers import orders as order_triggers
from tests.fakes import (
    DELIVERY_ADDRESS,
    FakeIdentity,
    FakeStripe,
    InMemoryCatalogue,
    InMemoryCommerce,
    InMemoryPaymentRecords,
    InMemoryProfiles,
    InventoryView,
    ladder,
)
from tests.support.handlers import assert_problem, body_of, call, use_test_tokens

ADMIN = Caller(uid="admin-1", email="admin@unit.test", role="admin")
ALICE = Caller(uid="alice", email="alice@unit.test", role="customer")
BOB = Caller(uid="bob", email="bob@unit.test", role="customer")
TOKENS = {"admin": ADMIN, "alice": ALICE, "bob": BOB}
STORE = "store-1"
FAST = Backoff(attempts=20, base_s=0.0, cap_s=0.0, budget_s=60.0)


def as_(who: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {who}", **extra}


@dataclass
class Wired:
    commerce: InMemoryCommerce
    catalogue: InMemoryCatalogue
    profiles: InMemoryProfiles
    fulfilment: OrderFulfilment


@pytest.fixture(autouse=True)
def wired() -> Iterator[Wired]:
    commerce = InMemoryCommerce()
    commerce.stores = {STORE: True, "closed": False}
    catalogue = InMemoryCatalogue()
    catalogue.add("apple", price=250)
    catalogue.add("pear", price=199)
    catalogue.add("retired", price=100, active=False)
    profiles = InMemoryProfiles()
    view = InventoryView(commerce)
    pricing = PricingService(source=catalogue, products=catalogue, tiers=catalogue)
    fulfilment = OrderFulfilment(
        orders=commerce,
        inventory=view,
        writer=commerce,
        customers=commerce,
        tiers=commerce,
        backoff=FAST,
    )
    stripe = FakeStripe()
    records = InMemoryPaymentRecords()
    refunds = Refunds(
        orders=commerce, writer=commerce, inventory=view, provider=lambda: stripe, backoff=FAST
    )
    events = PaymentEventService(
        orders=commerce,
        writer=commerce,
        records=records,
        provider=lambda: stripe,
        refunds=refunds,
        backoff=FAST,
        request_backoff=FAST,
    )
    composition.use(
        Services(
            cache=Cache(client=lambda: None, ttl_s=60),
            orders=OrderService(
                orders=commerce,
                writer=commerce,
                pricing=pricing,
                stores=commerce,
                accounts=AccountService(
                    profiles=profiles, identity=FakeIdentity(), tiers=ladder({"BRONZE": True})
                ),
                backoff=FAST,
                sleep=lambda _: None,
            ),
            fulfilment=fulfilment,
            inventory=InventoryService(
                inventory=view,
                writer=commerce,
                stores=commerce,
                products=catalogue,
                backoff=FAST,
            ),
            auditor=StockAuditor(inventory=view, orders=commerce),
            payments=PaymentService(
                orders=commerce,
                writer=commerce,
                records=records,
                provider=lambda: stripe,
                refunds=refunds,
                events=events,
                backoff=FAST,
                request_backoff=FAST,
            ),
            payment_events=events,
        )
    )
    yield Wired(commerce, catalogue, profiles, fulfilment)
    composition.services.reset()


@pytest.fixture(autouse=True)
def test_tokens(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    use_test_tokens(monkeypatch, TOKENS)
    yield
    assert clients.firebase_app._value is clients._UNSET, "a unit test reached Firebase"
    assert clients.firestore_client._value is clients._UNSET, "a unit test reached Firestore"


def orders(method: str, path: str = "/", **kw: Any) -> Response:
    return call(orders_resource.router, method, path, **kw)


def inventory(method: str, path: str = "/", **kw: Any) -> Response:
    return call(inventory_resource.router, method, path, **kw)


problem = assert_problem


def fields(response: Response) -> list[str]:
    return [e["field"] for e in problem(response, 400).get("errors", [])]


def order_body(*lines: tuple[str, int], store: str = STORE) -> dict[str, Any]:
    return {
        "store_id": store,
        "shipping_address": DELIVERY_ADDRESS.model_dump(exclude_none=True),
        "lines": [{"product_id": p, "quantity": q} for p, q in lines],
    }


def stock(wired: Wired, product: str, on_hand: int) -> None:
    composition.services.get().inventory.put(
        store_id=STORE,
        variant_id=product,
        body=StockPut(on_hand=on_hand),
        actor="admin:t",
        expected_version=None,
    )


def placed(wired: Wired, *lines: tuple[str, int], who: str = "alice") -> dict[str, Any]:
    response = orders("POST", json_body=order_body(*lines), headers=as_(who))
    assert response.status_code == 202, response.get_data(as_text=True)
    return cast(dict[str, Any], body_of(response))


# --- POST /orders: validation writes nothing --------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (order_body(("apple", 0)), "lines[0].quantity"),
        (order_body(("apple", 10**9)), "lines[0].quantity"),
        (order_body(("apple", 1), ("pear", -1)), "lines[1].quantity"),
        (order_body(("apple", "2")), "lines[0].quantity"),  # type: ignore[arg-type]
        (order_body(("apple", 1.5)), "lines[0].quantity"),  # type: ignore[arg-type]
        (
            {
                **order_body(("apple", 1)),
                "lines": [{"product_id": "apple", "quantity": 1, "unit_price": 1}],
            },
            "lines[0].unit_price",
        ),
        ({**order_body(("apple", 1)), "total": 1}, "total"),
        ({**order_body(("apple", 1)), "status": "confirmed"}, "status"),
        (order_body(("ghost", 1)), "lines[0].product_id"),
        (order_body(("apple", 1), ("retired", 1)), "lines[1].product_id"),
        (order_body(("apple", 1), store="nowhere"), "store_id"),
        (order_body(("apple", 1), store="closed"), "store_id"),
        (order_body(("bad/id", 1)), "lines[0].product_id"),
        ({"store_id": STORE, "lines": []}, "lines"),
        ({"lines": [{"product_id": "apple", "quantity": 1}]}, "store_id"),
    ],
)
def test_bad_orders_are_400_naming_the_field_and_write_nothing(
    wired: Wired, body: dict[str, Any], field: str
) -> None:
    response = orders("POST", json_body=body, headers=as_("alice"))
    assert field in fields(response)
    assert wired.commerce.orders == {} and wired.commerce.keys == {}
    assert wired.commerce.commits == 0


def test_placing_needs_a_signed_in_caller(wired: Wired) -> None:
    problem(orders("POST", json_body=order_body(("apple", 1))), 401)


def test_placing_answers_202_with_the_pending_priced_order(wired: Wired) -> None:
    response = orders("POST", json_body=order_body(("apple", 2)), headers=as_("alice"))
    assert response.status_code == 202
    order = body_of(response)
    assert order["status"] == "pending" and order["total"] == 500
    assert order["lines"][0]["unit_final_price"] == 250 and order["currency"] == "EUR"
    assert response.headers["Location"] == f"orders/{order['id']}"
    assert response.headers["ETag"]
    # The first order of a customer without a profile makes one (stats land there later).
    assert wired.profiles.get("alice").value.tier == "BRONZE"


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "ключ"])
def test_an_invalid_idempotency_key_is_400(wired: Wired, key: str) -> None:
    response = orders(
        "POST", json_body=order_body(("apple", 1)), headers=as_("alice", **{"Idempotency-Key": key})
    )
    assert fields(response) == ["Idempotency-Key"]
    assert wired.commerce.orders == {}


def test_idempotency_key_replay_and_conflict(wired: Wired) -> None:
    headers = as_("alice", **{"Idempotency-Key": "order-123"})
    first = orders("POST", json_body=order_body(("apple", 1)), headers=headers)
    assert first.status_code == 202 and "Idempotent-Replayed" not in first.headers
    again = orders("POST", json_body=order_body(("apple", 1)), headers=headers)
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert body_of(again)["id"] == body_of(first)["id"]
    wired.fulfilment.reserve(body_of(first)["id"])
    settled = orders("POST", json_body=order_body(("apple", 1)), headers=headers)
    assert settled.status_code == 200 and body_of(settled)["status"] == "rejected"
    conflict = orders("POST", json_body=order_body(("apple", 2)), headers=headers)
    assert "Idempotency-Key" in problem(conflict, 409)["detail"]
    assert len(wired.commerce.orders) == 1


def test_prefer_wait_answers_201_once_settled(
    wired: Wired, monkeypatch: pytest.MonkeyPatch
) -> None:
    stock(wired, "apple", 3)
    service = composition.services.get().orders

    def trigger_runs(_: float) -> None:
        for order_id in list(wired.commerce.orders):
            wired.fulfilment.reserve(order_id)

    monkeypatch.setattr(service, "_sleep", trigger_runs)
    response = orders(
        "POST", json_body=order_body(("apple", 1)), headers=as_("alice", Prefer="wait=30")
    )
    assert response.status_code == 201
    assert body_of(response)["status"] == "confirmed"
    assert response.headers["Preference-Applied"] == "wait=10"


def test_prefer_wait_that_times_out_answers_202(
    wired: Wired, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = composition.services.get().orders
    ticks = iter(range(100))
    monkeypatch.setattr(service, "_monotonic", lambda: float(next(ticks)))
    response = orders(
        "POST",
        json_body=order_body(("apple", 1)),
        headers=as_("alice", Prefer="respond-async, wait=2"),
    )
    assert response.status_code == 202 and body_of(response)["status"] == "pending"
    assert response.headers["Preference-Applied"] == "wait=2"


# --- reading ----------------------------------------------------------------------------------


def test_an_order_is_visible_to_its_owner_and_admins_only(wired: Wired) -> None:
    order = placed(wired, ("apple", 1))
    assert orders("GET", f"/{order['id']}", headers=as_("alice")).status_code == 200
    assert orders("GET", f"/orders/{order['id']}", headers=as_("admin")).status_code == 200
    problem(orders("GET", f"/{order['id']}", headers=as_("bob")), 404)
    problem(orders("GET", "/nope", headers=as_("alice")), 404)
    problem(orders("GET", f"/{order['id']}"), 401)


def test_lists_are_own_for_customers_and_filtered_for_admins(wired: Wired) -> None:
    a1, a2 = placed(wired, ("apple", 1)), placed(wired, ("apple", 2))
    b1 = placed(wired, ("apple", 1), who="bob")
    wired.fulfilment.reserve(a1["id"])  # no stock: rejected
    mine = body_of(orders("GET", "/?limit=1", headers=as_("alice")))
    rest = body_of(orders("GET", f"/?limit=1&cursor={mine['next_cursor']}", headers=as_("alice")))
    assert {o["id"] for o in mine["items"] + rest["items"]} == {a1["id"], a2["id"]}
    assert rest["next_cursor"] is None
    rejected = body_of(orders("GET", "/?status=rejected", headers=as_("alice")))["items"]
    assert [o["id"] for o in rejected] == [a1["id"]]
    problem(orders("GET", "/?user_id=bob", headers=as_("alice")), 403)
    everyone = body_of(orders("GET", "/", headers=as_("admin")))["items"]
    assert len(everyone) == 3
    bobs = body_of(orders("GET", "/?user_id=bob", headers=as_("admin")))["items"]
    assert [o["id"] for o in bobs] == [b1["id"]]
    assert "status" in fields(orders("GET", "/?status=lost", headers=as_("alice")))
    assert "colour" in fields(orders("GET", "/?colour=red", headers=as_("alice")))


# --- moving -----------------------------------------------------------------------------------


def test_cancel_and_status_rules_over_http(wired: Wired) -> None:
    stock(wired, "apple", 5)
    order = placed(wired, ("apple", 2))
    wired.fulfilment.reserve(order["id"])
    path = f"/{order['id']}"
    problem(orders("POST", f"{path}/cancel", headers=as_("bob")), 404)
    problem(
        orders("POST", f"{path}/status", json_body={"status": "processing"}, headers=as_("alice")),
        403,
    )
    problem(
        orders("POST", f"{path}/status", json_body={"status": "confirmed"}, headers=as_("admin")),
        409,
    )
    problem(
        orders("POST", f"{path}/status", json_body={"status": "shipped"}, headers=as_("admin")), 409
    )
    assert "status" in fields(
        orders("POST", f"{path}/status", json_body={"status": "lost"}, headers=as_("admin"))
    )
    moved = orders(
        "POST", f"{path}/status", json_body={"status": "processing"}, headers=as_("admin")
    )
    assert moved.status_code == 200 and body_of(moved)["status"] == "processing"
    problem(orders("POST", f"{path}/cancel", headers=as_("alice")), 409)
    cancelled = orders("POST", f"{path}/cancel", headers=as_("admin"))
    assert body_of(cancelled)["status"] == "cancelled"
    problem(orders("POST", f"{path}/cancel", headers=as_("admin")), 409)


def test_cancel_honours_if_match(wired: Wired) -> None:
    order = placed(wired, ("apple", 1))
    problem(
        orders("POST", f"/{order['id']}/cancel", headers=as_("alice", **{"If-Match": '"7"'})), 412
    )
    etag = orders("GET", f"/{order['id']}", headers=as_("alice")).headers["ETag"]
    ok = orders("POST", f"/{order['id']}/cancel", headers=as_("alice", **{"If-Match": etag}))
    assert ok.status_code == 200


# --- triggers with stand-in events ------------------------------------------------------------


class _Snapshot:
    def __init__(self, data: dict[str, Any] | None) -> None:
        self._data = data

    def to_dict(self) -> dict[str, Any] | None:
        return self._data


def created_event(order_id: str) -> Any:
    return SimpleNamespace(
        id=f"evt-{order_id}", params={"order_id": order_id}, data=_Snapshot({"status": "pending"})
    )


def updated_event(order_id: str, before: str, after: str) -> Any:
    return SimpleNamespace(
        id=f"evt-{order_id}-{after}",
        params={"order_id": order_id},
        data=SimpleNamespace(
            before=_Snapshot({"status": before}), after=_Snapshot({"status": after})
        ),
    )


def _state(wired: Wired) -> tuple[Any, ...]:
    c = wired.commerce
    return (dict(c.orders), dict(c.levels), dict(c.movements), set(c.markers), dict(c.customers))


def test_each_trigger_called_twice_with_the_same_event_changes_nothing_more(wired: Wired) -> None:
    stock(wired, "apple", 3)
    wired.commerce.add_customer("alice")
    order = placed(wired, ("apple", 2))
    oid = order["id"]
    steps = [
        (order_triggers.on_order_created, created_event(oid), None),
        (
            order_triggers.on_order_updated,
            updated_event(oid, "confirmed", "processing"),
            "processing",
        ),
        (order_triggers.on_order_updated, updated_event(oid, "processing", "shipped"), "shipped"),
        (order_triggers.on_order_updated, updated_event(oid, "shipped", "delivered"), "delivered"),
        (order_triggers.on_order_updated, updated_event(oid, "delivered", "refunded"), "refunded"),
    ]
    for handler, event, status in steps:
        if status:
            response = orders(
                "POST", f"/{oid}/status", json_body={"status": status}, headers=as_("admin")
            )
            assert response.status_code == 200, response.get_data(as_text=True)
        handler(event)
        once = _state(wired)
        handler(event)
        assert _state(wired) == once, f"{handler.__name__} {status} applied twice"
    level = wired.commerce.level(STORE, "apple")
    assert (level.on_hand, level.reserved) == (1, 0)
    standing = wired.commerce.standing("alice")
    assert standing is not None and standing.value.stats.orders_count == 0
    assert standing.value.stats.recent_deliveries[0].refunded
    report = body_of(inventory("GET", "/audit", headers=as_("admin")))
    assert report["clean"] is True and report["drifts"] == []


def test_cancel_event_releases_once(wired: Wired) -> None:
    stock(wired, "apple", 3)
    order = placed(wired, ("apple", 3))
    order_triggers.on_order_created(created_event(order["id"]))
    orders("POST", f"/{order['id']}/cancel", headers=as_("alice"))
    event = updated_event(order["id"], "confirmed", "cancelled")
    order_triggers.on_order_updated(event)
    order_triggers.on_order_updated(event)
    assert wired.commerce.level(STORE, "apple").reserved == 0
    releases = [m for m in wired.commerce.ledger(STORE, "apple") if m.kind == "release"]
    assert len(releases) == 1


def test_expire_due_is_a_plain_function(wired: Wired) -> None:
    stock(wired, "apple", 3)
    order = placed(wired, ("apple", 1))
    wired.fulfilment.reserve(order["id"])
    report = order_triggers.expire_due(datetime.now(UTC) + timedelta(hours=1))
    assert report.expired == 1
    assert wired.commerce.get(order["id"]).value.status is OrderStatus.EXPIRED


# --- inventory --------------------------------------------------------------------------------


def test_inventory_is_for_admins(wired: Wired) -> None:
    problem(inventory("GET", "/"), 401)
    problem(inventory("GET", "/", headers=as_("alice")), 403)
    problem(
        inventory("PUT", f"/{STORE}/apple", json_body={"on_hand": 1}, headers=as_("alice")), 403
    )
    problem(inventory("GET", "/audit", headers=as_("alice")), 403)


def test_inventory_put_adjust_movements_and_list(wired: Wired) -> None:
    created = inventory(
        "PUT",
        f"/{STORE}/apple",
        json_body={"on_hand": 5, "low_stock_threshold": 2},
        headers=as_("admin"),
    )
    assert created.status_code == 201 and created.headers["ETag"]
    level = body_of(created)
    assert (level["on_hand"], level["reserved"], level["available"], level["low_stock"]) == (
        5,
        0,
        5,
        False,
    )
    order = placed(wired, ("apple", 4))
    wired.fulfilment.reserve(order["id"])
    problem(
        inventory(
            "PUT", f"/inventory/{STORE}/apple", json_body={"on_hand": 3}, headers=as_("admin")
        ),
        409,
    )
    adjusted = inventory(
        "POST",
        f"/{STORE}/apple/adjustments",
        json_body={"delta": -1, "reason": "dropped"},
        headers=as_("admin"),
    )
    assert adjusted.status_code == 201
    assert body_of(adjusted)["level"]["available"] == 0
    assert body_of(adjusted)["movement"]["reason"] == "dropped"
    problem(
        inventory(
            "POST",
            f"/{STORE}/apple/adjustments",
            json_body={"delta": -1, "reason": "again"},
            headers=as_("admin"),
        ),
        409,
    )
    got = body_of(inventory("GET", f"/{STORE}/apple", headers=as_("admin")))
    assert (got["on_hand"], got["reserved"], got["available"], got["low_stock"]) == (4, 4, 0, True)
    kinds = [
        m["kind"]
        for m in body_of(inventory("GET", f"/{STORE}/apple/movements", headers=as_("admin")))[
            "items"
        ]
    ]
    assert kinds == ["adjust", "reserve", "set"]
    low = body_of(inventory("GET", "/?low_stock=true", headers=as_("admin")))["items"]
    assert [(x["store_id"], x["product_id"]) for x in low] == [(STORE, "apple")]
    assert body_of(inventory("GET", "/?low_stock=false", headers=as_("admin")))["items"] == []
    assert (
        body_of(inventory("GET", f"/?store_id={STORE}&product_id=apple", headers=as_("admin")))[
            "items"
        ][0]["on_hand"]
        == 4
    )


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("PUT", f"/{STORE}/apple", {"on_hand": -1}, "on_hand"),
        ("PUT", f"/{STORE}/apple", {"on_hand": 10**9 + 1}, "on_hand"),
        ("PUT", f"/{STORE}/apple", {"on_hand": "5"}, "on_hand"),
        ("PUT", f"/{STORE}/apple", {"on_hand": 1, "reserved": 0}, "reserved"),
        ("POST", f"/{STORE}/apple/adjustments", {"delta": 1}, "reason"),
        ("POST", f"/{STORE}/apple/adjustments", {"delta": 0, "reason": "x"}, "delta"),
        ("POST", f"/{STORE}/apple/adjustments", {"delta": 1, "reason": " "}, "reason"),
    ],
)
def test_bad_inventory_writes_are_400(
    wired: Wired, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    assert field in fields(inventory(method, path, json_body=body, headers=as_("admin")))
    assert wired.commerce.levels == {} and wired.commerce.movements == {}


def test_inventory_of_unknown_places_is_404(wired: Wired) -> None:
    problem(inventory("PUT", "/nowhere/apple", json_body={"on_hand": 1}, headers=as_("admin")), 404)
    problem(
        inventory("PUT", f"/{STORE}/ghost", json_body={"on_hand": 1}, headers=as_("admin")), 404
    )
    problem(inventory("GET", f"/{STORE}/apple", headers=as_("admin")), 404)
    problem(inventory("GET", f"/{STORE}/apple/movements", headers=as_("admin")), 404)
    assert "low_stock" in fields(inventory("GET", "/?low_stock=yes", headers=as_("admin")))


def test_a_trigger_that_runs_out_of_retries_leaves_the_order_for_expire_due(
    wired: Wired,
) -> None:
    stock(wired, "apple", 1)
    order = placed(wired, ("apple", 1))
    wired.commerce.fail_commits(FAST.attempts)
    order_triggers.on_order_created(created_event(order["id"]))  # does not raise
    assert wired.commerce.get(order["id"]).value.status is OrderStatus.PENDING
    report = order_triggers.expire_due(datetime.now(UTC) + timedelta(minutes=1))
    assert report.reservations_redriven == 1
    assert wired.commerce.get(order["id"]).value.status is OrderStatus.CONFIRMED


def test_payment_client_secret_is_shown_to_the_owner_only(wired: Wired) -> None:
    stock(wired, "apple", 3)
    order = placed(wired, ("apple", 2))
    oid = order["id"]
    assert order["payment"] is None
    order_triggers.on_order_created(created_event(oid))
    order_triggers.on_order_updated(updated_event(oid, "pending", "confirmed"))
    own = body_of(orders("GET", f"/{oid}", headers=as_("alice")))
    payment = own["payment"]
    assert payment["provider"] == "stripe" and payment["status"] == "requires_payment"
    assert (payment["amount"], payment["currency"]) == (own["total"], own["currency"])
    assert payment["client_secret"] == f"{payment['intent_id']}_secret"
    listed = body_of(orders("GET", "/", headers=as_("alice")))["items"]
    assert listed[0]["payment"]["client_secret"] == payment["client_secret"]
    for who in ("admin",):
        seen = body_of(orders("GET", f"/{oid}", headers=as_(who)))
        assert seen["payment"]["client_secret"] is None
        everyone = body_of(orders("GET", "/", headers=as_(who)))["items"]
        assert everyone[0]["payment"]["client_secret"] is None
    assert orders("GET", f"/{oid}", headers=as_("bob")).status_code == 404
    stored = wired.commerce.get(oid).value
    assert stored.payment is not None and stored.payment.client_secret is None
