"""The outbox sweep's storage against the Firestore emulator: ``FirestoreEvents.after`` reads
oldest first after a cursor (equal ``occurred_at`` ordered by id, the window's end inclusive,
a starting point taking every event at its instant), and ``sweeps/outbox`` advances only over
the version read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.cloud import firestore

from celeste.kernel.events import Aggregate, Event
from celeste.kernel.outbox_sweep import PageBounds, SweepCursor
from celeste.services.outbox_sweep import SWEEP
from celeste_functions.adapters.events import FirestoreEvents, event_data, event_ref
from celeste_functions.adapters.sweeps import FirestoreSweepCursors, sweep_ref

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)


def _store(db: firestore.Client, event_id: str, at: datetime) -> Event:
    event = Event(
        id=event_id,
        type="order.placed",
        aggregate=Aggregate(kind="order", id=event_id),
        sequence=1,
        occurred_at=at,
        data={},
    )
    event_ref(db, event_id).create(event_data(event))
    return event


def _ids(events: FirestoreEvents, cursor: SweepCursor, through: datetime, limit: int) -> list[str]:
    return [e.id for e in events.after(PageBounds(cursor=cursor, through=through, limit=limit))]


def test_pages_after_a_cursor_order_equal_instants_by_id(db: firestore.Client) -> None:
    events = FirestoreEvents(client=lambda: db)
    _store(db, "before", T0 - timedelta(microseconds=1))
    for event_id in ("c", "a", "b"):  # one instant, stored out of order
        _store(db, event_id, T0)
    _store(db, "later", T0 + timedelta(seconds=1))
    _store(db, "young", T0 + timedelta(seconds=2))  # past the window's end
    end = T0 + timedelta(seconds=1)

    # A starting point takes every event at its instant, none before it.
    assert _ids(events, SweepCursor(T0), end, 10) == ["a", "b", "c", "later"]
    # After an event: the rest of its instant by id, then later ones; the end is inclusive.
    assert _ids(events, SweepCursor(T0, "a"), end, 10) == ["b", "c", "later"]
    assert _ids(events, SweepCursor(T0, "c"), end, 10) == ["later"]
    assert _ids(events, SweepCursor(end, "later"), end, 10) == []
    # Pages: each goes on from the last one's final event.
    first = events.after(PageBounds(cursor=SweepCursor(T0), through=end, limit=2))
    assert [e.id for e in first] == ["a", "b"]
    assert first[-1].occurred_at == T0
    assert _ids(events, SweepCursor.past(first[-1]), end, 2) == ["c", "later"]


def test_the_cursor_document_advances_only_over_the_version_read(db: firestore.Client) -> None:
    cursors = FirestoreSweepCursors(client=lambda: db)
    assert cursors.read(SWEEP) is None
    start = SweepCursor(T0)
    assert cursors.advance(SWEEP, start, expected_version=None)
    assert not cursors.advance(SWEEP, start, expected_version=None)  # a rival first run lost
    stored = cursors.read(SWEEP)
    assert stored is not None and stored.value == start
    assert (sweep_ref(db, SWEEP).get().to_dict() or {}) == {"through": T0, "last_id": None}

    moved = SweepCursor(T0 + timedelta(seconds=5), "order-o1-2")
    assert cursors.advance(SWEEP, moved, expected_version=stored.version)
    # The other run read the same version: its write is refused, the winner's stands.
    assert not cursors.advance(SWEEP, SweepCursor(T0, "zzz"), expected_version=stored.version)
    again = cursors.read(SWEEP)
    assert again is not None and again.value == moved and again.version != stored.version
