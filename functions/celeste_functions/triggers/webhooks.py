"""Webhook triggers: the fan-out of each new event, and the task that makes one attempt.

Plain functions over the event's and the task's documented attributes, so tests call them with
stand-ins. Both are idempotent (create-only deliveries, claimed attempts: ``docs/webhooks.md``);
the task raises only for storage errors, so the queue retries those and nothing else.
"""

from __future__ import annotations

from typing import Any

from celeste.kernel.events import Event
from celeste_functions.composition import services
from celeste_functions.logs import get_logger

log = get_logger("triggers.webhooks")


def on_event_created(event: Any) -> None:
    """``events/{event_id}`` created: open its deliveries and enqueue their first attempts."""
    snapshot = event.data
    data = snapshot.to_dict() if snapshot is not None else None
    if not data:
        return
    outbox_event = Event.model_validate({**data, "id": str(event.params["event_id"])})
    opened = services.get().webhooks.fan_out(outbox_event)
    log.info(
        "on_event_for_webhooks",
        extra={"fields": {"event_id": outbox_event.id, "webhooks": list(opened)}},
    )


def deliver(data: Any) -> None:
    """One task of ``webhookdelivery``: ``{webhook_id, event_id, attempt}``."""
    try:
        webhook_id, event_id = str(data["webhook_id"]), str(data["event_id"])
        attempt = int(data["attempt"])
    except (KeyError, TypeError, ValueError):
        # Retrying cannot mend it: logged and dropped.
        log.error("not a delivery task", extra={"fields": {"data": repr(data)[:200]}})
        return
    done = services.get().webhooks.deliver(webhook_id, event_id, attempt)
    log.info(
        "webhookdelivery",
        extra={
            "fields": {
                "webhook_id": webhook_id,
                "event_id": event_id,
                "attempt": attempt,
                "done": done,
            }
        },
    )
