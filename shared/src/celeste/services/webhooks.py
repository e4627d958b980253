"""Webhooks: admins keep endpoints; events fan out to deliveries; a task makes each attempt,
exactly once where Celeste controls it and in order per (endpoint, aggregate)
(``docs/webhooks.md`` has the argument).

The steps that make ordering safe under reordered triggers: a delivery document is created
before its predecessor is checked, and a settlement is recorded before the successor is looked
for, so of "n settles" and "n+1 is created" one always sees the other.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from celeste.kernel.clock import Clock, utcnow
from celeste.kernel.errors import (
    Conflict,
    Contention,
    NotFound,
    ValidationFailed,
)
from celeste.kernel.events import Aggregate, Event, event_id
from celeste.kernel.ids import new_id
from celeste.kernel.paging import Page
from celeste.kernel.versions import Versioned
from celeste.ports.tasks import TaskQueue
from celeste.ports.webhooks import EventReader, Recorded, WebhookRepository, WebhookSender
from celeste.services.retry import REQUEST, Backoff
from celeste.services.versioned import versioned_write
from celeste.webhooks.addresses import url_refusal
from celeste.webhooks.deliveries import (
    DEFAULT_SCHEDULE,
    Delivery,
    DeliveryStatus,
    DeliveryView,
    Outcome,
    claim_refusal,
    claimed,
    early,
    new_delivery,
    payload,
    recorded,
    replayed,
)
from celeste.webhooks.endpoints import (
    DEACTIVATE_AFTER,
    WEBHOOK,
    CreatedWebhook,
    Deactivation,
    StoredWebhook,
    Webhook,
    WebhookCreate,
    WebhookPatch,
    after_settled,
)
from celeste.webhooks.signing import new_secret, signature_header
from celeste.webhooks.types import PING, subscribes

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The task-queue function that makes attempts (a queue id: no underscores).
QUEUE = "webhookdelivery"
#: Pending deliveries re-enqueued when an endpoint is reactivated.
RESUME_LIMIT = 500


def task_payload(webhook_id: str, event_id_: str, attempt: int) -> dict[str, object]:
    """What a delivery task carries: the endpoint, the event and the attempts made before it."""
    return {"webhook_id": webhook_id, "event_id": event_id_, "attempt": attempt}


class NotYet(Contention):
    """A task came before its time (its retry not due, the attempt before it not recorded
    yet): the queue must run it again later."""


class Claimed(Conflict):
    """Another task (or an admin's retry) claimed this attempt first."""


@dataclass(frozen=True)
class SendReport:
    """What a manual send (``retry``, ``test``) came to."""

    status_code: int | None
    error: str | None
    delivered: bool
    replay: bool = False


class WebhookService:
    """The webhooks resource, the fan-out trigger and the delivery task."""

    def __init__(
        self,
        *,
        repository: WebhookRepository,
        events: EventReader,
        sender: WebhookSender,
        tasks: TaskQueue,
        allow_loopback: bool,
        schedule: tuple[int, ...] = DEFAULT_SCHEDULE,
        deactivate_after: int = DEACTIVATE_AFTER,
        clock: Clock = utcnow,
        backoff: Backoff = REQUEST,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._repo = repository
        self._events = events
        self._sender = sender
        self._tasks = tasks
        self._allow_loopback = allow_loopback
        self._schedule = schedule
        self._deactivate_after = deactivate_after
        self._clock = clock
        self._backoff = backoff
        self._sleep = sleep

    # --- endpoints (admin) ------------------------------------------------------------------

    def _check_url(self, url: str) -> None:
        refused = url_refusal(url, allow_loopback=self._allow_loopback) or self._sender.refusal(url)
        if refused is not None:
            raise ValidationFailed.on("url", f"url refused: {refused}")

    def create(self, request: WebhookCreate) -> tuple[Versioned[Webhook], str]:
        """Register an endpoint; its secret is answered here (and by ``rotate``) only."""
        self._check_url(request.url)
        now = self._clock()
        webhook = Webhook(
            id=new_id(),
            url=request.url,
            events=request.events,
            description=request.description,
            created_at=now,
            updated_at=now,
        )
        secret = new_secret()
        return self._repo.create(StoredWebhook(webhook=webhook, secret=secret)), secret

    def created_view(self, found: Versioned[Webhook], secret: str) -> CreatedWebhook:
        """The answer of a create: the endpoint and its secret."""
        return CreatedWebhook(**found.value.model_dump(), secret=secret)

    def get(self, webhook_id: str) -> Versioned[Webhook]:
        """One endpoint (no secret)."""
        found = self._repo.get(webhook_id)
        return Versioned(found.value.webhook, found.version)

    def list(self, *, limit: int, cursor: str | None) -> Page[Webhook]:
        """A page of endpoints, oldest first."""
        return self._repo.list(limit=limit, cursor=cursor)

    def update(
        self, webhook_id: str, patch: WebhookPatch, *, expected_version: str | None
    ) -> Versioned[Webhook]:
        """Change the fields sent (``If-Match`` honoured); a reactivated endpoint starts a
        fresh run and its pending deliveries are resumed."""
        changes = patch.changes()
        if "url" in changes:
            self._check_url(changes["url"])
        reactivated: set[str] = set()

        def write(current: Versioned[StoredWebhook]) -> Versioned[Webhook]:
            before = current.value.webhook
            update = {**changes, "updated_at": self._clock(), "revision": before.revision + 1}
            if changes.get("active") is True and not before.active:
                update["consecutive_failures"] = 0
                reactivated.add(before.id)
            webhook = Webhook.model_validate({**before.model_dump(), **update})
            stored = StoredWebhook(webhook=webhook, secret=current.value.secret)
            return self._repo.replace(stored, expected_version=current.version)

        updated = self._versioned(webhook_id, write, expected_version, "updating")
        if reactivated:
            self._resume(updated.value)
        return updated

    def delete(self, webhook_id: str, *, expected_version: str | None) -> None:
        """Remove an endpoint and its deliveries (``If-Match`` honoured); tasks still queued
        for it find it gone and do nothing."""

        def write(current: Versioned[StoredWebhook]) -> None:
            self._repo.delete(webhook_id, expected_version=current.version)

        self._versioned(webhook_id, write, expected_version, "deleting")

    def rotate_secret(self, webhook_id: str) -> str:
        """A new secret: deliveries signed from now on use it; the old one stops verifying."""
        secret = new_secret()

        def write(current: Versioned[StoredWebhook]) -> None:
            before = current.value.webhook
            webhook = before.model_copy(
                update={"revision": before.revision + 1, "updated_at": self._clock()}
            )
            stored = StoredWebhook(webhook=webhook, secret=secret)
            self._repo.replace(stored, expected_version=current.version)

        self._versioned(webhook_id, write, None, "rotating the secret of")
        return secret

    def _versioned(
        self,
        webhook_id: str,
        write: Callable[[Versioned[StoredWebhook]], T],
        expected_version: str | None,
        doing: str,
    ) -> T:
        return versioned_write(
            lambda: self._repo.get(webhook_id),
            write,
            expected_version=expected_version,
            subject=f"webhook {webhook_id}",
            what=f"{doing} webhook {webhook_id}",
            backoff=self._backoff,
            sleep=self._sleep,
        )

    def deliveries(
        self, webhook_id: str, *, status: DeliveryStatus | None, limit: int, cursor: str | None
    ) -> Page[DeliveryView]:
        """A page of an endpoint's deliveries, newest first."""
        self._repo.get(webhook_id)  # 404 for an unknown endpoint
        page = self._repo.deliveries(webhook_id, status=status, limit=limit, cursor=cursor)
        return Page([DeliveryView.of(d) for d in page.items], page.next_cursor)

    # --- fan-out (the trigger on events/{id}) -----------------------------------------------

    def fan_out(self, event: Event) -> Sequence[str]:
        """Open a delivery of ``event`` for every endpoint subscribed to its type and created
        before it, and enqueue the first attempt for the active ones (an inactive endpoint's
        deliveries wait, in order, for its reactivation). A redelivered trigger creates nothing
        new and only enqueues again what is still pending (the task ids make that a no-op when
        the task is known)."""
        opened = []
        for found in self._repo.endpoints():
            webhook = found.value.webhook
            if subscribes(webhook.events, event.type) and webhook.created_at <= event.occurred_at:
                self._open(webhook, event)
                opened.append(webhook.id)
        return opened

    def _open(self, webhook: Webhook, event: Event) -> None:
        delivery = new_delivery(event, at=self._clock())
        if not self._repo.create_delivery(webhook.id, delivery):
            existing = self._repo.delivery(webhook.id, event.id)
            if existing is None or existing.value.status is not DeliveryStatus.PENDING:
                return
            delivery = existing.value
        if webhook.active:
            self._enqueue(webhook.id, delivery)

    def _enqueue(self, webhook_id: str, delivery: Delivery, *cause: str, delay: int = 0) -> None:
        attempt = delivery.attempts
        self._tasks.enqueue(
            QUEUE,
            task_payload(webhook_id, delivery.event_id, attempt),
            task_id="-".join((webhook_id, delivery.event_id, str(attempt), *cause)),
            delay_seconds=delay,
        )

    # --- the delivery task --------------------------------------------------------------------

    def deliver(self, webhook_id: str, event_id_: str, attempt: int) -> str:
        """Make attempt ``attempt + 1`` of a delivery, once: what happened, for the log.

        A task that finds the endpoint gone or inactive, the attempt made or leased, or the
        predecessor unsettled (the delivery parks: no attempt used) does nothing. One that came
        early (its retry not due, the attempt before it not recorded yet) raises ``NotYet``,
        and storage errors propagate: the queue retries those tasks.
        """
        try:
            endpoint = self._repo.get(webhook_id).value
        except NotFound:
            return "endpoint gone"
        if not endpoint.webhook.active:
            return "endpoint inactive"
        current = self._repo.delivery(webhook_id, event_id_)
        if current is None:
            return "no such delivery"
        if current.value.settled or current.value.attempts == attempt + 1:
            # This task's attempt is recorded: a retried task (its first run died after the
            # record) enqueues what follows it; the task ids make a repeat a no-op.
            self._follow_up(webhook_id, current.value)
            return f"attempt {attempt + 1} recorded ({current.value.status})"
        now = self._clock()
        refused = claim_refusal(current.value, attempt, now=now)
        if refused is not None:
            if early(current.value, attempt, now=now):
                raise NotYet(f"delivery {webhook_id}/{event_id_}: {refused}; retry the task")
            return refused
        waiting = self._waiting_for(endpoint.webhook, current.value)
        if waiting is not None:
            return f"parked behind {waiting}"
        event = self._events.event(event_id_)
        if event is None:
            return "no such event"
        try:
            outcome = self._attempt(endpoint, current, event)
        except Claimed:
            return "another task claimed the attempt"
        return f"attempt {attempt + 1}: {outcome.status_code or outcome.error}"

    def _waiting_for(self, webhook: Webhook, delivery: Delivery) -> str | None:
        """The event id this delivery waits for, or ``None`` when it may go: its predecessor
        (the latest earlier event of its aggregate this endpoint subscribes to, from after the
        endpoint was created) must have a settled delivery. A predecessor without a delivery
        yet (its fan-out has not run) gets one here, the same create-only write."""
        previous = self._predecessor(webhook, delivery)
        if previous is None:
            return None
        found = self._repo.delivery(webhook.id, previous.id)
        if found is None:
            self._open(webhook, previous)
            return previous.id
        return None if found.value.settled else previous.id

    def _predecessor(self, webhook: Webhook, delivery: Delivery) -> Event | None:
        kind, aggregate_id = delivery.aggregate.kind, delivery.aggregate.id
        for sequence in range(delivery.sequence - 1, 0, -1):
            event = self._events.event(event_id(kind, aggregate_id, sequence))
            if event is None:  # sequences are gapless: only a log pruned by hand ends here
                return None
            if event.occurred_at < webhook.created_at:
                return None
            if subscribes(webhook.events, event.type):
                return event
        return None

    def _attempt(
        self, endpoint: StoredWebhook, current: Versioned[Delivery], event: Event
    ) -> Outcome:
        """Claim, send, record, then enqueue what follows: the next attempt after a failure,
        the aggregate's next delivery after a settlement. A crash after the record leaves the
        task to be retried, and the retried task enqueues what follows (``_follow_up``)."""
        webhook_id = endpoint.webhook.id
        self._claim(webhook_id, current)
        outcome = self._send(endpoint, event)
        after = recorded(current.value, outcome, now=self._clock(), schedule=self._schedule)
        self._record(webhook_id, current.value, after)
        self._follow_up(webhook_id, after)
        return outcome

    def _follow_up(self, webhook_id: str, delivery: Delivery) -> None:
        if delivery.settled:
            self._wake_successor(webhook_id, delivery)
            return
        due = delivery.next_attempt_at or self._clock()
        pause = max(0, math.ceil((due - self._clock()).total_seconds()))
        self._enqueue(webhook_id, delivery, delay=pause)

    def _claim(self, webhook_id: str, current: Versioned[Delivery]) -> None:
        """Lease the attempt in a transaction: of two tasks (or a task and an admin's retry)
        claiming the attempt ``current`` shows, one commits and the other is ``Claimed``."""
        seen = current.value

        def decide(delivery: Delivery) -> Delivery | None:
            now = self._clock()
            if delivery.status is not seen.status or delivery.attempts != seen.attempts:
                return None
            if delivery.lease_until is not None and delivery.lease_until > now:
                return None
            return claimed(delivery, now=now)

        if self._repo.claim(webhook_id, seen.event_id, decide) is None:
            raise Claimed("another attempt of this delivery claimed it first")

    def _record(self, webhook_id: str, claimed_from: Delivery, after: Delivery) -> None:
        """Write the attempt's result, in one transaction, on the delivery still at the claimed
        attempt, and, when it settled, the endpoint's run (a deactivation and its event in the
        same write)."""

        def decide(current: Delivery, webhook: Webhook | None) -> Recorded | None:
            if (
                current.status is not claimed_from.status
                or current.attempts != claimed_from.attempts
            ):
                log.warning("delivery %s/%s moved under its lease", webhook_id, after.event_id)
                return None
            if not after.settled or webhook is None:
                return Recorded(after)
            change = after_settled(
                webhook,
                delivered=after.status is DeliveryStatus.DELIVERED,
                deactivate_after=self._deactivate_after,
                at=self._clock(),
            )
            if isinstance(change, Deactivation):
                return Recorded(after, change.webhook, change.event)
            return Recorded(after, change)

        self._repo.record(webhook_id, after.event_id, decide)

    def _wake_successor(self, webhook_id: str, settled: Delivery) -> None:
        successor = self._repo.next_pending(
            webhook_id, aggregate_id=settled.aggregate.id, after_sequence=settled.sequence
        )
        if successor is None:
            return
        due = successor.next_attempt_at
        if due is not None and due > self._clock():
            return  # waiting for a retry: its task is queued already
        self._enqueue(webhook_id, successor, "after", settled.event_id)

    def _send(self, endpoint: StoredWebhook, event: Event) -> Outcome:
        body = payload(event)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Celeste-Webhooks/1",
            "Celeste-Event-Id": event.id,
            "Celeste-Event-Type": event.type,
            "Celeste-Signature": signature_header(
                endpoint.secret, int(self._clock().timestamp()), body
            ),
        }
        return self._sender.send(endpoint.webhook.url, headers=headers, body=body)

    def _resume(self, webhook: Webhook) -> None:
        for delivery in self._repo.pending(webhook.id, limit=RESUME_LIMIT):
            self._enqueue(webhook.id, delivery, "resume", str(webhook.revision))

    # --- manual sends (admin) ---------------------------------------------------------------

    def retry(self, webhook_id: str, event_id_: str) -> tuple[DeliveryView, SendReport]:
        """Attempt a delivery now: a pending one makes its next attempt at once (still in
        order: 409 while its predecessor is unsettled); a failed one gets one more try; a
        delivered one is re-sent as an explicit replay (it stays delivered)."""
        endpoint = self._repo.get(webhook_id).value
        current = self._repo.delivery(webhook_id, event_id_)
        if current is None:
            raise NotFound(f"no delivery of event {event_id_} to webhook {webhook_id}")
        event = self._events.event(event_id_)
        if event is None:
            raise NotFound(f"no event {event_id_}")
        delivery = current.value
        now = self._clock()
        if delivery.lease_until is not None and delivery.lease_until > now:
            raise Conflict("an attempt of this delivery is under way; try again shortly")
        if delivery.status is DeliveryStatus.PENDING:
            waiting = self._waiting_for(endpoint.webhook, delivery)
            if waiting is not None:
                raise Conflict(f"this delivery waits for event {waiting} to be settled first")
            outcome = self._attempt(endpoint, current, event)
            report = SendReport(outcome.status_code, outcome.error, outcome.acknowledged)
        else:
            report = self._replay(endpoint, current, event)
        after = self._repo.delivery(webhook_id, event_id_)
        assert after is not None
        return DeliveryView.of(after.value), report

    def _replay(
        self, endpoint: StoredWebhook, current: Versioned[Delivery], event: Event
    ) -> SendReport:
        webhook_id = endpoint.webhook.id
        self._claim(webhook_id, current)
        replay = current.value.status is DeliveryStatus.DELIVERED
        outcome = self._send(endpoint, event)
        after = replayed(current.value, outcome, now=self._clock())
        self._record(webhook_id, current.value, after)
        return SendReport(outcome.status_code, outcome.error, outcome.acknowledged, replay=replay)

    def test(self, webhook_id: str) -> SendReport:
        """Send a ``ping`` event (not from the outbox, nothing recorded) and say how it went."""
        endpoint = self._repo.get(webhook_id).value
        now = self._clock()
        ping = Event(
            id=f"ping-{new_id()}",
            type=PING,
            aggregate=Aggregate(kind=WEBHOOK, id=webhook_id),
            sequence=0,
            occurred_at=now,
            data={"webhook_id": webhook_id, "url": endpoint.webhook.url},
        )
        outcome = self._send(endpoint, ping)
        return SendReport(outcome.status_code, outcome.error, outcome.acknowledged)
