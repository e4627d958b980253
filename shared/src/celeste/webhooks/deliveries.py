"""A delivery: one event on its way to one endpoint, and the rules it moves by.

``pending`` (waiting for its turn, an attempt or a retry) → ``delivered`` (a 2xx acknowledged
it) or ``failed`` (the retry schedule ran out). A task makes attempt ``n`` only after claiming
it: the delivery still pending, ``attempts == n``, no live lease, its retry due. The claim
sets a lease; the outcome is recorded on the claimed version. ``docs/webhooks.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from celeste.kernel.events import Aggregate, Event

#: How long a claimed attempt is its task's alone (longer than a send's 10 s timeout).
LEASE = timedelta(seconds=30)
#: How long a receiver has to answer.
SEND_TIMEOUT_S = 10.0
#: A retry's task may run this much before its ``next_attempt_at`` (clocks differ).
EARLY = timedelta(seconds=2)
#: The production retry schedule: the pause after each failed attempt, in seconds (31.7 h in
#: all, then the delivery is ``failed``).
DEFAULT_SCHEDULE: tuple[int, ...] = (30, 120, 600, 1800, 3600, 7200, 14400, 28800, 28800, 28800)
MAX_ERROR = 300


class DeliveryStatus(StrEnum):
    """Where a delivery is."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


SETTLED = frozenset({DeliveryStatus.DELIVERED, DeliveryStatus.FAILED})


class Delivery(BaseModel):
    """``webhooks/{webhook_id}/deliveries/{event_id}``."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    type: str
    aggregate: Aggregate
    sequence: int
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    created_at: datetime
    #: Until when a task holds the attempt it claimed (``None``: nobody).
    lease_until: datetime | None = None
    #: Explicit re-sends of an acknowledged delivery (``POST .../retry`` on a delivered one).
    replays: int = 0

    @property
    def settled(self) -> bool:
        """Acknowledged or finally failed: its successor may go."""
        return self.status in SETTLED


class DeliveryView(BaseModel):
    """A delivery as ``GET /webhooks/{id}/deliveries`` shows it."""

    event_id: str
    type: str
    aggregate: Aggregate
    sequence: int
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    replays: int

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryView:
        """The public fields of ``delivery``."""
        return cls.model_validate(delivery.model_dump(exclude={"created_at", "lease_until"}))


def new_delivery(event: Event, *, at: datetime) -> Delivery:
    """The delivery of ``event``, pending, no attempt made."""
    return Delivery(
        event_id=event.id,
        type=event.type,
        aggregate=event.aggregate,
        sequence=event.sequence,
        created_at=at,
    )


@dataclass(frozen=True)
class Outcome:
    """What one send came to: a status code (``None``: no answer) and, unless a 2xx, why not."""

    status_code: int | None
    error: str | None = None

    @property
    def acknowledged(self) -> bool:
        """A 2xx answer within the timeout."""
        return self.status_code is not None and 200 <= self.status_code < 300


def parse_schedule(setting: str) -> tuple[int, ...]:
    """``"30,120,600"`` as pauses in seconds; ``ValueError`` names the flaw."""
    try:
        pauses = tuple(int(part) for part in setting.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"a retry schedule is comma-separated seconds, not {setting!r}") from None
    if not pauses or any(p < 0 for p in pauses):
        raise ValueError(f"a retry schedule needs at least one pause of 0 s or more: {setting!r}")
    return pauses


def backoff(schedule: tuple[int, ...], attempts: int) -> int | None:
    """The pause after the ``attempts``-th failed attempt, or ``None``: no more attempts."""
    if attempts < 1 or attempts > len(schedule):
        return None
    return schedule[attempts - 1]


def early(delivery: Delivery, attempt: int, *, now: datetime) -> bool:
    """Whether a task of ``attempt`` came before its time: the attempt before it is not
    recorded yet (the next task is enqueued just before the record), or its retry is not due.
    Such a task must run again later (the queue retries it), not be dropped."""
    if delivery.settled:
        return False
    if delivery.attempts < attempt:
        return True
    due = delivery.next_attempt_at
    return delivery.attempts == attempt and due is not None and due - EARLY > now


def claim_refusal(delivery: Delivery, attempt: int, *, now: datetime) -> str | None:
    """Why a task of ``attempt`` (the attempts made before it) may not send now, or ``None``."""
    if delivery.settled:
        return f"already {delivery.status}"
    if delivery.attempts > attempt:
        return f"attempt {attempt + 1} was made already"
    if delivery.attempts < attempt:
        return f"attempt {delivery.attempts} is not recorded yet"
    if delivery.lease_until is not None and delivery.lease_until > now:
        return "another task holds the attempt"
    if delivery.next_attempt_at is not None and delivery.next_attempt_at - EARLY > now:
        return "its retry is not due"
    return None


def claimed(delivery: Delivery, *, now: datetime) -> Delivery:
    """``delivery`` with the attempt leased to the claiming task."""
    return delivery.model_copy(update={"lease_until": now + LEASE})


def recorded(
    delivery: Delivery, outcome: Outcome, *, now: datetime, schedule: tuple[int, ...]
) -> Delivery:
    """``delivery`` after an attempt (the lease released): delivered on a 2xx; otherwise still
    pending with its next attempt due after ``backoff``, or failed once the schedule ran out."""
    attempts = delivery.attempts + 1
    base = {
        "attempts": attempts,
        "lease_until": None,
        "last_status_code": outcome.status_code,
        "last_error": None if outcome.acknowledged else (outcome.error or "no answer")[:MAX_ERROR],
    }
    if outcome.acknowledged:
        return delivery.model_copy(
            update={
                **base,
                "status": DeliveryStatus.DELIVERED,
                "delivered_at": now,
                "next_attempt_at": None,
            }
        )
    pause = backoff(schedule, attempts)
    if pause is None:
        return delivery.model_copy(
            update={**base, "status": DeliveryStatus.FAILED, "next_attempt_at": None}
        )
    return delivery.model_copy(update={**base, "next_attempt_at": now + timedelta(seconds=pause)})


def replayed(delivery: Delivery, outcome: Outcome, *, now: datetime) -> Delivery:
    """A manual send of a delivery already settled (a replay of a delivered one, or one more
    try of a failed one): a 2xx makes it delivered; otherwise it stays as it was, the answer
    noted."""
    update: dict[str, object] = {
        "attempts": delivery.attempts + 1,
        "lease_until": None,
        "last_status_code": outcome.status_code,
        "last_error": None if outcome.acknowledged else (outcome.error or "no answer")[:MAX_ERROR],
    }
    if delivery.status is DeliveryStatus.DELIVERED:
        update["replays"] = delivery.replays + 1
    elif outcome.acknowledged:
        update |= {"status": DeliveryStatus.DELIVERED, "delivered_at": now}
    return delivery.model_copy(update=update)


def payload(event: Event) -> bytes:
    """The request body of ``event``: ``{id, type, aggregate, sequence, occurred_at, data}``."""
    return json.dumps(event.model_dump(mode="json"), separators=(",", ":")).encode()
