"""Ports of notifications: the inbox with its delivery records, devices, mail and push."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Literal, Protocol, TypeVar

from celeste.kernel.events import Event
from celeste.kernel.paging import Page
from celeste.notifications.inbox import Channel, ChannelState, Notification
from celeste.notifications.messages import Message

T = TypeVar("T")


class Inbox(Protocol):
    """``users/{uid}/notifications/{id}``: the entries and their channels' delivery records."""

    def create(self, uid: str, notification: Notification) -> bool:
        """Store a new entry; ``False`` (nothing written) when it exists already."""
        ...

    def get(self, uid: str, notification_id: str) -> Notification:
        """The entry, or ``NotFound``."""
        ...

    def page(self, uid: str, *, unread: bool, limit: int, cursor: str | None) -> Page[Notification]:
        """Newest first (``created_at``, then id); ``unread``: only those without ``read_at``."""
        ...

    def unread_count(self, uid: str) -> int:
        """How many entries have no ``read_at``."""
        ...

    def mark_read(self, uid: str, notification_id: str, *, at: datetime) -> Notification:
        """Set ``read_at`` unless set already (``NotFound`` for no such entry)."""
        ...

    def mark_all_read(self, uid: str, *, at: datetime) -> int:
        """Set ``read_at`` on every unread entry; how many changed."""
        ...

    def transition(
        self,
        uid: str,
        notification_id: str,
        channel: Channel,
        step: Callable[[ChannelState | None], tuple[ChannelState | None, T]],
    ) -> T:
        """Atomically (a compare-and-set on the entry): read the channel's record (``None``: no
        entry or no such channel), apply ``step``, write the record it returns (``None``: write
        nothing) and return its second value. A concurrent change re-runs ``step`` on what is
        stored then."""
        ...


class Devices(Protocol):
    """The push tokens a user registered (server-side only)."""

    def put(self, uid: str, token: str, *, platform: str | None, at: datetime) -> None:
        """Register ``token`` (again: refreshed)."""
        ...

    def delete(self, uid: str, token: str) -> None:
        """Forget ``token`` (an unknown one is not an error)."""
        ...

    def tokens(self, uid: str) -> list[str]:
        """Every token of the user."""
        ...


class EventSource(Protocol):
    """One event of the outbox by id (``NotFound`` when absent)."""

    def get(self, event_id: str) -> Event: ...


class Undeliverable(Exception):
    """The provider refused the message for good (e.g. the address does not exist): recorded
    ``failed`` with ``reason``, never retried."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Mailer(Protocol):
    """Sends one email (SMTP). Raises on any failure worth retrying."""

    def send(self, *, to: str, message: Message, message_id: str) -> None: ...


#: A push's answer: ``sent``, or ``unregistered`` (the token is dead: forget it).
PushAnswer = Literal["sent", "unregistered"]


class Pusher(Protocol):
    """Sends one push to one device (FCM HTTP v1). Raises on any failure worth retrying."""

    def send(self, *, token: str, title: str, body: str, data: dict[str, str]) -> PushAnswer: ...
