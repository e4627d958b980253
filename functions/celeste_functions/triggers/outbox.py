"""The outbox's re-drive sweep, every minute: both fan-outs of each event once more, a grace
period after it occurred (``docs/events.md``, *Delivery*). The SDK runs a failed Firestore
trigger only once; this is how its event's webhooks and notifications still go out."""

from __future__ import annotations

from datetime import datetime

from celeste.services.outbox_sweep import SweepReport
from celeste_functions.composition import services
from celeste_functions.logs import get_logger

log = get_logger("triggers.outbox")


def redrive(now: datetime) -> SweepReport:
    """One run of the sweep; a failed event is logged and left for the next run."""
    report = services.get().outbox_sweep.run(now)
    fields = {
        "swept": report.swept,
        "through": report.cursor.through.isoformat(),
        "last_id": report.cursor.last_id,
        "advanced": report.advanced,
    }
    if report.failed is not None:
        log.error(
            "re-driving an event failed; the next run starts with it",
            extra={"fields": {**fields, "event_id": report.failed, "error": report.error}},
        )
    else:
        log.info("redrive_events", extra={"fields": fields})
    return report
