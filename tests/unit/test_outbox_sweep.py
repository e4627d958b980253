"""The outbox's re-drive sweep over fakes: an event whose triggers never ran gets its webhook
delivery, inbox entry and tasks from the sweep; one already handled gets nothing twice; events
inside the grace are left; the cursor advances, a failing fan-out holds it, and of two
overlapping runs one stores it. Plus the pure window and cursor rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from celeste.accounts.profiles import NotificationPreferences, Profile
from celeste.kernel.errors import Contention
from celeste.kernel.events import Event
from celeste.kernel.outbox_sweep import (
    DEFAULT_GRACE,
    SweepCursor,
    exhausted,
    horizon,
    page_bounds,
)
from celeste.orders.events import order_event
from celeste.services import notifications as notification_queue
from celeste.services import webhooks as webhook_queue
from celeste.services.notifications import DeliverySettings, NotificationService
from celeste.services.outbox_sweep import SWEEP, OutboxSweep, SweepReport
from celeste.services.webhooks import WebhookService
from celeste.webhooks.endpoints import WebhookCreate
from tests.fakes import (
    FakeReceiver,
    InMemoryDevices,
    InMemoryEvents,
    InMemoryEventSource,
    InMemoryInbox,
    InMemoryProfiles,
    InMemorySweepCursors,
    InMemoryTasks,
    InMemoryWebhooks,
    RecordingMailer,
    RecordingPusher,
)
from tests.unit.test_notifications import an_order

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)
GRACE = timedelta(seconds=120)


class World:
    """Both fan-outs over one outbox, and the sweep over both (the triggers are left to the
    test: ``trigger`` runs them as the platform would)."""

    def __init__(self, *, page_size: int = 200, max_pages: int = 5) -> None:
        self.now = T0
        self.events = InMemoryEvents()
        self.tasks = InMemoryTasks()
        self.repo = InMemoryWebhooks(self.events)
        self.webhooks = WebhookService(
            repository=self.repo,
            events=self.events,
            sender=FakeReceiver(),
            tasks=self.tasks,
            allow_loopback=False,
            clock=lambda: self.now,
            sleep=lambda s: None,
        )
        self.profiles = InMemoryProfiles()
        self.profiles.create(
            Profile(
                uid="u1",
                email="a@b.test",
                display_name="u1",
                role="customer",
                tier="BRONZE",
                notifications=NotificationPreferences(),
                created_at=T0 - timedelta(days=1),
                updated_at=T0 - timedelta(days=1),
            )
        )
        self.inbox = InMemoryInbox()
        source = InMemoryEventSource()
        source.events = self.events.events  # one outbox for both services
        self.notifications = NotificationService(
            inbox=self.inbox,
            devices=InMemoryDevices(),
            profiles=self.profiles,
            events=source,
            tasks=self.tasks,
            mailer=RecordingMailer,
            pusher=RecordingPusher,
            settings=DeliverySettings(shop_name="Shop", mail_domain="shop.test"),
            clock=lambda: self.now,
        )
        self.cursors = InMemorySweepCursors()
        self.failing: set[str] = set()
        self.sweep = OutboxSweep(
            events=self.events,
            cursors=self.cursors,
            fan_outs=(self._refusing, self.webhooks.fan_out, self.notifications.on_event),
            grace=GRACE,
            page_size=page_size,
            max_pages=max_pages,
        )
        self.now = T0 - timedelta(hours=1)  # the endpoint is older than every event
        created, _ = self.webhooks.create(
            WebhookCreate(url="https://hooks.example.com/h", events=["*"])
        )
        self.now = T0
        self.webhook_id = created.value.id

    def _refusing(self, event: Event) -> None:
        if event.id in self.failing:
            raise Contention("the task queue refused the enqueue")

    def publish(self, n: int, *, at: datetime) -> Event:
        """An event of order ``o1`` (owned by ``u1``) stored in the outbox, no trigger run."""
        base = order_event(an_order())
        return self.events.add(base.model_copy(update={"id": f"ev-{n:03d}", "occurred_at": at}))

    def trigger(self, event: Event) -> None:
        self.webhooks.fan_out(event)
        self.notifications.on_event(event)

    def run(self, *, after: timedelta = timedelta(0)) -> SweepReport:
        self.now += after
        return self.sweep.run(self.now)

    def cursor(self) -> SweepCursor | None:
        found = self.cursors.read(SWEEP)
        return None if found is None else found.value

    def task_ids(self) -> list[str | None]:
        return sorted(task.task_id or "" for task in self.tasks.tasks)

    def delivered(self, event_id: str) -> bool:
        return self.repo.delivery(self.webhook_id, event_id) is not None


def started(world: World) -> None:
    """A first run (no cursor): it stores ``now - grace`` and sweeps no history."""
    report = world.sweep.run(world.now)
    assert report.swept == 0 and report.advanced
    assert world.cursor() == SweepCursor(through=world.now - GRACE, last_id=None)


# --- the pure rules ------------------------------------------------------------------------


def test_the_window_ends_a_grace_behind_now_and_the_cursor_orders_by_time_then_id() -> None:
    assert timedelta(seconds=120) == DEFAULT_GRACE
    assert horizon(T0, GRACE) == T0 - GRACE
    with pytest.raises(ValueError):
        horizon(T0, timedelta(seconds=-1))
    with pytest.raises(ValueError):
        page_bounds(SweepCursor(T0), now=T0, grace=GRACE, limit=0)
    event = order_event(an_order()).model_copy(update={"id": "b", "occurred_at": T0})
    assert SweepCursor(T0, None).precedes(event)  # a starting point: all at T0 are after it
    assert SweepCursor(T0, "a").precedes(event)
    assert not SweepCursor(T0, "b").precedes(event)
    assert not SweepCursor(T0, "c").precedes(event)
    assert not SweepCursor(T0 + timedelta(microseconds=1), None).precedes(event)
    assert SweepCursor.past(event) == SweepCursor(T0, "b")
    assert page_bounds(SweepCursor(T0), now=T0, grace=GRACE, limit=5).empty
    assert not page_bounds(SweepCursor(T0 - GRACE), now=T0, grace=GRACE, limit=5).empty
    assert exhausted(4, 5) and not exhausted(5, 5)


# --- the sweep over both fan-outs -------------------------------------------------------------


def test_an_event_whose_triggers_never_ran_gets_its_delivery_entry_and_tasks() -> None:
    world = World()
    started(world)
    event = world.publish(1, at=world.now + timedelta(seconds=1))  # its trigger runs failed
    report = world.sweep.run(world.now + GRACE + timedelta(seconds=1))
    assert report.swept == 1 and report.failed is None and report.advanced
    assert world.delivered(event.id)
    assert world.inbox.get("u1", event.id).event_id == event.id
    assert world.task_ids() == sorted(
        [f"{world.webhook_id}-{event.id}-0", f"u1-{event.id}-email", f"u1-{event.id}-push"]
    )
    assert {task.queue for task in world.tasks.tasks} == {
        webhook_queue.QUEUE,
        notification_queue.QUEUE,
    }
    assert world.cursor() == SweepCursor.past(event)


def test_an_event_already_handled_gets_nothing_twice() -> None:
    world = World()
    started(world)
    event = world.publish(1, at=world.now)
    world.trigger(event)
    entries, tasks = dict(world.inbox.entries), list(world.tasks.tasks)
    deliveries = dict(world.repo.deliveries_of[world.webhook_id])
    assert len(tasks) == 3  # the delivery's first attempt, email and push
    report = world.run(after=GRACE)
    assert report.swept == 1
    assert world.inbox.entries == entries
    assert world.tasks.tasks == tasks  # the fixed task ids: both enqueues were dropped
    assert world.repo.deliveries_of[world.webhook_id] == deliveries
    # A second run finds nothing after its cursor: no event is re-driven twice.
    assert world.run(after=timedelta(minutes=1)).swept == 0


def test_events_inside_the_grace_are_left_for_a_later_run() -> None:
    world = World()
    started(world)
    old = world.publish(1, at=world.now - timedelta(seconds=1))
    young = world.publish(2, at=world.now + timedelta(seconds=30))
    report = world.run(after=GRACE)  # ``young`` is 90 s old: inside the grace
    assert report.swept == 1
    assert world.delivered(old.id) and not world.delivered(young.id)
    assert world.cursor() == SweepCursor.past(old)
    assert world.run(after=timedelta(seconds=30)).swept == 1
    assert world.delivered(young.id)
    assert world.cursor() == SweepCursor.past(young)


def test_the_first_run_sweeps_no_history() -> None:
    world = World()
    history = world.publish(1, at=world.now - GRACE - timedelta(seconds=1))
    started(world)
    assert not world.delivered(history.id)
    assert world.run(after=timedelta(minutes=5)).swept == 0


def test_a_failing_fan_out_holds_the_cursor_and_the_next_run_retries_it() -> None:
    world = World()
    started(world)
    first = world.publish(1, at=world.now)
    failing = world.publish(2, at=world.now)  # equal occurred_at: ordered by id
    last = world.publish(3, at=world.now + timedelta(seconds=1))
    world.failing.add(failing.id)
    report = world.run(after=GRACE + timedelta(seconds=1))
    assert (report.swept, report.failed, report.advanced) == (1, failing.id, True)
    assert "Contention" in (report.error or "")
    assert world.cursor() == SweepCursor.past(first)
    assert world.delivered(first.id) and not world.delivered(last.id)
    # Still failing: nothing moves, nothing is written.
    report = world.run(after=timedelta(minutes=1))
    assert (report.swept, report.failed, report.advanced) == (0, failing.id, False)
    assert world.cursor() == SweepCursor.past(first)
    world.failing.clear()  # the queue is back
    report = world.run(after=timedelta(minutes=1))
    assert (report.swept, report.failed) == (2, None)
    assert world.delivered(failing.id) and world.delivered(last.id)
    assert world.inbox.get("u1", failing.id).event_id == failing.id
    assert world.cursor() == SweepCursor.past(last)


def test_pages_go_on_from_the_last_event_and_a_run_reads_at_most_its_pages() -> None:
    world = World(page_size=2, max_pages=2)
    started(world)
    published = [world.publish(n, at=world.now) for n in range(5)]  # all at one instant
    report = world.run(after=GRACE)
    assert report.swept == 4
    assert world.cursor() == SweepCursor.past(published[3])
    assert world.run(after=timedelta(minutes=1)).swept == 1
    assert all(world.delivered(event.id) for event in published)
    assert world.cursor() == SweepCursor.past(published[4])


def test_of_two_overlapping_runs_one_stores_the_cursor() -> None:
    world = World()
    started(world)
    event = world.publish(1, at=world.now)
    world.now += GRACE
    rival = SweepCursor(through=world.now, last_id="zzz")

    def rival_run() -> None:
        stored = world.cursors.read(SWEEP)
        assert stored is not None
        assert world.cursors.advance(SWEEP, rival, expected_version=stored.version)

    world.cursors.before_advance = rival_run
    report = world.sweep.run(world.now)
    assert report.swept == 1 and not report.advanced
    assert world.cursor() == rival  # the winner's cursor stands
    assert world.delivered(event.id)


def test_a_first_run_racing_another_first_run_loses_quietly() -> None:
    world = World()
    world.cursors.before_advance = lambda: world.cursors.stored.update(
        {SWEEP: (SweepCursor(world.now - GRACE), 99)}
    )
    report = world.sweep.run(world.now)
    assert not report.advanced
    assert world.cursor() == SweepCursor(world.now - GRACE)


# --- the setting and the scheduled function's module --------------------------------------


def test_the_grace_is_a_setting_defaulting_to_the_domains() -> None:
    from celeste_functions.config import Settings

    base = {"GCLOUD_PROJECT": "demo-celeste"}
    assert Settings.from_env(dict(base)).outbox_grace_s == DEFAULT_GRACE.total_seconds()
    assert Settings.from_env({**base, "CELESTE_OUTBOX_GRACE_S": "300"}).outbox_grace_s == 300


def test_the_scheduled_run_sweeps_through_the_wired_service() -> None:
    from celeste_functions import composition
    from celeste_functions.adapters.cache import Cache
    from celeste_functions.composition import Services
    from celeste_functions.triggers import outbox

    world = World()
    started(world)
    event = world.publish(1, at=world.now)
    world.failing.add(event.id)
    composition.use(Services(cache=Cache(client=lambda: None, ttl_s=60), outbox_sweep=world.sweep))
    try:
        held = outbox.redrive(world.now + GRACE)
        assert (held.swept, held.failed) == (0, event.id)
        world.failing.clear()
        done = outbox.redrive(world.now + GRACE + timedelta(minutes=1))
        assert (done.swept, done.failed) == (1, None)
    finally:
        composition.services.reset()
    assert world.delivered(event.id)
