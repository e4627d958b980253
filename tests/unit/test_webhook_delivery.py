"""The webhook service over fakes: fan-out, one send per attempt whatever the redelivery,
ordering per (endpoint, aggregate) under reordered triggers, retries, deactivation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from celeste.kernel.errors import Conflict, ValidationFailed
from celeste.kernel.events import Aggregate, Event
from celeste.services.webhooks import QUEUE, NotYet, WebhookService
from celeste.webhooks.deliveries import DeliveryStatus
from celeste.webhooks.endpoints import WebhookCreate, WebhookPatch
from celeste.webhooks.signing import verify
from tests.fakes import FakeReceiver, InMemoryEvents, InMemoryTasks, InMemoryWebhooks

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)
URL = "https://hooks.example.com/celeste"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class World:
    def __init__(self, *, schedule: tuple[int, ...] = (10, 20), deactivate_after: int = 5):
        self.clock = Clock()
        self.events = InMemoryEvents()
        self.repo = InMemoryWebhooks(self.events)
        self.receiver = FakeReceiver()
        self.tasks = InMemoryTasks()
        self.service = WebhookService(
            repository=self.repo,
            events=self.events,
            sender=self.receiver,
            tasks=self.tasks,
            allow_loopback=False,
            schedule=schedule,
            deactivate_after=deactivate_after,
            clock=self.clock,
            sleep=lambda s: None,
        )

    def endpoint(self, events: list[str] | None = None) -> tuple[str, str]:
        created, secret = self.service.create(WebhookCreate(url=URL, events=events or ["*"]))
        return created.value.id, secret

    def event(self, order: str, sequence: int, kind: str = "order.placed") -> Event:
        self.clock.now += timedelta(seconds=1)
        return self.events.add(
            Event(
                id=f"order-{order}-{sequence}",
                type=kind,
                aggregate=Aggregate(kind="order", id=order),
                sequence=sequence,
                occurred_at=self.clock.now,
                data={"n": sequence},
            )
        )

    def run_tasks(self, *, rounds: int = 50) -> int:
        """Run queued delivery tasks (each as the queue would: due ones first, time advanced to
        the next due one) until none is left; how many ran."""
        ran = 0
        for _ in range(rounds):
            tasks = self.tasks.take(QUEUE)
            if not tasks:
                return ran
            for task in sorted(tasks, key=lambda t: t.delay_seconds):
                self.clock.now += timedelta(seconds=task.delay_seconds)
                payload = task.payload
                self.service.deliver(payload["webhook_id"], payload["event_id"], payload["attempt"])
                ran += 1
        raise AssertionError("tasks kept coming")


def test_fan_out_opens_a_delivery_per_subscribed_endpoint_created_before_the_event() -> None:
    world = World()
    every, _ = world.endpoint()
    paid_only, _ = world.endpoint(["order.paid"])
    placed = world.event("o1", 1)
    world.clock.now += timedelta(seconds=1)
    late, _ = world.endpoint()  # created after the event
    assert set(world.service.fan_out(placed)) == {every}
    assert world.repo.delivery(every, placed.id) is not None
    assert world.repo.delivery(paid_only, placed.id) is None
    assert world.repo.delivery(late, placed.id) is None


def test_a_delivery_is_signed_and_sent_once_whatever_the_redelivery() -> None:
    world = World()
    wid, secret = world.endpoint()
    event = world.event("o1", 1)
    world.service.fan_out(event)
    world.service.fan_out(event)  # a redelivered trigger
    tasks = world.tasks.take(QUEUE)
    assert len(tasks) == 1 and tasks[0].task_id == f"{wid}-{event.id}-0"
    payload = tasks[0].payload
    for _ in range(3):  # the same task delivered three times
        world.service.deliver(payload["webhook_id"], payload["event_id"], payload["attempt"])
    assert world.receiver.event_ids() == [event.id]
    _, headers, body = world.receiver.sent[0]
    assert headers["Celeste-Event-Type"] == "order.placed"
    assert verify(secret, headers["Celeste-Signature"], body, now=int(T0.timestamp()) + 1)
    assert json.loads(body) == event.model_dump(mode="json")
    world.service.fan_out(event)  # after delivery: nothing is enqueued again
    assert world.tasks.take(QUEUE) == []
    found = world.repo.delivery(wid, event.id)
    assert found is not None and found.value.status is DeliveryStatus.DELIVERED


def test_a_duplicate_task_during_a_send_finds_the_lease_and_sends_nothing() -> None:
    world = World()
    wid, _ = world.endpoint()
    event = world.event("o1", 1)
    world.service.fan_out(event)
    world.tasks.take(QUEUE)
    outcomes: list[str] = []
    world.receiver.during_send = lambda _: outcomes.append(world.service.deliver(wid, event.id, 0))
    world.service.deliver(wid, event.id, 0)
    assert outcomes == ["another task holds the attempt"]
    assert world.receiver.event_ids() == [event.id]


def test_two_tasks_that_read_the_same_attempt_claim_it_once() -> None:
    world = World()
    wid, _ = world.endpoint()
    event = world.event("o1", 1)
    world.service.fan_out(event)
    world.tasks.take(QUEUE)
    inner: list[str] = []
    # Both tasks read the pending attempt; the inner one's claim commits first.
    world.repo.before_claim = lambda w, e: inner.append(world.service.deliver(wid, event.id, 0))
    outer = world.service.deliver(wid, event.id, 0)
    assert inner[0].startswith("attempt 1") and outer == "another task claimed the attempt"
    assert world.receiver.event_ids() == [event.id]


def test_failed_attempts_follow_the_schedule_then_fail() -> None:
    world = World(schedule=(10, 20))
    wid, _ = world.endpoint()
    event = world.event("o1", 1)
    world.receiver.default = 500
    world.service.fan_out(event)
    first = world.tasks.take(QUEUE)[0]
    world.service.deliver(wid, event.id, 0)
    retry = list(world.tasks.tasks)
    assert [(t.task_id, t.delay_seconds) for t in retry] == [(f"{wid}-{event.id}-1", 10)]
    found = world.repo.delivery(wid, event.id)
    assert found is not None and found.value.attempts == 1
    assert found.value.next_attempt_at == world.clock.now + timedelta(seconds=10)
    world.service.deliver(wid, event.id, 0)  # the first task again: its attempt is past
    assert len(world.receiver.sent) == 1 and first.delay_seconds == 0
    world.run_tasks()
    found = world.repo.delivery(wid, event.id)
    assert found is not None and found.value.status is DeliveryStatus.FAILED
    assert found.value.attempts == 3 and len(world.receiver.sent) == 3


def test_event_n_plus_1_parks_until_n_settles() -> None:
    world = World()
    wid, _ = world.endpoint()
    first, second = world.event("o1", 1), world.event("o1", 2, "order.confirmed")
    world.receiver.answers = [500]  # the first attempt of event 1 fails
    world.service.fan_out(first)
    world.service.fan_out(second)
    world.run_tasks()
    assert world.receiver.event_ids() == [first.id, first.id, second.id]
    parked_once = world.repo.delivery(wid, second.id)
    assert parked_once is not None and parked_once.value.attempts == 1  # parking used none


def test_the_order_holds_when_n_plus_1_is_fanned_out_first() -> None:
    world = World()
    world.endpoint()
    first, second = world.event("o1", 1), world.event("o1", 2, "order.confirmed")
    third = world.event("o1", 3, "order.paid")
    # Triggers reordered: 3 and 2 fan out and run before 1's trigger ever fires.
    world.service.fan_out(third)
    world.service.fan_out(second)
    world.run_tasks()
    world.service.fan_out(first)  # late: its delivery was opened by the parked successor
    world.run_tasks()
    assert world.receiver.event_ids() == [first.id, second.id, third.id]


def test_a_failing_aggregate_does_not_hold_up_another() -> None:
    world = World(schedule=(10, 20))
    world.endpoint()
    a1, b1 = world.event("a", 1), world.event("b", 1)
    a2 = world.event("a", 2, "order.confirmed")
    world.receiver.answers = [500]  # a1's first attempt fails
    for event in (a1, b1, a2):
        world.service.fan_out(event)
    for task in world.tasks.take(QUEUE):
        p = task.payload
        world.service.deliver(p["webhook_id"], p["event_id"], p["attempt"])
    assert world.receiver.event_ids() == [a1.id, b1.id]  # b went while a waits to retry
    world.run_tasks()
    assert world.receiver.event_ids() == [a1.id, b1.id, a1.id, a2.id]


def test_a_finally_failed_predecessor_lets_its_successor_go() -> None:
    world = World(schedule=(1,))
    wid, _ = world.endpoint()
    first, second = world.event("o1", 1), world.event("o1", 2, "order.confirmed")
    world.receiver.answers = [500, 500]
    world.service.fan_out(first)
    world.service.fan_out(second)
    world.run_tasks()
    assert world.receiver.event_ids() == [first.id, first.id, second.id]
    done = world.repo.delivery(wid, second.id)
    assert done is not None and done.value.status is DeliveryStatus.DELIVERED


def test_unsubscribed_and_older_events_are_no_predecessors() -> None:
    world = World()
    early = world.event("o1", 1)
    wid, _ = world.endpoint(["order.confirmed", "order.paid"])
    world.event("o1", 2, "order.confirmed")
    world.event("o1", 3, "order.cancelled")
    paid = world.event("o1", 4, "order.paid")
    world.service.fan_out(paid)
    world.run_tasks()
    # 4 waits for 2 (subscribed, after the endpoint), which the parked 4 opened; never 1 or 3.
    assert world.receiver.event_ids() == ["order-o1-2", paid.id]
    assert world.repo.delivery(wid, early.id) is None


def test_deactivation_after_a_run_of_failures_writes_its_event_once() -> None:
    world = World(schedule=(), deactivate_after=2)
    wid, _ = world.endpoint()
    world.receiver.default = 503
    for order in ("a", "b"):
        world.service.fan_out(world.event(order, 1))
    world.run_tasks()
    hook = world.service.get(wid).value
    assert not hook.active and hook.revision == 2
    deactivations = [e for e in world.events.events.values() if e.type == "webhook.deactivated"]
    assert [e.id for e in deactivations] == [f"webhook-{wid}-1"]
    assert "secret" not in deactivations[0].data
    # Nothing more is sent to an inactive endpoint (its deliveries wait for a reactivation).
    world.service.fan_out(world.event("c", 1))
    assert world.run_tasks() == 0
    assert world.repo.deliveries_of[wid]["order-c-1"][0].status is DeliveryStatus.PENDING
    assert len(world.receiver.sent) == 2


def test_a_success_resets_the_run() -> None:
    world = World(schedule=(), deactivate_after=2)
    wid, _ = world.endpoint()
    world.receiver.answers = [500, 200, 500]
    for order in ("a", "b", "c"):
        world.service.fan_out(world.event(order, 1))
        world.run_tasks()
    hook = world.service.get(wid).value
    assert hook.active and hook.consecutive_failures == 1


def test_an_inactive_endpoint_collects_deliveries_and_resumes_them_in_order() -> None:
    world = World()
    wid, _ = world.endpoint()
    version = world.service.get(wid).version
    world.service.update(wid, WebhookPatch(active=False), expected_version=version)
    world.service.fan_out(world.event("o1", 1))  # recorded, nothing enqueued
    world.service.fan_out(world.event("o1", 2, "order.confirmed"))
    assert world.tasks.take(QUEUE) == [] and len(world.repo.deliveries_of[wid]) == 2
    world.service.update(wid, WebhookPatch(active=True), expected_version=None)
    world.run_tasks()
    world.service.fan_out(world.event("o1", 3, "order.paid"))
    world.run_tasks()
    assert world.receiver.event_ids() == ["order-o1-1", "order-o1-2", "order-o1-3"]


def test_manual_retry_replay_and_ping() -> None:
    world = World(schedule=())
    wid, secret = world.endpoint()
    first, second = world.event("o1", 1), world.event("o1", 2, "order.confirmed")
    world.receiver.answers = [500]
    world.service.fan_out(first)
    world.service.fan_out(second)
    world.run_tasks()  # 1 fails finally, 2 is delivered
    view, report = world.service.retry(wid, first.id)
    assert report.delivered and not report.replay and view.status is DeliveryStatus.DELIVERED
    view, report = world.service.retry(wid, second.id)
    assert report.replay and view.replays == 1 and view.status is DeliveryStatus.DELIVERED
    ping = world.service.test(wid)
    assert ping.delivered
    _, headers, body = world.receiver.sent[-1]
    assert headers["Celeste-Event-Type"] == "ping" and json.loads(body)["type"] == "ping"
    assert verify(secret, headers["Celeste-Signature"], body, now=int(world.clock.now.timestamp()))


def test_a_pending_retry_waits_its_turn() -> None:
    world = World()
    wid, _ = world.endpoint()
    first, second = world.event("o1", 1), world.event("o1", 2, "order.confirmed")
    world.service.fan_out(first)
    world.service.fan_out(second)
    with pytest.raises(Conflict, match=first.id):
        world.service.retry(wid, second.id)
    _, report = world.service.retry(wid, first.id)  # attempted now, ahead of its task
    assert report.delivered
    world.run_tasks()
    assert world.receiver.event_ids() == [first.id, second.id]


def test_urls_are_checked_at_create_and_patch() -> None:
    world = World()
    with pytest.raises(ValidationFailed) as caught:
        world.service.create(WebhookCreate(url="https://10.0.0.1/x", events=["*"]))
    assert caught.value.errors[0].field == "url"
    world.receiver.refused["https://internal.example/"] = "the host resolves to 10.0.0.2"
    with pytest.raises(ValidationFailed):
        world.service.create(WebhookCreate(url="https://internal.example/", events=["*"]))
    wid, _ = world.endpoint()
    with pytest.raises(ValidationFailed):
        world.service.update(wid, WebhookPatch(url="http://a.example/"), expected_version=None)


def test_rotation_changes_the_secret_that_signs() -> None:
    world = World()
    wid, old = world.endpoint()
    new = world.service.rotate_secret(wid)
    assert new != old
    world.service.test(wid)
    _, headers, body = world.receiver.sent[-1]
    now = int(world.clock.now.timestamp())
    assert verify(new, headers["Celeste-Signature"], body, now=now)
    assert not verify(old, headers["Celeste-Signature"], body, now=now)


def test_a_task_that_comes_early_is_retried_not_dropped() -> None:
    world = World(schedule=(10, 20))
    wid, _ = world.endpoint()
    event = world.event("o1", 1)
    world.receiver.default = 500
    world.service.fan_out(event)
    world.tasks.take(QUEUE)
    world.service.deliver(wid, event.id, 0)
    with pytest.raises(NotYet):  # the retry's task run before its time: the queue runs it again
        world.service.deliver(wid, event.id, 1)
    with pytest.raises(NotYet):  # a task of an attempt whose predecessor is not recorded yet
        world.service.deliver(wid, event.id, 2)
    world.clock.now += timedelta(seconds=10)
    assert world.service.deliver(wid, event.id, 1) == "attempt 2: 500"
    assert len(world.receiver.sent) == 2


def test_a_failed_replay_does_not_count_toward_deactivation() -> None:
    world = World(schedule=(), deactivate_after=2)
    wid, _ = world.endpoint()
    world.service.fan_out(world.event("o1", 1))
    world.run_tasks()
    world.receiver.default = 500
    for _ in range(3):
        _, report = world.service.retry(wid, "order-o1-1")
        assert report.replay and not report.delivered
    hook = world.service.get(wid).value
    assert hook.active and hook.consecutive_failures == 0
    assert not [e for e in world.events.events.values() if e.type == "webhook.deactivated"]
