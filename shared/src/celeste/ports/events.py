"""The event log as admins read it (``GET /events``): the outbox the writer fills."""

from __future__ import annotations

from typing import Protocol

from celeste.kernel.events import Event
from celeste.kernel.paging import Page


class EventLog(Protocol):
    """``events/{id}``, newest first (``occurred_at``, then id)."""

    def page(
        self,
        *,
        event_type: str | None,
        aggregate_id: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Event]:
        """One page of the events of ``event_type`` and/or of the aggregate ``aggregate_id``
        (either filter may be ``None``: any); a cursor this log did not hand out is a 400."""
        ...
