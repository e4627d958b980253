"""Order rules: the status machine, who may move it, what each move does to stock and stats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Literal

from celeste.kernel.errors import Conflict, Forbidden

#: ``stripe``: the payment provider's webhook (a succeeded payment marks the order paid).
Actor = Literal["system", "admin", "customer", "stripe"]
StockEffect = Literal["reserve", "release", "commit"]
StatsEffect = Literal["count", "refund", "reverse"]

DEFAULT_HOLD = timedelta(minutes=15)


class OrderStatus(StrEnum):
    """Where an order is in its life."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    PROCESSING = "processing"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


_S = OrderStatus

#: Every legal move and the actors who may make it; a customer must also own the order.
TRANSITIONS: dict[tuple[OrderStatus, OrderStatus], frozenset[Actor]] = {
    (_S.PENDING, _S.CONFIRMED): frozenset({"system"}),
    (_S.PENDING, _S.REJECTED): frozenset({"system"}),
    (_S.PENDING, _S.CANCELLED): frozenset({"customer", "admin"}),
    # ``system``: a zero total is paid at once, with no provider.
    (_S.CONFIRMED, _S.PROCESSING): frozenset({"admin", "stripe", "system"}),
    (_S.CONFIRMED, _S.EXPIRED): frozenset({"system"}),
    (_S.CONFIRMED, _S.CANCELLED): frozenset({"customer", "admin"}),
    (_S.PROCESSING, _S.SHIPPED): frozenset({"admin"}),
    (_S.PROCESSING, _S.CANCELLED): frozenset({"admin"}),
    (_S.SHIPPED, _S.DELIVERED): frozenset({"admin"}),
    # Refunds through the provider (``POST /orders/{id}/refund``), partial then more or full;
    # ``stripe``: a refund made in the Stripe dashboard, recorded from its webhook.
    (_S.PROCESSING, _S.PARTIALLY_REFUNDED): frozenset({"admin", "stripe"}),
    (_S.PROCESSING, _S.REFUNDED): frozenset({"admin", "stripe"}),
    (_S.SHIPPED, _S.PARTIALLY_REFUNDED): frozenset({"admin", "stripe"}),
    (_S.SHIPPED, _S.REFUNDED): frozenset({"admin", "stripe"}),
    (_S.DELIVERED, _S.PARTIALLY_REFUNDED): frozenset({"admin", "stripe"}),
    (_S.DELIVERED, _S.REFUNDED): frozenset({"admin", "stripe"}),
    (_S.PARTIALLY_REFUNDED, _S.PARTIALLY_REFUNDED): frozenset({"admin", "stripe"}),
    (_S.PARTIALLY_REFUNDED, _S.REFUNDED): frozenset({"admin", "stripe"}),
}

#: Statuses an admin may ask for through ``POST /orders/{id}/status``.
ADMIN_SETTABLE = frozenset({_S.PROCESSING, _S.SHIPPED, _S.DELIVERED, _S.CANCELLED, _S.REFUNDED})

#: Statuses of an order still under way at its store (a store with one cannot be deleted).
OPEN = frozenset({_S.PENDING, _S.CONFIRMED, _S.PROCESSING, _S.SHIPPED})

#: Where an order's reservation stands (``Order.stock_state``).
StockState = Literal["none", "held", "released", "committed"]

#: The one stock table: where an order's reserved stock belongs in each status. Held while it
#: waits to ship, released when it ends unshipped, committed once it shipped; ``None`` where it
#: never holds any. Every stock rule below (and ``Order.stock_target``) is derived from it.
STOCK_IN: dict[OrderStatus, StockState | None] = {
    _S.PENDING: None,
    _S.REJECTED: None,
    _S.CONFIRMED: "held",
    _S.PROCESSING: "held",
    _S.CANCELLED: "released",
    _S.EXPIRED: "released",
    _S.SHIPPED: "committed",
    _S.DELIVERED: "committed",
    # A refund (partial or full) is final for fulfilment: stock still held is committed (the
    # goods are the customer's), and ``restock`` puts back what returns to the shelf.
    _S.PARTIALLY_REFUNDED: "committed",
    _S.REFUNDED: "committed",
}

#: Statuses in which the order's lines are reserved at its store.
HOLDS_STOCK = frozenset(s for s, state in STOCK_IN.items() if state == "held")
#: Statuses whose arrival gives held stock back, and those that ship it out.
RELEASES_STOCK = frozenset(s for s, state in STOCK_IN.items() if state == "released")
COMMITS_STOCK = frozenset(s for s, state in STOCK_IN.items() if state == "committed")

#: What a move may owe the customer's stats: the trigger's cue to look. What is counted is
#: decided from the stored order's own history and refunds (``celeste.orders.stats``), never
#: from the move an event describes; a partial refund (``refund``) takes its share back, and
#: after a partial refund the rest is reversed only if the order had been delivered.
_STATS_EFFECTS: dict[tuple[OrderStatus, OrderStatus], StatsEffect] = {
    (_S.SHIPPED, _S.DELIVERED): "count",
    (_S.DELIVERED, _S.PARTIALLY_REFUNDED): "refund",
    (_S.PARTIALLY_REFUNDED, _S.PARTIALLY_REFUNDED): "refund",
    (_S.DELIVERED, _S.REFUNDED): "reverse",
    (_S.PARTIALLY_REFUNDED, _S.REFUNDED): "reverse",
}


def transition(
    *, current: OrderStatus, target: OrderStatus, actor: Actor, is_owner: bool
) -> OrderStatus:
    """Return ``target`` if ``actor`` may move the order there from ``current``, else raise
    ``Conflict`` (no such move) or ``Forbidden`` (not this actor). ``Order.move`` checks this."""
    actors = TRANSITIONS.get((current, target))
    if actors is None:
        raise Conflict(f"an order cannot move from {current} to {target}")
    if actor not in actors or (actor == "customer" and not is_owner):
        raise Forbidden(f"a {actor} may not move this order from {current} to {target}")
    return target


def stock_effect(*, before: OrderStatus, after: OrderStatus) -> StockEffect | None:
    """What a legal move does to the order's reserved stock (from ``STOCK_IN``), if anything."""
    if (before, after) not in TRANSITIONS:
        return None
    was, becomes = STOCK_IN[before], STOCK_IN[after]
    if was is None and becomes == "held":
        return "reserve"
    if was == "held" and becomes == "released":
        return "release"
    if was == "held" and becomes == "committed":
        return "commit"
    return None


def stats_effect(*, before: OrderStatus, after: OrderStatus) -> StatsEffect | None:
    """Whether a move counts the order in the customer's stats or takes it back out."""
    return _STATS_EFFECTS.get((before, after))


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def hold_expires_at(*, confirmed_at: datetime, hold: timedelta = DEFAULT_HOLD) -> datetime:
    """When a confirmed, unpaid order's reservation lapses, in UTC."""
    _require_aware("confirmed_at", confirmed_at)
    return confirmed_at.astimezone(UTC) + hold


def is_expired(*, status: OrderStatus, hold_expires_at: datetime | None, now: datetime) -> bool:
    """True when the order is still ``confirmed`` (unpaid) and its hold has passed."""
    _require_aware("now", now)
    if status is not _S.CONFIRMED or hold_expires_at is None:
        return False
    _require_aware("hold_expires_at", hold_expires_at)
    return now >= hold_expires_at
