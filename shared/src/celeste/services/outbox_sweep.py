"""The outbox's re-drive sweep: every event, once, a grace period after it occurred, runs both
fan-outs again (webhooks' deliveries, notifications' entries and tasks).

Both fan-outs are idempotent (create-only records by the event's id, tasks by fixed ids), so
re-running them for an event whose triggers ran creates and sends nothing; for one whose trigger
run failed outright (and the platform never runs it again) it does what that run left undone.
A failing event stops the run before the cursor passes it: the next run starts with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from celeste.kernel.events import Event
from celeste.kernel.outbox_sweep import (
    DEFAULT_GRACE,
    MAX_PAGES,
    PAGE_SIZE,
    SweepCursor,
    exhausted,
    page_bounds,
)
from celeste.ports.events import OutboxPages, SweepCursors

#: The cursor document's name (``sweeps/outbox``).
SWEEP = "outbox"
FanOut = Callable[[Event], object]


@dataclass(frozen=True)
class SweepReport:
    """What one run did: events re-driven, where the cursor stands, whether this run stored it
    (``False``: another run moved it first, or nothing moved), and the event that failed."""

    swept: int
    cursor: SweepCursor
    advanced: bool
    failed: str | None = None
    error: str | None = None


class OutboxSweep:
    """Re-runs ``fan_outs`` for each event after the stored cursor, oldest first."""

    def __init__(
        self,
        *,
        events: OutboxPages,
        cursors: SweepCursors,
        fan_outs: Sequence[FanOut],
        grace: timedelta = DEFAULT_GRACE,
        page_size: int = PAGE_SIZE,
        max_pages: int = MAX_PAGES,
    ) -> None:
        self._events = events
        self._cursors = cursors
        self._fan_outs = tuple(fan_outs)
        self._grace = grace
        self._page_size = page_size
        self._max_pages = max_pages

    def run(self, now: datetime) -> SweepReport:
        """One run at ``now``: at most ``max_pages`` pages, then the cursor, stored only if no
        other run stored one since this run read it."""
        stored = self._cursors.read(SWEEP)
        start = stored.value if stored is not None else SweepCursor.start(now, self._grace)
        position, swept = start, 0
        failed: str | None = None
        error: str | None = None
        for _ in range(self._max_pages):
            bounds = page_bounds(position, now=now, grace=self._grace, limit=self._page_size)
            if bounds.empty:
                break
            page = self._events.after(bounds)
            for event in page:
                try:
                    for fan_out in self._fan_outs:
                        fan_out(event)
                except Exception as exc:  # any failure: this event is the next run's first
                    failed, error = event.id, f"{type(exc).__name__}: {exc}"
                    break
                position, swept = SweepCursor.past(event), swept + 1
            if failed is not None or exhausted(len(page), self._page_size):
                break
        advanced = False
        if stored is None or position != start:
            advanced = self._cursors.advance(
                SWEEP, position, expected_version=None if stored is None else stored.version
            )
        return SweepReport(
            swept=swept, cursor=position, advanced=advanced, failed=failed, error=error
        )
