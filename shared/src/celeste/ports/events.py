"""The event log as admins read it (``GET /events``), the outbox the writer fills, and the
re-drive sweep's reads of it and its cursor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from celeste.kernel.events import Event
from celeste.kernel.outbox_sweep import PageBounds, SweepCursor
from celeste.kernel.paging import Page
from celeste.kernel.versions import Versioned


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


class OutboxPages(Protocol):
    """``events/{id}`` oldest first, as the re-drive sweep reads it."""

    def after(self, bounds: PageBounds) -> Sequence[Event]:
        """Up to ``bounds.limit`` events after ``bounds.cursor`` in ``(occurred_at, id)``
        order whose ``occurred_at`` is at most ``bounds.through``."""
        ...


class SweepCursors(Protocol):
    """Where each sweep stands (``sweeps/{name}``)."""

    def read(self, name: str) -> Versioned[SweepCursor] | None:
        """The cursor and its version, or ``None`` before the sweep's first run."""
        ...

    def advance(self, name: str, cursor: SweepCursor, *, expected_version: str | None) -> bool:
        """Store ``cursor`` if the stored one is still ``expected_version`` (``None``: none is
        stored yet); ``False`` when another run moved it first (nothing is written)."""
        ...
