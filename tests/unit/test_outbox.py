"""The outbox for orders: every status move commits its event (type, per-order sequence with
no gaps, the step's time, the order after the change) in the same commit, through every
service that moves an order; the in-memory writer refuses a commit that breaks it; ``GET
/events`` pages the log newest first, for admins only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from celeste.kernel.errors import PreconditionFailed
from celeste.kernel.events import Event
from celeste.orders.events import EVENT_TYPES, order_event
from celeste.orders.payments import RefundRequest
from celeste.orders.status import OrderStatus
from celeste.writes import AddEvent, UpdateOrder
from celeste_functions import composition
from celeste_functions.adapters.cache import Cache
from celeste_functions.composition import Services
from celeste_functions.http.auth import Caller
from celeste_functions.resources import events as events_resource
from tests.fakes import EventsView
from tests.support.handlers import assert_problem, body_of, call, use_test_tokens
from tests.unit import test_payments
from tests.unit.test_payments import NOW, World

world = test_payments.world  # the payments world (fixture) over fakes
S = OrderStatus


def _log(world: World, order_id: str) -> list[tuple[int, str]]:
    """The order's events as (sequence, type), by sequence."""
    return [(e.sequence, e.type) for e in world.commerce.events_of(order_id)]


def _told_every_step(world: World, order_id: str) -> None:
    """One event per history entry, 1..n, each telling that entry; the last carries the order
    as it is now."""
    order = world.order(order_id)
    events = world.commerce.events_of(order_id)
    assert [e.sequence for e in events] == list(range(1, len(order.history) + 1))
    for event, step in zip(events, order.history, strict=True):
        assert event.id == f"order-{order_id}-{event.sequence}"
        assert event.type == EVENT_TYPES[step.status]
        assert event.occurred_at == step.at
        assert event.aggregate.kind == "order" and event.aggregate.id == order_id
    assert events[-1].data == order_event(order).data
    assert events[-1].data["status"] == order.status


def test_every_status_has_an_event_type() -> None:
    assert set(EVENT_TYPES) == set(OrderStatus)
    assert EVENT_TYPES[S.PROCESSING] == "order.paid"
    assert EVENT_TYPES[S.PENDING] == "order.placed"


def test_a_paid_order_shipped_delivered_and_refunded_tells_each_step_once(world: World) -> None:
    oid = world.paid(quantity=4)
    world.webhook(oid, event_id="evt_again")  # a redelivered success: no second event
    for before, after in ((S.PROCESSING, S.SHIPPED), (S.SHIPPED, S.DELIVERED)):
        world.clock.now += timedelta(minutes=1)
        world.orders.set_status(oid, after, expected_version=None)
        world.fulfilment.on_status_change(oid, before=before, after=after)
        world.fulfilment.on_status_change(oid, before=before, after=after)  # redelivered
    world.payments.refund(oid, RefundRequest(amount=250, reason="bruised"), idempotency_key="r1")
    world.payments.refund(oid, RefundRequest(amount=250, reason="bruised"), idempotency_key="r1")
    world.payments.refund(oid, RefundRequest(reason="all"), idempotency_key="r2")
    assert _log(world, oid) == [
        (1, "order.placed"),
        (2, "order.confirmed"),
        (3, "order.paid"),
        (4, "order.shipped"),
        (5, "order.delivered"),
        (6, "order.partially_refunded"),
        (7, "order.refunded"),
    ]
    _told_every_step(world, oid)
    paid = world.commerce.events_of(oid)[2]
    assert paid.data["payment"]["status"] == "succeeded" and paid.data["status"] == "processing"


def test_a_cancelled_order_tells_placed_confirmed_cancelled(world: World) -> None:
    oid = world.confirmed()
    world.orders.cancel(oid, uid="alice", is_admin=False, expected_version=None)
    assert _log(world, oid) == [(1, "order.placed"), (2, "order.confirmed"), (3, "order.cancelled")]
    _told_every_step(world, oid)


def test_a_rejected_order_tells_placed_rejected(world: World) -> None:
    from celeste.accounts.profiles import Identity
    from celeste.orders.requests import OrderLineRequest, OrderRequest
    from tests.fakes import DELIVERY_ADDRESS

    request = OrderRequest(
        store_id=test_payments.STORE,
        shipping_address=DELIVERY_ADDRESS,
        lines=[OrderLineRequest(product_id="apple", quantity=11)],  # 10 in stock
    )
    oid = world.orders.place(request, identity=Identity("alice", None), idempotency_key=None)
    assert world.fulfilment.reserve(oid.order.value.id) == "rejected"
    assert _log(world, oid.order.value.id) == [(1, "order.placed"), (2, "order.rejected")]
    _told_every_step(world, oid.order.value.id)


def test_an_expired_hold_tells_expired_once(world: World) -> None:
    oid = world.confirmed()
    later = NOW + timedelta(hours=2)
    world.clock.now = later
    assert world.fulfilment.expire_due(later).expired == 1
    assert world.fulfilment.expire_due(later).expired == 0
    assert _log(world, oid) == [(1, "order.placed"), (2, "order.confirmed"), (3, "order.expired")]
    _told_every_step(world, oid)


def test_a_free_order_paid_by_the_system_tells_paid(world: World) -> None:
    test_payments._free_world(world, price=0)
    oid = world.confirmed()
    world.effects(oid, S.PENDING, S.CONFIRMED)
    world.effects(oid, S.PENDING, S.CONFIRMED)  # the trigger redelivered
    assert _log(world, oid) == [(1, "order.placed"), (2, "order.confirmed"), (3, "order.paid")]
    _told_every_step(world, oid)


def test_changes_that_are_no_status_move_write_no_event(world: World) -> None:
    oid = world.with_intent()  # the intent is recorded on the order: no move
    world.webhook(oid, kind="failed")  # a failed attempt noted: no move
    assert _log(world, oid) == [(1, "order.placed"), (2, "order.confirmed")]


def test_the_event_never_carries_a_client_secret(world: World) -> None:
    oid = world.with_intent()
    order = world.order(oid)
    leaky = order.model_copy(
        update={"payment": order.payment.model_copy(update={"client_secret": "pi_secret"})}
    )
    data = order_event(leaky).data
    assert data["payment"]["client_secret"] is None
    assert "pi_secret" not in str(data)


# --- the fake writer holds every service to it ----------------------------------------------


def test_a_move_committed_without_its_event_is_refused_and_writes_nothing(world: World) -> None:
    oid = world.confirmed()
    found = world.commerce.get(oid)
    moved = found.value.move(S.CANCELLED, actor="admin", at=NOW)
    with pytest.raises(AssertionError, match="outbox"):
        world.commerce.commit([UpdateOrder(moved.order, expected_version=found.version)])
    assert world.commerce.get(oid) == found
    assert len(world.commerce.events_of(oid)) == 2


def test_an_event_without_its_change_is_refused(world: World) -> None:
    oid = world.confirmed()
    moved = world.order(oid).move(S.CANCELLED, actor="admin", at=NOW)
    with pytest.raises(AssertionError, match="outbox"):
        world.commerce.commit([AddEvent(moved.event)])
    assert len(world.commerce.events_of(oid)) == 2


def test_an_event_that_does_not_tell_the_change_is_refused(world: World) -> None:
    oid = world.confirmed()
    found = world.commerce.get(oid)
    moved = found.value.move(S.CANCELLED, actor="admin", at=NOW)
    wrong = moved.event.model_copy(update={"type": "order.shipped"})
    with pytest.raises(AssertionError):
        world.commerce.commit([UpdateOrder(moved.order, found.version), AddEvent(wrong)])
    assert world.commerce.get(oid) == found


def test_an_event_that_exists_fails_the_whole_commit(world: World) -> None:
    """The deterministic id makes the create the exactly-once record: a change committed again
    from the same read (a redelivered trigger) cannot write a second event nor a second change."""
    oid = world.confirmed()
    found = world.commerce.get(oid)
    moved = found.value.move(S.CANCELLED, actor="admin", at=NOW)
    world.commerce.commit([UpdateOrder(moved.order, found.version), AddEvent(moved.event)])
    stored = world.commerce.get(oid)
    again = stored.value.model_copy(update={"history": moved.order.history})
    event = moved.event
    with pytest.raises(PreconditionFailed):
        world.commerce.commit([UpdateOrder(again, stored.version), AddEvent(event)])
    assert world.commerce.get(oid) == stored


# --- the log as admins read it ----------------------------------------------------------------


def _orders(world: World, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        world.clock.now += timedelta(seconds=1)
        ids.append(world.confirmed(quantity=1))
    return ids


def test_the_log_pages_newest_first_and_filters(world: World) -> None:
    world.commerce.events.clear()  # the stocking's own event (stock.back_in_stock) aside
    ids = _orders(world, 3)
    log = EventsView(world.commerce)
    seen: list[Event] = []
    cursor = None
    while True:
        page = log.page(event_type=None, aggregate_id=None, limit=4, cursor=cursor)
        seen += page.items
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == 6 and len({e.id for e in seen}) == 6
    keys = [(e.occurred_at, e.id) for e in seen]
    assert keys == sorted(keys, reverse=True)
    mine = log.page(event_type=None, aggregate_id=ids[1], limit=10, cursor=None).items
    assert [e.sequence for e in mine] == [2, 1]
    placed = log.page(event_type="order.placed", aggregate_id=None, limit=10, cursor=None).items
    assert [e.aggregate.id for e in placed] == ids[::-1]
    both = log.page(event_type="order.confirmed", aggregate_id=ids[0], limit=10, cursor=None)
    assert [e.id for e in both.items] == [f"order-{ids[0]}-2"]


ADMIN = Caller(uid="admin-1", email="admin@unit.test", role="admin")
ALICE = Caller(uid="alice", email="alice@unit.test", role="customer")


@pytest.fixture
def served(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    use_test_tokens(monkeypatch, {"admin": ADMIN, "alice": ALICE})
    composition.use(
        Services(cache=Cache(client=lambda: None, ttl_s=60), events=EventsView(world.commerce))
    )
    yield world
    composition.services.reset()


def _get(path: str, who: str | None = "admin"):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {who}"} if who else {}
    return call(events_resource.router, "GET", path, headers=headers)


def test_get_events_is_for_admins_and_pages_with_filters(served: World) -> None:
    served.commerce.events.clear()  # the stocking's own event (stock.back_in_stock) aside
    ids = _orders(served, 2)
    first = _get("/?limit=3")
    assert first.status_code == 200, first.get_data(as_text=True)
    body = body_of(first)
    assert len(body["items"]) == 3 and body["next_cursor"]
    rest = body_of(_get(f"/?limit=3&cursor={body['next_cursor']}"))
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    one = body_of(_get(f"/?aggregate_id={ids[0]}"))["items"]
    assert [(e["sequence"], e["type"]) for e in one] == [
        (2, "order.confirmed"),
        (1, "order.placed"),
    ]
    assert one[0]["aggregate"] == {"kind": "order", "id": ids[0]}
    assert one[0]["data"]["status"] == "confirmed" and one[0]["data"]["id"] == ids[0]
    typed = body_of(_get("/?type=order.placed"))["items"]
    assert {e["aggregate"]["id"] for e in typed} == set(ids)
    assert_problem(_get("/", who="alice"), 403)
    assert_problem(_get("/", who=None), 401)
    assert_problem(_get("/?type=Not%20A%20Type"), 400)
    assert_problem(_get("/?cursor=garbage"), 400)
    assert_problem(_get("/?colour=red"), 400)
