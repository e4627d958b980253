"""Owner of ``events/{id}``: the outbox (``docs/events.md``).

The writer creates an event document in the commit of the change it reports (``AddEvent``;
``FirestoreWriter.commit``); nothing updates or deletes one. ``FirestoreEvents`` is the log as
admins read it, newest first, and as the re-drive sweep reads it, oldest first after a cursor
(``after``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from celeste.kernel.errors import NotFound
from celeste.kernel.events import Event
from celeste.kernel.outbox_sweep import PageBounds
from celeste.kernel.paging import Page
from celeste_functions.adapters.firestore import QueryShape, keyset_page, read_query

if TYPE_CHECKING:
    from google.cloud import firestore

EVENTS = "events"
#: The field the aggregate filter reads (a map field's member).
AGGREGATE_ID = "aggregate.id"

_NEWEST = ("occurred_at", "__name__")
_PAGES = {
    filters: QueryShape(EVENTS, equals=filters, order=_NEWEST, descending=True)
    for filters in [(), ("type",), (AGGREGATE_ID,), ("type", AGGREGATE_ID)]
}
#: The sweep's read: a range on ``occurred_at`` ordered by it, then id (a single-field index).
_OLDEST = QueryShape(EVENTS, order=("occurred_at", "__name__"))


def event_ref(client: firestore.Client, event_id: str) -> firestore.DocumentReference:
    """The document of an event."""
    return client.collection(EVENTS).document(event_id)


def event_data(event: Event) -> dict[str, Any]:
    """An event as stored: ``occurred_at`` stays a timestamp (the log is ordered by it)."""
    return event.model_dump(exclude={"id"})


def event_of(snapshot: Any) -> Event:
    """The event a stored document (or a trigger's snapshot) holds."""
    return Event.model_validate({**(snapshot.to_dict() or {}), "id": snapshot.id})


class FirestoreEvents:
    """``EventLog`` on Firestore."""

    def __init__(self, *, client: Callable[[], firestore.Client]) -> None:
        self._client = client

    def _col(self) -> firestore.CollectionReference:
        return self._client().collection(EVENTS)

    def get(self, event_id: str) -> Event:
        """One event (``NotFound`` when absent): the notifications' ``EventSource``."""
        snapshot = self._col().document(event_id).get()
        if not snapshot.exists:
            raise NotFound(f"no event {event_id}")
        return event_of(snapshot)

    def page(
        self,
        *,
        event_type: str | None,
        aggregate_id: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Event]:
        equals: dict[str, Any] = {}
        if event_type is not None:
            equals["type"] = event_type
        if aggregate_id is not None:
            equals[AGGREGATE_ID] = aggregate_id
        filters = tuple(name for name in ("type", AGGREGATE_ID) if name in equals)
        return keyset_page(
            _PAGES[filters].build(self._col(), equals=equals),
            collection=self._col(),
            order_field="occurred_at",
            limit=limit,
            cursor=cursor,
            parse=event_of,
            key=lambda event: event.occurred_at,
            value_type=datetime,
        )

    def event(self, event_id: str) -> Event | None:
        """``EventReader`` (the webhooks'): one event, or ``None``."""
        try:
            return self.get(event_id)
        except NotFound:
            return None

    def after(self, bounds: PageBounds) -> Sequence[Event]:
        """``OutboxPages``: the events after the sweep's cursor, oldest first, up to
        ``bounds.through``; one query of at most ``bounds.limit`` documents."""
        from google.cloud.firestore import FieldFilter

        cursor = bounds.cursor
        query = (
            _OLDEST.build(self._col())
            .where(filter=FieldFilter("occurred_at", ">=", cursor.through))
            .where(filter=FieldFilter("occurred_at", "<=", bounds.through))
        )
        if cursor.last_id is not None:
            query = query.start_after(
                {"occurred_at": cursor.through, "__name__": self._col().document(cursor.last_id)}
            )
        return [event_of(snapshot) for snapshot in read_query(query.limit(bounds.limit))]
