"""An endpoint: where webhooks go, what it subscribes to, and its run of failures."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from celeste.kernel.events import Aggregate, Event, event_id
from celeste.webhooks.types import WEBHOOK_DEACTIVATED, unknown_types

WEBHOOK = "webhook"
#: Consecutive finally-failed deliveries after which an endpoint is deactivated, by default.
DEACTIVATE_AFTER = 5

Url = Annotated[str, Field(min_length=1, max_length=2048)]
EventName = Annotated[str, Field(max_length=64)]
Subscription = Annotated[list[EventName], Field(min_length=1, max_length=50)]
Description = Annotated[str, Field(max_length=500)]


def _subscription(events: list[str]) -> list[str]:
    unknown = unknown_types(events)
    if unknown:
        raise ValueError(f"unknown event types: {', '.join(unknown)} (see docs/webhooks.md)")
    return sorted(set(events))


class WebhookCreate(BaseModel):
    """``POST /webhooks``."""

    model_config = ConfigDict(extra="forbid")

    url: Url
    events: Subscription
    description: Description | None = None

    _events = field_validator("events")(_subscription)


class WebhookPatch(BaseModel):
    """``PATCH /webhooks/{id}``: the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    url: Url | None = None
    events: Subscription | None = None
    description: Description | None = None
    active: bool | None = None

    _events = field_validator("events")(lambda v: None if v is None else _subscription(v))

    def changes(self) -> dict[str, Any]:
        """The fields the client sent."""
        return self.model_dump(exclude_unset=True)


class Webhook(BaseModel):
    """An endpoint as admins see it (never its secret)."""

    model_config = ConfigDict(frozen=True)

    id: str
    url: str
    events: list[str]
    description: str | None = None
    active: bool = True
    created_at: datetime
    updated_at: datetime
    #: The endpoint's own revision: 1 when created, one more on every change.
    revision: int = 1
    #: Finally-failed deliveries since the last acknowledged one.
    consecutive_failures: int = 0
    #: The endpoint's own count of events (``webhook.deactivated``): its n-th event is
    #: ``webhook-{id}-{n}``, so its sequences have no gaps, like every aggregate's.
    event_count: int = 0


class CreatedWebhook(Webhook):
    """The answer of ``POST /webhooks``: the only one with the secret (and ``rotate-secret``)."""

    secret: str


class StoredWebhook(BaseModel):
    """An endpoint as stored: the public shape and its secret (server-side only)."""

    model_config = ConfigDict(frozen=True)

    webhook: Webhook
    secret: str


class Deactivation(BaseModel):
    """An endpoint turned off after a run of failures, and the event that says so."""

    model_config = ConfigDict(frozen=True)

    webhook: Webhook
    event: Event


def after_settled(
    webhook: Webhook, *, delivered: bool, deactivate_after: int, at: datetime
) -> Webhook | Deactivation | None:
    """The endpoint after one of its deliveries settled: its run of failures reset by an
    acknowledged delivery, grown by a finally-failed one, and the endpoint deactivated (with
    its ``webhook.deactivated`` event, sequence = its new ``event_count``) once the run reaches
    ``deactivate_after``; ``None`` when nothing changes."""
    if delivered:
        if webhook.consecutive_failures == 0:
            return None
        return webhook.model_copy(update={"consecutive_failures": 0})
    failures = webhook.consecutive_failures + 1
    if not webhook.active or failures < deactivate_after:
        return webhook.model_copy(update={"consecutive_failures": failures})
    sequence = webhook.event_count + 1
    off = webhook.model_copy(
        update={
            "consecutive_failures": failures,
            "active": False,
            "revision": webhook.revision + 1,
            "event_count": sequence,
            "updated_at": at,
        }
    )
    event = Event(
        id=event_id(WEBHOOK, webhook.id, sequence),
        type=WEBHOOK_DEACTIVATED,
        aggregate=Aggregate(kind=WEBHOOK, id=webhook.id),
        sequence=sequence,
        occurred_at=at,
        data={
            **off.model_dump(mode="json"),
            "reason": f"{failures} deliveries in a row failed",
        },
    )
    return Deactivation(webhook=off, event=event)
