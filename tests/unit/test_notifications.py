"""Notifications' rules without I/O: the words of each event (text and HTML, escaped; money per
currency), who gets which channel, the delivery claim, and the service over in-memory fakes —
one entry and one send per event, channel and recipient however often the trigger and the
task run; the one duplicate a crash between the hand-over and its record can cause."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from celeste.accounts.profiles import (
    NotificationPreferences,
    NotificationPreferencesPatch,
    Profile,
    ProfilePatch,
)
from celeste.kernel.errors import ValidationFailed
from celeste.kernel.events import Aggregate, Event
from celeste.kernel.money import format_money
from celeste.notifications import delivery
from celeste.notifications.inbox import ChannelState, NotificationTask
from celeste.notifications.messages import ORDER_WORDS, message_id, render
from celeste.notifications.routing import (
    ADMIN_EVENTS,
    OWNER_EVENTS,
    Recipient,
    audience,
    channels_for,
)
from celeste.orders.events import EVENT_TYPES, order_event
from celeste.orders.order import Order, OrderLine, StatusChange
from celeste.orders.status import OrderStatus
from celeste.services.notifications import (
    QUEUE,
    DeliverySettings,
    FaultPoint,
    LeaseHeld,
    NotificationService,
)
from tests.fakes import (
    InMemoryDevices,
    InMemoryEventSource,
    InMemoryInbox,
    InMemoryProfiles,
    InMemoryTasks,
    RecordingMailer,
    RecordingPusher,
)

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SHOP = "Lisbon <Tea> & Co"


def _line(name: str, variant: str | None, quantity: int, unit: int) -> OrderLine:
    return OrderLine(
        product_id=f"p-{quantity}",
        name=name,
        variant_title=variant,
        quantity=quantity,
        currency="EUR",
        unit_base_price=unit,
        unit_final_price=unit,
        line_subtotal=unit * quantity,
        line_discount=0,
        line_total=unit * quantity,
    )


def an_order(status: OrderStatus = OrderStatus.SHIPPED, *, uid: str = "u1") -> Order:
    lines = [
        _line("Green tea", "250 g", 2, 1250),
        _line("<script>alert(1)</script>", None, 1, 99_900),
    ]
    subtotal = sum(line.line_total for line in lines)
    path = [
        OrderStatus.PENDING,
        OrderStatus.CONFIRMED,
        OrderStatus.PROCESSING,
        OrderStatus.SHIPPED,
        OrderStatus.DELIVERED,
    ]
    statuses = path[: path.index(status) + 1] if status in path else [path[0], status]
    return Order(
        id="o1",
        user_id=uid,
        store_id="s1",
        status=status,
        lines=lines,
        currency="EUR",
        tier="BRONZE",
        subtotal=subtotal,
        discount_total=500,
        shipping_total=490,
        tax_total=0,
        total=subtotal - 500 + 490,
        history=[
            StatusChange(status=s, at=T0 + timedelta(minutes=i), actor="system")
            for i, s in enumerate(statuses)
        ],
        created_at=T0,
        updated_at=T0,
    )


# --- words --------------------------------------------------------------------------------


def test_money_is_formatted_from_minor_units_per_currency() -> None:
    assert format_money(123456, "EUR") == "EUR 1,234.56"
    assert format_money(5, "usd") == "USD 0.05"
    assert format_money(-500, "EUR") == "EUR -5.00"
    assert format_money(500, "JPY") == "JPY 500"
    assert format_money(1234, "KWD") == "KWD 1.234"


def test_an_order_email_names_the_shop_the_order_its_lines_and_totals() -> None:
    message = render(order_event(an_order()), shop_name=SHOP)
    assert message is not None
    assert (message.title, message.order_id) == ("Order shipped", "o1")
    assert message.subject == f"{SHOP}: Order shipped (o1)"
    for part in (SHOP, "o1", "Green tea — 250 g", "2 x", "EUR 25.00", "EUR 999.00"):
        assert part in message.text, part
    for part in ("Subtotal: EUR 1,024.00", "Discount: EUR -5.00", "Shipping: EUR 4.90"):
        assert part in message.text, part
    assert "Total: EUR 1,023.90" in message.text
    assert "Lisbon &lt;Tea&gt; &amp; Co" in message.html
    assert "Green tea — 250 g" in message.html and "EUR 1,023.90" in message.html


def test_the_html_escapes_what_came_from_the_catalogue() -> None:
    message = render(order_event(an_order()), shop_name=SHOP)
    assert message is not None
    assert "<script>" not in message.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in message.html
    assert "<script>alert(1)</script>" in message.text  # plain text is not HTML


@pytest.mark.parametrize("status", list(EVENT_TYPES))
def test_every_order_event_has_words(status: OrderStatus) -> None:
    event = order_event(an_order(status))
    message = render(event, shop_name="Shop")
    assert message is not None and message.title and "o1" in message.body
    assert event.type in OWNER_EVENTS


def test_order_events_and_their_words_are_the_same_list() -> None:
    assert set(ORDER_WORDS) == set(EVENT_TYPES.values()) == OWNER_EVENTS


def test_admin_events_have_words_and_others_none() -> None:
    low = Event(
        id="stock-s1:v1-1",
        type="stock.low",
        aggregate=Aggregate(kind="stock", id="s1:v1"),
        sequence=1,
        occurred_at=T0,
        data={"store_id": "s1", "variant_id": "v1", "available": 2, "low_stock_threshold": 3},
    )
    message = render(low, shop_name="Shop")
    assert message is not None and message.title == "Low stock"
    assert "2 left" in message.body and "Threshold: 3" in message.text
    assert audience("stock.low") == "admins" and audience("webhook.deactivated") == "admins"
    assert {"stock.low", "webhook.deactivated"} == ADMIN_EVENTS
    assert audience("product.created") is None
    assert render(low.model_copy(update={"type": "product.created"}), shop_name="x") is None


def test_the_message_id_is_the_same_for_the_same_event_and_recipient() -> None:
    first = message_id("order-o1-4", "u1", domain="shop.test")
    assert first == message_id("order-o1-4", "u1", domain="shop.test")
    assert first.startswith("<") and first.endswith("@shop.test>")
    assert first != message_id("order-o1-4", "u2", domain="shop.test")
    assert first != message_id("order-o1-3", "u1", domain="shop.test")


# --- who gets what --------------------------------------------------------------------------


def _recipient(address: str | None = "a@b.test", **prefs: bool) -> Recipient:
    return Recipient(uid="u1", email=address, preferences=NotificationPreferences(**prefs))


def test_owners_get_email_and_push_as_they_chose_and_guests_the_inbox_alone() -> None:
    assert channels_for(_recipient(), "owner") == ("email", "push")
    assert channels_for(_recipient(email=False), "owner") == ("push",)
    assert channels_for(_recipient(push=False), "owner") == ("email",)
    assert channels_for(_recipient(email=False, push=False), "owner") == ()
    assert channels_for(_recipient(address=None), "owner") == ()
    assert Recipient.guest("g1").is_guest and channels_for(Recipient.guest("g1"), "owner") == ()


def test_admins_get_email_only() -> None:
    assert channels_for(_recipient(), "admins") == ("email",)
    assert channels_for(_recipient(email=False), "admins") == ()


def test_a_preferences_patch_changes_only_what_it_names() -> None:
    current = NotificationPreferences(email=True, push=False)
    patch = ProfilePatch.model_validate({"notifications": {"email": False}})
    assert isinstance(patch.notifications, NotificationPreferencesPatch)
    assert patch.notifications.applied_to(current) == NotificationPreferences(
        email=False, push=False
    )
    with pytest.raises(ValidationFailed):
        NotificationPreferencesPatch.model_validate({"email": None}).applied_to(current)
    with pytest.raises(ValueError):
        ProfilePatch.model_validate({"notifications": {"sms": True}})


# --- the claim ------------------------------------------------------------------------------

LEASE = timedelta(seconds=60)


def test_a_pending_channel_is_claimed_once_under_a_lease() -> None:
    first = delivery.claim(ChannelState(), now=T0, lease=LEASE, max_attempts=3)
    assert first.outcome == "send" and first.attempt == 1
    assert first.record is not None and first.record.status == "sending"
    held = delivery.claim(first.record, now=T0 + LEASE / 2, lease=LEASE, max_attempts=3)
    assert held.outcome == "busy" and held.record is None
    late = delivery.claim(first.record, now=T0 + LEASE * 2, lease=LEASE, max_attempts=3)
    assert late.outcome == "send" and late.attempt == 2


@pytest.mark.parametrize("status", ["sent", "skipped", "failed"])
def test_a_final_channel_is_never_claimed_again(status: Any) -> None:
    claimed = delivery.claim(ChannelState(status=status), now=T0, lease=LEASE, max_attempts=3)
    assert claimed.outcome == "done" and claimed.record is None
    assert delivery.claim(None, now=T0, lease=LEASE, max_attempts=3).outcome == "done"


def test_only_the_claims_own_attempt_ends_it() -> None:
    first = delivery.claim(ChannelState(), now=T0, lease=LEASE, max_attempts=3).record
    taken = delivery.claim(first, now=T0 + LEASE * 2, lease=LEASE, max_attempts=3).record
    assert delivery.finish(taken, attempt=1, status="sent", now=T0) is None
    assert delivery.release(taken, attempt=1, reason="x") is None
    done = delivery.finish(taken, attempt=2, status="sent", now=T0)
    assert done is not None and done.status == "sent" and done.sent_at == T0


def test_out_of_attempts_is_failed() -> None:
    state = ChannelState(attempts=3, reason="smtp down")
    claimed = delivery.claim(state, now=T0, lease=LEASE, max_attempts=3)
    assert claimed.outcome == "exhausted"
    assert claimed.record is not None and claimed.record.status == "failed"


# --- the service over fakes -----------------------------------------------------------------


class Crash(BaseException):
    """A process dying mid-delivery: nothing after it runs, not even ``except Exception``."""


class World:
    def __init__(self, *, prefs: dict[str, bool] | None = None, email: str | None = "a@b.test"):
        self.now = T0
        self.profiles = InMemoryProfiles()
        self.inbox = InMemoryInbox()
        self.devices = InMemoryDevices()
        self.tasks = InMemoryTasks()
        self.mailer = RecordingMailer()
        self.pusher = RecordingPusher()
        self.events = InMemoryEventSource()
        self.crash_at: FaultPoint | None = None
        self.add_profile("u1", email=email, prefs=prefs or {})
        self.service = NotificationService(
            inbox=self.inbox,
            devices=self.devices,
            profiles=self.profiles,
            events=self.events,
            tasks=self.tasks,
            mailer=lambda: self.mailer,
            pusher=lambda: self.pusher,
            settings=DeliverySettings(shop_name="Shop", mail_domain="shop.test", lease=LEASE),
            clock=lambda: self.now,
            fault=self._fault,
        )

    def _fault(self, point: FaultPoint) -> None:
        if point == self.crash_at:
            self.crash_at = None
            raise Crash(point)

    def add_profile(
        self, uid: str, *, email: str | None, prefs: dict[str, bool], role: Any = "customer"
    ) -> None:
        self.profiles.create(
            Profile(
                uid=uid,
                email=email,
                display_name=uid,
                role=role,
                tier="BRONZE",
                notifications=NotificationPreferences(**prefs),
                created_at=T0,
                updated_at=T0,
            )
        )

    def publish(self, event: Event) -> list[str]:
        self.events.events[event.id] = event
        return self.service.on_event(event)

    def run_tasks(self) -> list[str]:
        return [
            self.service.deliver(NotificationTask.model_validate(task.payload))
            for task in self.tasks.take(QUEUE)
        ]


def shipped() -> Event:
    return order_event(an_order())


def test_an_event_twice_makes_one_entry_and_one_task_per_channel() -> None:
    world = World()
    world.devices.put("u1", "tok-1", platform="web", at=T0)
    assert world.publish(shipped()) == ["u1"]
    assert world.publish(shipped()) == ["u1"]
    assert len(world.inbox.entries) == 1
    entry = world.inbox.get("u1", shipped().id)
    assert (entry.title, entry.order_id, entry.read_at) == ("Order shipped", "o1", None)
    assert set(entry.channels) == {"email", "push"}
    assert sorted(world.run_tasks()) == ["sent", "sent"]
    assert len(world.mailer.sent) == 1 and len(world.pusher.sent) == 1
    assert world.mailer.sent[0].message_id == message_id(shipped().id, "u1", domain="shop.test")
    assert world.pusher.sent[0]["data"] == {
        "event_id": shipped().id,
        "type": "order.shipped",
        "order_id": "o1",
    }


def test_a_duplicated_task_never_sends_twice() -> None:
    world = World()
    world.publish(shipped())
    task = NotificationTask(uid="u1", event_id=shipped().id, channel="email")
    assert world.service.deliver(task) == "sent"
    assert world.service.deliver(task) == "done"
    assert len(world.mailer.sent) == 1


def test_a_live_lease_stops_a_second_attempt() -> None:
    world = World()
    world.publish(shipped())
    task = NotificationTask(uid="u1", event_id=shipped().id, channel="email")
    world.crash_at = "before_send"
    with pytest.raises(Crash):
        world.service.deliver(task)
    with pytest.raises(LeaseHeld):  # the crashed attempt's claim is still live
        world.service.deliver(task)
    assert world.mailer.sent == []


def test_a_crash_before_the_send_sends_once_after_the_lease() -> None:
    world = World()
    world.publish(shipped())
    task = NotificationTask(uid="u1", event_id=shipped().id, channel="email")
    world.crash_at = "before_send"
    with pytest.raises(Crash):
        world.service.deliver(task)
    world.now += LEASE * 2
    assert world.service.deliver(task) == "sent"
    assert world.service.deliver(task) == "done"
    assert len(world.mailer.sent) == 1
    assert world.inbox.get("u1", shipped().id).channels["email"].handed_over == 1


def test_a_crash_after_the_send_is_the_one_duplicate() -> None:
    world = World()
    world.publish(shipped())
    task = NotificationTask(uid="u1", event_id=shipped().id, channel="email")
    world.crash_at = "after_send"
    with pytest.raises(Crash):
        world.service.deliver(task)
    world.now += LEASE * 2
    assert world.service.deliver(task) == "sent"
    assert world.service.deliver(task) == "done"
    assert len(world.mailer.sent) == 2  # the stated window: handed over, not yet recorded
    assert world.mailer.sent[0].message_id == world.mailer.sent[1].message_id
    state = world.inbox.get("u1", shipped().id).channels["email"]
    assert (state.status, state.attempts, state.handed_over) == ("sent", 2, 2)


def test_a_provider_failure_gives_the_claim_back_and_is_retried() -> None:
    world = World()
    world.publish(shipped())
    task = NotificationTask(uid="u1", event_id=shipped().id, channel="email")
    world.mailer.fail_next = OSError("connection refused")
    with pytest.raises(OSError):
        world.service.deliver(task)
    state = world.inbox.get("u1", shipped().id).channels["email"]
    assert state.status == "pending" and "connection refused" in (state.reason or "")
    assert world.service.deliver(task) == "sent"
    assert len(world.mailer.sent) == 1


def test_push_without_a_device_is_skipped_and_a_dead_token_dropped() -> None:
    world = World()
    world.publish(shipped())
    assert sorted(world.run_tasks()) == ["sent", "skipped"]
    assert world.inbox.get("u1", shipped().id).channels["push"].reason == "no device"
    placed = order_event(an_order(OrderStatus.DELIVERED))
    world.devices.put("u1", "unregistered-x", platform="web", at=T0)
    world.devices.put("u1", "tok-2", platform="web", at=T0)
    world.publish(placed)
    world.run_tasks()
    assert {p["token"] for p in world.pusher.sent} == {"unregistered-x", "tok-2"}
    assert world.devices.tokens("u1") == ["tok-2"]


def test_preferences_and_guests_decide_the_channels() -> None:
    world = World(prefs={"email": False})
    world.publish(shipped())
    assert set(world.inbox.get("u1", shipped().id).channels) == {"push"}
    guest_order = order_event(an_order(uid="guest-1"))
    assert world.publish(guest_order) == ["guest-1"]  # no profile: a guest
    assert world.inbox.get("guest-1", guest_order.id).channels == {}
    world.run_tasks()
    assert world.mailer.sent == []


def test_email_turned_off_after_the_event_is_skipped_at_send() -> None:
    world = World()
    world.publish(shipped())
    profile = world.profiles.get("u1")
    off = profile.value.model_copy(update={"notifications": NotificationPreferences(email=False)})
    world.profiles.update(
        off, fields=frozenset({"notifications"}), expected_version=profile.version
    )
    assert "skipped" in world.run_tasks()
    assert world.mailer.sent == []


def test_stock_low_reaches_every_active_admin_by_inbox_and_email() -> None:
    world = World()
    world.add_profile("a1", email="a1@shop.test", prefs={}, role="admin")
    world.add_profile("a2", email="a2@shop.test", prefs={"email": False}, role="admin")
    low = Event(
        id="stock-s1:v1-1",
        type="stock.low",
        aggregate=Aggregate(kind="stock", id="s1:v1"),
        sequence=1,
        occurred_at=T0,
        data={"store_id": "s1", "variant_id": "v1", "available": 1, "low_stock_threshold": 2},
    )
    assert sorted(world.publish(low)) == ["a1", "a2"]
    assert set(world.inbox.get("a1", low.id).channels) == {"email"}
    assert world.inbox.get("a2", low.id).channels == {}
    world.run_tasks()
    assert [e.to for e in world.mailer.sent] == ["a1@shop.test"]
    assert ("u1", low.id) not in world.inbox.entries


def test_the_inbox_pages_newest_first_and_marks_read() -> None:
    world = World()
    for status in (OrderStatus.PROCESSING, OrderStatus.SHIPPED, OrderStatus.DELIVERED):
        world.publish(order_event(an_order(status)))
    page = world.service.page("u1", unread=False, limit=2, cursor=None)
    assert [n.type for n in page.items] == ["order.delivered", "order.shipped"]
    assert page.unread_count == 3 and page.next_cursor
    read = world.service.mark_read("u1", page.items[0].id)
    assert read.read_at == T0
    world.now += LEASE
    assert world.service.mark_read("u1", page.items[0].id).read_at == T0  # idempotent
    assert world.service.page("u1", unread=True, limit=10, cursor=None).unread_count == 2
    assert world.service.mark_all_read("u1") == 2
    assert world.service.page("u1", unread=True, limit=10, cursor=None).items == []
