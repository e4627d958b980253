"""Notifications: the ``events/{event_id}`` trigger makes the inbox entries and enqueues one
delivery task per channel; the ``notificationsend`` task sends one channel once
(``docs/notifications.md``).

Plain functions over the event's documented attributes, so tests call them with stand-ins.
"""

from __future__ import annotations

from typing import Any

from celeste.notifications.inbox import NotificationTask
from celeste_functions.adapters.events import event_of
from celeste_functions.composition import services
from celeste_functions.logs import get_logger

log = get_logger("triggers.notifications")


def on_event_created(event: Any) -> None:
    """``events/{event_id}`` created: each recipient's entry, once; the channels' tasks."""
    snapshot = event.data
    if snapshot is None:
        return
    stored = event_of(snapshot)
    recipients = services.get().notifications.on_event(stored)
    log.info(
        "on_event_for_notifications",
        extra={
            "fields": {
                "event_id": stored.id,
                "type": stored.type,
                "recipients": len(recipients),
            }
        },
    )


def send(data: Any) -> None:
    """One channel of one notification: claimed, sent once, recorded. Raising makes Cloud
    Tasks retry with backoff (a live claim of another attempt, a provider failure)."""
    task = NotificationTask.model_validate(data)
    outcome = services.get().notifications.deliver(task)
    log.info(
        "notificationsend",
        extra={"fields": {**task.model_dump(), "outcome": outcome}},
    )
