"""The re-drive sweep of the outbox, without I/O: where a run starts, where it stops, and where
its cursor goes (``docs/events.md``, *Delivery*).

The sweep walks ``events`` in ``(occurred_at, id)`` order, a grace period behind now, so an event
is re-driven once, after its triggers have had their chance. Its cursor is the last event it
finished, or, before the first run, the instant it began (nothing older is swept).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from celeste.kernel.events import Event

#: How far behind now the sweep stays by default: the triggers' own run comes first.
DEFAULT_GRACE = timedelta(seconds=120)
#: Events read per page, and pages per run (a run's work is bounded; the next run goes on).
PAGE_SIZE = 200
MAX_PAGES = 5


@dataclass(frozen=True)
class SweepCursor:
    """The sweep's position: every event up to ``(through, last_id)`` is done. ``last_id`` is
    ``None`` for a starting point (no event done at ``through``: all of them are after it)."""

    through: datetime
    last_id: str | None = None

    @classmethod
    def start(cls, now: datetime, grace: timedelta) -> SweepCursor:
        """The first run's position: the window's end, so no history is swept."""
        return cls(through=horizon(now, grace), last_id=None)

    @classmethod
    def past(cls, event: Event) -> SweepCursor:
        """The position once ``event`` is done."""
        return cls(through=event.occurred_at, last_id=event.id)

    def precedes(self, event: Event) -> bool:
        """Whether ``event`` is after this position in ``(occurred_at, id)`` order."""
        if event.occurred_at != self.through:
            return event.occurred_at > self.through
        return self.last_id is None or event.id > self.last_id


def horizon(now: datetime, grace: timedelta) -> datetime:
    """The newest ``occurred_at`` a run at ``now`` sweeps: ``grace`` behind it."""
    if grace < timedelta(0):
        raise ValueError("the sweep's grace cannot be negative")
    return now - grace


@dataclass(frozen=True)
class PageBounds:
    """One page to read: events after ``cursor``, at most ``through``, at most ``limit``."""

    cursor: SweepCursor
    through: datetime
    limit: int

    @property
    def empty(self) -> bool:
        """Nothing can lie in the window (the cursor is at or past its end)."""
        return self.cursor.through > self.through


def page_bounds(cursor: SweepCursor, *, now: datetime, grace: timedelta, limit: int) -> PageBounds:
    """The next page of a run at ``now`` from ``cursor``."""
    if limit < 1:
        raise ValueError("a page holds at least one event")
    return PageBounds(cursor=cursor, through=horizon(now, grace), limit=limit)


def exhausted(read: int, limit: int) -> bool:
    """Whether a page of ``read`` events (``limit`` asked) was the window's last."""
    return read < limit
