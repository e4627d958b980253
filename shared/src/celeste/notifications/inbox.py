"""The inbox entry (``users/{uid}/notifications/{event_id}``) and its channels' delivery records."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: The channels beside the inbox (the inbox entry itself is the inbox's delivery).
Channel = Literal["email", "push"]
CHANNELS: tuple[Channel, ...] = ("email", "push")

#: A channel's delivery: ``pending`` (to send), ``sending`` (claimed by an attempt until its
#: lease ends), then one of ``sent``, ``skipped`` (nothing to send it to: no address, no
#: device, turned off since) or ``failed`` (gave up; ``reason`` says why).
DeliveryStatus = Literal["pending", "sending", "sent", "skipped", "failed"]
FINAL: frozenset[DeliveryStatus] = frozenset({"sent", "skipped", "failed"})


class ChannelState(BaseModel):
    """The delivery record of one channel of one notification (no secret, no address: the
    owner reads it with the inbox entry)."""

    model_config = ConfigDict(extra="ignore")

    status: DeliveryStatus = "pending"
    #: Claims made so far: the attempt number is the claim's token.
    attempts: int = 0
    lease_until: datetime | None = None
    #: How many times a claim handed the message to the provider (more than 1: the stated
    #: duplicate window was hit).
    handed_over: int = 0
    sent_at: datetime | None = None
    reason: str | None = None


class Notification(BaseModel):
    """One event as one recipient's inbox shows it; its id is the event's, so a recipient gets
    one entry per event however often the trigger runs."""

    model_config = ConfigDict(extra="ignore")

    id: str
    event_id: str
    type: str
    title: str
    body: str
    order_id: str | None = None
    created_at: datetime
    read_at: datetime | None = None
    channels: dict[Channel, ChannelState] = Field(default_factory=dict)


class NotificationsPage(BaseModel):
    """``GET /me/notifications``: newest first, and how many are unread in all."""

    items: list[Notification]
    next_cursor: str | None
    unread_count: int


class NotificationTask(BaseModel):
    """The payload of one channel's delivery task (``notificationsend``)."""

    model_config = ConfigDict(extra="forbid")

    uid: str
    event_id: str
    channel: Channel


class DeviceRequest(BaseModel):
    """Body of ``PUT /me/devices/{token}`` (optional)."""

    model_config = ConfigDict(extra="forbid")

    platform: Literal["web", "android", "ios"] | None = None
