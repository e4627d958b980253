"""Order triggers: reserve on create, release/commit/stats on update, expire on a schedule.

Plain functions over the event's documented attributes (``params``, ``data``), so tests call them
with a stand-in event. Each is idempotent by the order's stored state plus create-only ledger rows
and effect markers: a redelivered or late event changes nothing. A trigger that exhausts its
retries leaves the order as it is; ``expire_due`` (every minute) picks it up again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from celeste.kernel.errors import CelesteError, Contention, NotConfigured
from celeste.orders.status import OrderStatus
from celeste.services.fulfilment import STALE_AFTER, ExpiryReport
from celeste_functions.composition import services
from celeste_functions.logs import get_logger

log = get_logger("triggers.orders")


def _order_id(event: Any) -> str:
    return str(event.params["order_id"])


def _status(snapshot: Any) -> OrderStatus | None:
    data = snapshot.to_dict() if snapshot is not None else None
    status = (data or {}).get("status")
    if not isinstance(status, str):
        return None
    try:
        return OrderStatus(status)
    except ValueError:
        return None


def on_order_created(event: Any) -> None:
    """``orders/{order_id}`` created: reserve every line, or reject with the short lines."""
    order_id = _order_id(event)
    try:
        outcome = services.get().fulfilment.reserve(order_id)
    except Contention:
        _left_for_expiry(event, order_id, "reservation")
        return
    log.info(
        "on_order_created",
        extra={
            "fields": {
                "event_id": getattr(event, "id", None),
                "order_id": order_id,
                "outcome": outcome,
            }
        },
    )


def on_order_updated(event: Any) -> None:
    """``orders/{order_id}`` updated: release on cancel/expiry, commit on shipping, count or
    take back the customer's stats on delivery or refund."""
    order_id = _order_id(event)
    before, after = _status(event.data.before), _status(event.data.after)
    if before is None or after is None:
        return
    if before == after and after is not OrderStatus.PARTIALLY_REFUNDED:
        return  # nothing moved (a further partial refund keeps its status: its share is due)
    try:
        done = services.get().fulfilment.on_status_change(order_id, before=before, after=after)
    except Contention:
        _left_for_expiry(event, order_id, f"{before} -> {after} effects")
        done = ["left for expire_reservations"]
    done.append(_payment_effect(event, order_id))
    log.info(
        "on_order_updated",
        extra={
            "fields": {
                "event_id": getattr(event, "id", None),
                "order_id": order_id,
                "before": before,
                "after": after,
                "done": done,
            }
        },
    )


def _payment_effect(event: Any, order_id: str) -> str:
    """Whatever the move means for the payment: an intent once confirmed, its cancel once
    cancelled or expired, a full refund of money that arrived for an order that ended."""
    try:
        return "payment: " + services.get().payments.settle(order_id)
    except Contention:
        _left_for_expiry(event, order_id, "payment")
        return "payment left for expire_reservations"
    except NotConfigured as exc:
        log.error(
            "payments are not configured: the order cannot be paid",
            extra={"fields": {"order_id": order_id, "detail": exc.detail}},
        )
        return "payments not configured"
    except CelesteError as exc:  # e.g. Stripe refused a call: the order says what is still due
        log.warning(
            "payment effect failed; left for expire_reservations",
            extra={"fields": {"order_id": order_id, "error": exc.detail}},
        )
        return "payment left for expire_reservations"


def _left_for_expiry(event: Any, order_id: str, what: str) -> None:
    # The SDK does not retry triggers: say so, and leave the order as it is (its state says what
    # is left to do); ``expire_reservations`` re-drives it within a minute or two.
    log.warning(
        "contention outlived the retries; left for expire_reservations",
        extra={
            "fields": {"event_id": getattr(event, "id", None), "order_id": order_id, "what": what}
        },
    )


def expire_due(now: datetime) -> ExpiryReport:
    """Expire holds that ended before ``now`` and re-drive stalled reservations and effects,
    then finish payment work (intents, cancels, refunds) that a trigger or webhook left undone."""
    report = services.get().fulfilment.expire_due(now)
    try:
        services.get().payments.redrive(now=now, stale_before=now - STALE_AFTER)
    except NotConfigured as exc:
        log.error("payments are not configured", extra={"fields": {"detail": exc.detail}})
    return report
