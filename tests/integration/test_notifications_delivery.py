"""Notifications against the real things: the inbox and its delivery records in the Firestore
emulator (create-only entries, compare-and-set claims raced from many threads, pages, counts,
read marks), the SMTP adapter against MailDev (read back through its REST API), the FCM adapter
against the fake FCM (an unregistered token), and the crash window: a crash after the hand-over
and before ``sent`` is recorded sends exactly one duplicate on the retry; a crash before the
hand-over sends none."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from google.cloud import firestore

from celeste.accounts.profiles import NotificationPreferences, Profile
from celeste.kernel.errors import NotFound
from celeste.notifications import delivery
from celeste.notifications.inbox import ChannelState, Notification, NotificationTask
from celeste.notifications.messages import message_id, render
from celeste.orders.events import order_event
from celeste.orders.status import OrderStatus
from celeste.services.notifications import DeliverySettings, FaultPoint, NotificationService
from celeste_functions.adapters.accounts import FirestoreProfiles
from celeste_functions.adapters.events import FirestoreEvents, event_data
from celeste_functions.adapters.mail import SmtpMailer
from celeste_functions.adapters.notifications import FirestoreDevices, FirestoreInbox
from celeste_functions.adapters.push import FcmPusher
from tests.fakes import InMemoryTasks
from tests.support import local_outbox
from tests.support.emulators import PROJECT
from tests.unit.test_notifications import T0, an_order

pytestmark = pytest.mark.integration

LEASE = timedelta(seconds=30)


@pytest.fixture(autouse=True)
def _empty_outboxes() -> None:
    local_outbox.clear_emails()
    local_outbox.clear_pushes()


def smtp() -> SmtpMailer:
    import os

    return SmtpMailer(
        host=os.environ["CELESTE_SMTP_HOST"],
        port=int(os.environ["CELESTE_SMTP_PORT"]),
        sender="Tea Shop <shop@tea.test>",
    )


def entry(notification_id: str = "order-o1-4", **channels: ChannelState) -> Notification:
    return Notification(
        id=notification_id,
        event_id=notification_id,
        type="order.shipped",
        title="Order shipped",
        body="Your order o1 is on its way.",
        order_id="o1",
        created_at=T0,
        channels=channels,
    )


# --- the inbox in Firestore -----------------------------------------------------------------


def test_an_entry_is_created_once(db: firestore.Client) -> None:
    inbox = FirestoreInbox(client=lambda: db)
    assert inbox.create("u1", entry(email=ChannelState())) is True
    assert inbox.create("u1", entry(email=ChannelState(status="sent"))) is False
    stored = inbox.get("u1", "order-o1-4")
    assert stored.channels["email"].status == "pending"
    raw = db.document("users/u1/notifications/order-o1-4").get().to_dict() or {}
    assert raw["created_at"] == T0 and raw["read_at"] is None  # timestamps, for the order
    with pytest.raises(NotFound):
        inbox.get("u2", "order-o1-4")


def test_racing_claims_let_exactly_one_attempt_send(db: firestore.Client) -> None:
    inbox = FirestoreInbox(client=lambda: db)
    inbox.create("u1", entry(email=ChannelState()))
    barrier = threading.Barrier(8)

    def claim(_: int) -> str:
        barrier.wait()
        return inbox.transition(
            "u1",
            "order-o1-4",
            "email",
            lambda state: (
                (c := delivery.claim(state, now=T0, lease=LEASE, max_attempts=5)).record,
                c.outcome,
            ),
        )

    with ThreadPoolExecutor(8) as pool:
        outcomes = sorted(pool.map(claim, range(8)))
    assert outcomes == ["busy"] * 7 + ["send"]
    state = inbox.get("u1", "order-o1-4").channels["email"]
    assert (state.status, state.attempts) == ("sending", 1)
    finished = inbox.transition(
        "u1",
        "order-o1-4",
        "email",
        lambda s: (delivery.finish(s, attempt=1, status="sent", now=T0), "ok"),
    )
    assert finished == "ok"
    assert inbox.get("u1", "order-o1-4").channels["email"].status == "sent"
    # No entry or no such channel: the step sees None and nothing is written.
    assert inbox.transition("u1", "order-o1-4", "push", lambda s: (None, s)) is None
    assert inbox.transition("u1", "nope", "email", lambda s: (None, s)) is None


def test_pages_newest_first_counts_unread_and_marks_read(db: firestore.Client) -> None:
    inbox = FirestoreInbox(client=lambda: db)
    for n in range(1, 6):
        item = entry(f"order-o1-{n}").model_copy(update={"created_at": T0 + timedelta(minutes=n)})
        inbox.create("u1", item)
    inbox.create("u2", entry("order-o9-1"))
    first = inbox.page("u1", unread=False, limit=3, cursor=None)
    assert [n.id for n in first.items] == ["order-o1-5", "order-o1-4", "order-o1-3"]
    rest = inbox.page("u1", unread=False, limit=3, cursor=first.next_cursor)
    assert [n.id for n in rest.items] == ["order-o1-2", "order-o1-1"] and rest.next_cursor is None
    assert inbox.unread_count("u1") == 5
    read = inbox.mark_read("u1", "order-o1-4", at=T0 + timedelta(hours=1))
    assert read.read_at == T0 + timedelta(hours=1)
    again = inbox.mark_read("u1", "order-o1-4", at=T0 + timedelta(hours=2))
    assert again.read_at == T0 + timedelta(hours=1)
    unread = inbox.page("u1", unread=True, limit=10, cursor=None)
    assert [n.id for n in unread.items] == ["order-o1-5", "order-o1-3", "order-o1-2", "order-o1-1"]
    assert inbox.mark_all_read("u1", at=T0) == 4
    assert inbox.unread_count("u1") == 0 and inbox.unread_count("u2") == 1
    with pytest.raises(NotFound):
        inbox.mark_read("u2", "order-o1-5", at=T0)


def test_devices_are_kept_by_hashed_token(db: firestore.Client) -> None:
    devices = FirestoreDevices(client=lambda: db)
    token = "abc:APA91b-_.xyz/+"
    devices.put("u1", token, platform="web", at=T0)
    devices.put("u1", token, platform="android", at=T0)
    devices.put("u1", "other", platform=None, at=T0)
    assert sorted(devices.tokens("u1")) == sorted([token, "other"])
    assert devices.tokens("u2") == []
    devices.delete("u1", token)
    devices.delete("u1", "never-registered")
    assert devices.tokens("u1") == ["other"]


# --- the providers --------------------------------------------------------------------------


def test_the_smtp_adapter_sends_text_and_escaped_html_to_maildev() -> None:
    message = render(order_event(an_order()), shop_name="Tea <Shop>")
    assert message is not None
    mid = message_id("order-o1-4", "u1", domain="tea.test")
    smtp().send(to="buyer@tea.test", message=message, message_id=mid)
    [email] = local_outbox.emails("buyer@tea.test")
    assert email["subject"] == "Tea <Shop>: Order shipped (o1)"
    assert email["headers"]["message-id"] == mid
    assert email["from"] == [{"address": "shop@tea.test", "name": "Tea Shop"}]
    assert "Green tea — 250 g" in email["text"] and "EUR 1,023.90" in email["text"]
    assert "&lt;script&gt;" in email["html"] and "<script>" not in email["html"]
    assert "Tea &lt;Shop&gt;" in email["html"]


def test_the_fcm_adapter_sends_v1_messages_and_reports_dead_tokens() -> None:
    import os

    pusher = FcmPusher(
        base_url=os.environ["CELESTE_FCM_URL"], project_id=PROJECT, authenticated=False
    )
    data = {"event_id": "order-o1-4", "type": "order.shipped", "order_id": "o1"}
    answer = pusher.send(token="tok:1", title="Order shipped", body="On its way", data=data)
    assert answer == "sent"
    dead = pusher.send(token="unregistered-1", title="t", body="b", data=data)
    assert dead == "unregistered"
    received = local_outbox.pushes()
    assert [m["message"]["token"] for m in received] == ["tok:1", "unregistered-1"]
    assert received[0]["project"] == PROJECT
    assert received[0]["message"] == {
        "token": "tok:1",
        "notification": {"title": "Order shipped", "body": "On its way"},
        "data": data,
    }


# --- the crash window -----------------------------------------------------------------------


class Crash(BaseException):
    """The process dies: nothing after it runs (not even ``except Exception``)."""


class Delivery:
    """The service on the emulator and MailDev, with a clock and a crash point."""

    def __init__(self, db: firestore.Client) -> None:
        self.db = db
        self.now = T0
        self.crash_at: FaultPoint | None = None
        self.inbox = FirestoreInbox(client=lambda: db)
        profiles = FirestoreProfiles(client=lambda: db)
        profiles.create(
            Profile(
                uid="u1",
                email="crash@tea.test",
                display_name="Crash",
                tier="BRONZE",
                notifications=NotificationPreferences(push=False),
                created_at=T0,
                updated_at=T0,
            )
        )
        self.service = NotificationService(
            inbox=self.inbox,
            devices=FirestoreDevices(client=lambda: db),
            profiles=profiles,
            events=FirestoreEvents(client=lambda: db),
            tasks=InMemoryTasks(),
            mailer=smtp,
            pusher=lambda: None,  # type: ignore[arg-type,return-value]
            settings=DeliverySettings(shop_name="Tea", mail_domain="tea.test", lease=LEASE),
            clock=lambda: self.now,
            fault=self._fault,
        )
        event = order_event(an_order(OrderStatus.SHIPPED))
        db.collection("events").document(event.id).set(event_data(event))
        self.service.on_event(event)
        self.task = NotificationTask(uid="u1", event_id=event.id, channel="email")

    def _fault(self, point: FaultPoint) -> None:
        if point == self.crash_at:
            self.crash_at = None
            raise Crash(point)

    def crash(self, at: FaultPoint) -> None:
        self.crash_at = at
        with pytest.raises(Crash):
            self.service.deliver(self.task)

    def state(self) -> ChannelState:
        return self.inbox.get("u1", self.task.event_id).channels["email"]


def test_a_crash_after_the_hand_over_sends_exactly_one_duplicate(db: firestore.Client) -> None:
    run = Delivery(db)
    run.crash("after_send")
    assert len(local_outbox.emails("crash@tea.test")) == 1
    assert run.state().status == "sending"
    with pytest.raises(Exception, match="being sent"):
        run.service.deliver(run.task)  # the lease is live: nobody sends
    run.now += LEASE * 2  # the crashed attempt's lease ends; the queue retries
    assert run.service.deliver(run.task) == "sent"
    assert run.service.deliver(run.task) == "done"
    emails = local_outbox.emails("crash@tea.test")
    assert len(emails) == 2  # the one duplicate of the stated window
    assert emails[0]["headers"]["message-id"] == emails[1]["headers"]["message-id"]
    state = run.state()
    assert (state.status, state.attempts, state.handed_over) == ("sent", 2, 2)


def test_a_crash_before_the_hand_over_sends_no_duplicate(db: firestore.Client) -> None:
    run = Delivery(db)
    run.crash("before_send")
    assert local_outbox.emails("crash@tea.test") == []
    run.now += LEASE * 2
    assert run.service.deliver(run.task) == "sent"
    assert run.service.deliver(run.task) == "done"
    assert len(local_outbox.emails("crash@tea.test")) == 1
    state = run.state()
    assert (state.status, state.attempts, state.handed_over) == ("sent", 2, 1)
