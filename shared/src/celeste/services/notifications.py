"""Notifications: an event becomes inbox entries, then one delivery task per channel; the task
claims its channel, sends once, records the end (``docs/notifications.md``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from celeste.kernel.clock import Clock, utcnow
from celeste.kernel.errors import Contention, NotFound
from celeste.kernel.events import Event
from celeste.notifications import delivery
from celeste.notifications.inbox import (
    Channel,
    ChannelState,
    Notification,
    NotificationsPage,
    NotificationTask,
)
from celeste.notifications.messages import Message, message_id, render
from celeste.notifications.routing import Audience, Recipient, audience, channels_for, owner_of
from celeste.ports.accounts import ProfileRepository
from celeste.ports.notifications import (
    Devices,
    EventSource,
    Inbox,
    Mailer,
    Pusher,
    Undeliverable,
)
from celeste.ports.tasks import TaskQueue

#: The task-queue function that delivers one channel (its name is its queue).
QUEUE = "notificationsend"

#: Points where a test may make a delivery crash (``fault``): before the message is handed to
#: the provider, or after it was handed over but before ``sent`` is recorded.
FaultPoint = Literal["before_send", "after_send"]


class LeaseHeld(Contention):
    """Another attempt holds the channel's claim: the task retries after its lease."""


@dataclass(frozen=True)
class DeliverySettings:
    """The shop's name in every message, the ``Message-ID`` domain, the claim's lease and how
    many claims a channel gets before it is recorded ``failed``."""

    shop_name: str = "Celeste"
    mail_domain: str = "celeste.invalid"
    lease: timedelta = timedelta(seconds=60)
    max_attempts: int = 5


class NotificationService:
    """The inbox, devices and preferences' use cases, the trigger's and the task's work."""

    def __init__(
        self,
        *,
        inbox: Inbox,
        devices: Devices,
        profiles: ProfileRepository,
        events: EventSource,
        tasks: TaskQueue,
        mailer: Callable[[], Mailer],
        pusher: Callable[[], Pusher],
        settings: DeliverySettings = DeliverySettings(),
        clock: Clock = utcnow,
        fault: Callable[[FaultPoint], None] | None = None,
    ) -> None:
        self._inbox = inbox
        self._devices = devices
        self._profiles = profiles
        self._events = events
        self._tasks = tasks
        self._mailer = mailer
        self._pusher = pusher
        self._settings = settings
        self._clock = clock
        self._fault = fault

    # --- the trigger: an event becomes inbox entries and delivery tasks ----------------------

    def on_event(self, event: Event) -> list[str]:
        """Create each recipient's entry (create-only, by the event's id: once however often
        this runs) and enqueue a task per channel (named, so a second enqueue is dropped; the
        task's record stops a send that happened). Returns the recipients' uids."""
        who = audience(event.type)
        message = render(event, shop_name=self._settings.shop_name)
        if who is None or message is None:
            return []
        recipients = self._recipients(event, who)
        for recipient in recipients:
            channels = channels_for(recipient, who)
            self._inbox.create(recipient.uid, self._entry(event, message, channels))
            for channel in channels:
                task = NotificationTask(uid=recipient.uid, event_id=event.id, channel=channel)
                self._tasks.enqueue(
                    QUEUE,
                    task.model_dump(),
                    task_id=f"{recipient.uid}-{event.id}-{channel}",
                )
        return [recipient.uid for recipient in recipients]

    def _recipients(self, event: Event, who: Audience) -> list[Recipient]:
        if who == "admins":
            return self._admins()
        uid = owner_of(event.data)
        return [self._recipient(uid)] if uid else []

    def _recipient(self, uid: str) -> Recipient:
        try:
            return Recipient.of(self._profiles.get(uid).value)
        except NotFound:
            return Recipient.guest(uid)

    def _admins(self) -> list[Recipient]:
        found: list[Recipient] = []
        cursor: str | None = None
        while True:
            page = self._profiles.list(role="admin", tier=None, limit=100, cursor=cursor)
            found += [Recipient.of(profile) for profile in page.items if not profile.disabled]
            cursor = page.next_cursor
            if cursor is None:
                return found

    def _entry(self, event: Event, message: Message, channels: tuple[Channel, ...]) -> Notification:
        return Notification(
            id=event.id,
            event_id=event.id,
            type=event.type,
            title=message.title,
            body=message.body,
            order_id=message.order_id,
            created_at=event.occurred_at,
            channels={channel: ChannelState() for channel in channels},
        )

    # --- the task: one channel of one entry, sent once ----------------------------------------

    def deliver(self, task: NotificationTask) -> str:
        """Claim the channel, send, record the end. ``LeaseHeld`` while another attempt holds
        it (the task retries); any provider failure gives the claim back and is raised (the
        task retries) until the attempts run out. Returns what happened."""
        uid, event_id, channel = task.uid, task.event_id, task.channel
        now = self._clock()
        claimed = self._inbox.transition(
            uid,
            event_id,
            channel,
            lambda state: _decided(
                delivery.claim(
                    state,
                    now=now,
                    lease=self._settings.lease,
                    max_attempts=self._settings.max_attempts,
                )
            ),
        )
        if claimed.outcome == "busy":
            raise LeaseHeld(f"{channel} of {event_id} for {uid} is being sent", retry_after_s=5)
        if claimed.outcome != "send":
            return claimed.outcome
        attempt = claimed.attempt
        try:
            status, reason = self._send(uid, event_id, channel, attempt)
        except Undeliverable as exc:
            self._record(uid, event_id, channel, attempt, "failed", exc.reason)
            return "failed"
        except Exception as exc:
            why = _why(exc)
            self._inbox.transition(
                uid,
                event_id,
                channel,
                lambda state: (delivery.release(state, attempt=attempt, reason=why), None),
            )
            raise
        self._record(uid, event_id, channel, attempt, status, reason)
        return status

    def _send(
        self, uid: str, event_id: str, channel: Channel, attempt: int
    ) -> tuple[Literal["sent", "skipped"], str | None]:
        event = self._events.get(event_id)
        message = render(event, shop_name=self._settings.shop_name)
        recipient = self._recipient(uid)
        if message is None:
            return "skipped", "nothing to say"
        if channel == "email":
            if not recipient.email or not recipient.preferences.email:
                return "skipped", "no address" if not recipient.email else "email turned off"
            self._hand_over(uid, event_id, channel, attempt)
            self._mailer().send(
                to=recipient.email,
                message=message,
                message_id=message_id(event_id, uid, domain=self._settings.mail_domain),
            )
        else:
            if not recipient.preferences.push:
                return "skipped", "push turned off"
            tokens = self._devices.tokens(uid)
            if not tokens:
                return "skipped", "no device"
            self._hand_over(uid, event_id, channel, attempt)
            data = {"event_id": event_id, "type": event.type, "order_id": message.order_id or ""}
            for token in tokens:
                answer = self._pusher().send(
                    token=token, title=message.title, body=message.body, data=data
                )
                if answer == "unregistered":
                    self._devices.delete(uid, token)
        if self._fault:
            self._fault("after_send")
        return "sent", None

    def _hand_over(self, uid: str, event_id: str, channel: Channel, attempt: int) -> None:
        if self._fault:
            self._fault("before_send")
        self._inbox.transition(
            uid,
            event_id,
            channel,
            lambda state: (delivery.handed_over(state, attempt=attempt), None),
        )

    def _record(
        self,
        uid: str,
        event_id: str,
        channel: Channel,
        attempt: int,
        status: Literal["sent", "skipped", "failed"],
        reason: str | None,
    ) -> None:
        now = self._clock()
        self._inbox.transition(
            uid,
            event_id,
            channel,
            lambda state: (
                delivery.finish(state, attempt=attempt, status=status, now=now, reason=reason),
                None,
            ),
        )

    # --- the inbox and devices, for their owner -----------------------------------------------

    def page(self, uid: str, *, unread: bool, limit: int, cursor: str | None) -> NotificationsPage:
        """A page of the caller's inbox, newest first, and their unread count."""
        page = self._inbox.page(uid, unread=unread, limit=limit, cursor=cursor)
        return NotificationsPage(
            items=page.items,
            next_cursor=page.next_cursor,
            unread_count=self._inbox.unread_count(uid),
        )

    def mark_read(self, uid: str, notification_id: str) -> Notification:
        """Mark one of the caller's entries read (again: unchanged); another's → ``NotFound``."""
        return self._inbox.mark_read(uid, notification_id, at=self._clock())

    def mark_all_read(self, uid: str) -> int:
        """Mark every unread entry of the caller read; how many changed."""
        return self._inbox.mark_all_read(uid, at=self._clock())

    def register_device(self, uid: str, token: str, *, platform: str | None) -> None:
        """Keep ``token`` as one of the caller's push devices."""
        self._devices.put(uid, token, platform=platform, at=self._clock())

    def forget_device(self, uid: str, token: str) -> None:
        """Forget one of the caller's push tokens."""
        self._devices.delete(uid, token)


def _decided(claimed: delivery.Claimed) -> tuple[ChannelState | None, delivery.Claimed]:
    return claimed.record, claimed


def _why(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]
