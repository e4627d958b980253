"""What one order owes its customer's stats, decided from the stored order alone.

An order counts in its customer's stats once it was delivered (its own ``history`` says so,
whatever an event claims), in its own currency. Each refund of its money that succeeded takes its
amount back out of the spend (a partial refund leaves the order counted as an order); once the
order is ``refunded`` in full, what is left of its spend and the order itself leave the stats.

Each step has a marker with a deterministic id, ``orders/{id}/effects/{marker}``, created in the
commit that changes the stats: ``count``, ``refund-{refund key}`` (one per refund) and
``reverse``. :func:`stats_steps` compares the stored order with the markers that exist and
returns the steps still owed, so any number of events, in any order, for moves that happened
or not, bring the stats to the same place, each step exactly once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from celeste.accounts.tiers import CustomerStats, record_delivery, reverse_delivery, take_back_share
from celeste.kernel.money import DEFAULT_CURRENCY
from celeste.orders.order import Order
from celeste.orders.payments import VOID_KEY, Refund
from celeste.orders.status import OrderStatus

StatsStepKind = Literal["count", "refund", "reverse"]

COUNT_MARKER = "count"
REVERSE_MARKER = "reverse"
_REFUND_PREFIX = "refund-"


def refund_marker(refund_key: str) -> str:
    """The marker id of the stats step of the refund made under ``refund_key``."""
    return f"{_REFUND_PREFIX}{refund_key}"


@dataclass(frozen=True)
class StatsStep:
    """One change the order still owes the stats: ``amount`` minor units of ``currency``."""

    marker: str
    kind: StatsStepKind
    currency: str
    amount: int


def counted_refunds(order: Order) -> list[Refund]:
    """The refunds that take spend back: every refund of the order's money that succeeded,
    in the order they were made. The automatic void (money the order never accepted: a payment
    that arrived after it ended, or for the wrong amount) is not a refund of what was spent."""
    payment = order.payment
    if payment is None:
        return []
    void = f"{order.id}-{VOID_KEY}"
    return [r for r in payment.refunds if r.state == "succeeded" and r.key != void]


def stats_steps(order: Order, applied: Mapping[str, int | None]) -> list[StatsStep]:
    """The steps the stored ``order`` still owes its customer's stats, in the order to apply
    them, given the markers already ``applied`` (marker id → the amount it moved; ``None`` for
    a marker stored before markers recorded amounts).

    Nothing for an order whose history never reached ``delivered``; nothing more once
    ``reverse`` is applied. A refund's share is its amount, never more than what is still
    counted of the order, so the shares and the final reversal add up to exactly what was
    counted.
    """
    if REVERSE_MARKER in applied or order.reached_at(OrderStatus.DELIVERED) is None:
        return []
    currency = order.currency or DEFAULT_CURRENCY
    steps: list[StatsStep] = []
    counted = applied.get(COUNT_MARKER)
    if COUNT_MARKER not in applied:
        steps.append(StatsStep(COUNT_MARKER, "count", currency, order.total))
    if counted is None:  # counted now, or by a marker that predates recorded amounts
        counted = order.total
    taken = sum(
        amount or 0 for marker, amount in applied.items() if marker.startswith(_REFUND_PREFIX)
    )
    for refund in counted_refunds(order):
        marker = refund_marker(refund.key)
        if marker in applied:
            continue
        share = max(min(refund.amount, counted - taken), 0)
        taken += share
        steps.append(StatsStep(marker, "refund", currency, share))
    if order.reached_at(OrderStatus.REFUNDED) is not None:
        steps.append(StatsStep(REVERSE_MARKER, "reverse", currency, max(counted - taken, 0)))
    return steps


def apply_steps(
    stats: CustomerStats, steps: Sequence[StatsStep], *, order: Order, now: datetime
) -> CustomerStats:
    """``stats`` after ``steps`` of ``order`` (from :func:`stats_steps`)."""
    delivered_at = order.reached_at(OrderStatus.DELIVERED) or now
    for step in steps:
        if step.kind == "count":
            stats = record_delivery(
                stats,
                order_id=order.id,
                amount=step.amount,
                currency=step.currency,
                delivered_at=delivered_at,
                now=now,
            )
        elif step.kind == "refund":
            stats = take_back_share(stats, amount=step.amount, currency=step.currency)
        else:
            stats = reverse_delivery(
                stats,
                order_id=order.id,
                amount=step.amount,
                currency=step.currency,
                delivered_at=delivered_at,
                now=now,
                counted=True,
            )
    return stats
