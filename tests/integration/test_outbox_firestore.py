"""The order outbox against the Firestore emulator: the writer commits a status move and its
event in one batch (both or neither: a crash before the commit leaves neither, an event that
exists fails the whole batch), and ``FirestoreEvents`` pages the log newest first with its
filters (each on a composite index of firestore.indexes.json)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from google.cloud import firestore

from celeste.kernel.errors import PreconditionFailed, ValidationFailed
from celeste.orders.events import order_event
from celeste.orders.order import Order
from celeste.orders.status import OrderStatus
from celeste.writes import AddEvent, CreateOrder, UpdateOrder
from celeste_functions.adapters import writer as writer_module
from celeste_functions.adapters.events import FirestoreEvents
from celeste_functions.adapters.orders import FirestoreOrders
from tests.integration.test_orders_firestore import STORE, T0, Stack

pytestmark = pytest.mark.integration


@pytest.fixture
def stack(db: firestore.Client) -> Stack:
    db.collection("stores").document(STORE).set({"name": "IT", "active": True})
    return Stack(db)


def _placed(stack: Stack, *, at: Any = T0) -> Order:
    """A pending order placed with its ``order.placed`` event, as ``OrderService.place`` does."""
    order = stack.place([("apple", 1)], at=at)  # Stack.place commits the bare CreateOrder
    stack.writer.commit([AddEvent(order_event(order))])
    return order


def _events(db: firestore.Client) -> dict[str, dict[str, Any]]:
    """The orders' events (a stocking tells ``stock.*`` events of its own)."""
    found = {s.id: s.to_dict() or {} for s in db.collection("events").stream()}
    return {i: e for i, e in found.items() if e["aggregate"]["kind"] == "order"}


def test_placement_commits_the_order_and_its_event_together(stack: Stack) -> None:
    order = stack.place([("apple", 1)])
    stack.db.document(f"orders/{order.id}").delete()  # start over: one commit, both documents
    stack.writer.commit([CreateOrder(order), AddEvent(order_event(order))])
    stored = _events(stack.db)
    assert set(stored) == {f"order-{order.id}-1"}
    event = stored[f"order-{order.id}-1"]
    assert event["type"] == "order.placed" and event["sequence"] == 1
    assert event["aggregate"] == {"kind": "order", "id": order.id}
    assert event["occurred_at"] == T0  # a timestamp: the log is ordered by it
    assert event["data"]["id"] == order.id and event["data"]["status"] == "pending"
    assert stack.orders.get(order.id).value == order


def test_the_confirming_commit_writes_the_confirmed_event(stack: Stack) -> None:
    stack.count("apple", 5)
    order = _placed(stack)
    assert stack.fulfilment.reserve(order.id) == "confirmed"
    assert stack.fulfilment.reserve(order.id) == "already confirmed"
    stored = _events(stack.db)
    assert sorted(stored) == [f"order-{order.id}-1", f"order-{order.id}-2"]
    confirmed = stored[f"order-{order.id}-2"]
    assert confirmed["type"] == "order.confirmed" and confirmed["data"]["stock_state"] == "held"


def test_a_crash_before_the_commit_leaves_neither_the_change_nor_its_event(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.count("apple", 5)
    order = _placed(stack)
    found = stack.orders.get(order.id)
    moved = found.value.move(OrderStatus.CANCELLED, actor="admin", at=T0 + timedelta(minutes=1))

    class Crash(Exception):
        pass

    def crash(self: writer_module.Batch) -> None:
        raise Crash("the instance died before the batch was sent")

    monkeypatch.setattr(writer_module.Batch, "commit", crash)
    with pytest.raises(Crash):
        stack.writer.commit([UpdateOrder(moved.order, found.version), AddEvent(moved.event)])
    monkeypatch.undo()
    assert stack.orders.get(order.id) == found
    assert sorted(_events(stack.db)) == [f"order-{order.id}-1"]


def test_an_event_that_exists_fails_the_whole_batch(stack: Stack) -> None:
    """A redelivered trigger repeating a move from a stale read fails on the order's version;
    even one racing past it (same version, same move) fails on the event's create: neither a
    second change nor a second event."""
    order = _placed(stack)
    found = stack.orders.get(order.id)
    moved = found.value.move(OrderStatus.CANCELLED, actor="admin", at=T0 + timedelta(minutes=1))
    stack.writer.commit([UpdateOrder(moved.order, found.version), AddEvent(moved.event)])
    after = stack.orders.get(order.id)
    before_events = _events(stack.db)
    retouched = after.value.model_copy(update={"updated_at": T0 + timedelta(minutes=2)})
    with pytest.raises(PreconditionFailed):
        stack.writer.commit([UpdateOrder(retouched, after.version), AddEvent(moved.event)])
    assert stack.orders.get(order.id) == after
    assert _events(stack.db) == before_events
    # The same move replayed on the version it was read at: the order precondition fails too.
    with pytest.raises(PreconditionFailed):
        stack.writer.commit([UpdateOrder(moved.order, found.version), AddEvent(moved.event)])
    assert stack.orders.get(order.id) == after


def test_the_log_pages_newest_first_with_its_filters(stack: Stack) -> None:
    stack.count("apple", 10)
    for stocked in stack.db.collection("events").stream():  # the stocking's: not this log's
        stocked.reference.delete()
    orders = []
    for minute in range(3):
        order = _placed(stack, at=T0 + timedelta(minutes=minute))
        assert stack.fulfilment.reserve(order.id) == "confirmed"
        orders.append(order)
    log = FirestoreEvents(client=lambda: stack.db)
    seen = []
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
    one = log.page(event_type=None, aggregate_id=orders[1].id, limit=10, cursor=None)
    assert [(e.sequence, e.type) for e in one.items] == [
        (2, "order.confirmed"),
        (1, "order.placed"),
    ]
    assert (
        one.items[0].data
        == order_event(FirestoreOrders(client=lambda: stack.db).get(orders[1].id).value).data
    )
    placed = log.page(event_type="order.placed", aggregate_id=None, limit=2, cursor=None)
    assert [e.aggregate.id for e in placed.items] == [orders[2].id, orders[1].id]
    rest = log.page(
        event_type="order.placed", aggregate_id=None, limit=2, cursor=placed.next_cursor
    )
    assert [e.aggregate.id for e in rest.items] == [orders[0].id] and rest.next_cursor is None
    both = log.page(event_type="order.placed", aggregate_id=orders[0].id, limit=5, cursor=None)
    assert [e.id for e in both.items] == [f"order-{orders[0].id}-1"]
    with pytest.raises(ValidationFailed):
        log.page(event_type=None, aggregate_id=None, limit=5, cursor="garbage")
