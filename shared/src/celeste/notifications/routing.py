"""Who an event reaches and on which channels (pure: the profile and the event decide)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from celeste.accounts.profiles import NotificationPreferences, Profile
from celeste.notifications.inbox import Channel
from celeste.notifications.messages import ADMIN_RENDERERS, ORDER_WORDS

#: Every order event reaches the order's owner (each has its words).
OWNER_EVENTS: frozenset[str] = frozenset(ORDER_WORDS)
#: Events for the shop's admins (inbox and email).
ADMIN_EVENTS: frozenset[str] = frozenset(ADMIN_RENDERERS)

Audience = Literal["owner", "admins"]


@dataclass(frozen=True)
class Recipient:
    """A user as notifications see them: an address (``None`` for a guest: an anonymous
    account has none) and their preferences."""

    uid: str
    email: str | None
    preferences: NotificationPreferences

    @classmethod
    def of(cls, profile: Profile) -> Recipient:
        """The recipient a stored profile describes."""
        return cls(uid=profile.uid, email=profile.email, preferences=profile.notifications)

    @classmethod
    def guest(cls, uid: str) -> Recipient:
        """A user without a profile: an anonymous guest as far as notifications go."""
        return cls(uid=uid, email=None, preferences=NotificationPreferences())

    @property
    def is_guest(self) -> bool:
        """No address: an anonymous (guest) account, reached in its inbox only."""
        return self.email is None


def audience(event_type: str) -> Audience | None:
    """Who events of ``event_type`` reach (``None``: nobody is notified)."""
    if event_type in OWNER_EVENTS:
        return "owner"
    if event_type in ADMIN_EVENTS:
        return "admins"
    return None


def owner_of(data: dict[str, Any]) -> str | None:
    """The order's owner named in an order event's ``data``."""
    uid = data.get("user_id")
    return uid if isinstance(uid, str) and uid else None


def channels_for(recipient: Recipient, who: Audience) -> tuple[Channel, ...]:
    """The channels beside the inbox: email when the user has an address and keeps email on;
    push (owners only) when not a guest and push is on; a guest gets the inbox alone. Whether
    a device is registered is asked when the push is sent (none: ``skipped``)."""
    if recipient.is_guest:
        return ()
    channels: list[Channel] = []
    if recipient.preferences.email:
        channels.append("email")
    if who == "owner" and recipient.preferences.push:
        channels.append("push")
    return tuple(channels)
