"""Order rules: the status machine, who may move it, what each move does to stock and stats."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from celeste.addresses import ShippingAddress
from celeste.errors import Conflict, Forbidden
from celeste.ids import is_valid_id

Actor = Literal["system", "admin", "customer"]
StockEffect = Literal["reserve", "release", "commit"]
StatsEffect = Literal["count", "reverse"]

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
    REFUNDED = "refunded"


_S = OrderStatus

#: Every legal move and the actors who may make it; a customer must also own the order.
TRANSITIONS: dict[tuple[OrderStatus, OrderStatus], frozenset[Actor]] = {
    (_S.PENDING, _S.CONFIRMED): frozenset({"system"}),
    (_S.PENDING, _S.REJECTED): frozenset({"system"}),
    (_S.PENDING, _S.CANCELLED): frozenset({"customer", "admin"}),
    (_S.CONFIRMED, _S.PROCESSING): frozenset({"admin"}),
    (_S.CONFIRMED, _S.EXPIRED): frozenset({"system"}),
    (_S.CONFIRMED, _S.CANCELLED): frozenset({"customer", "admin"}),
    (_S.PROCESSING, _S.SHIPPED): frozenset({"admin"}),
    (_S.PROCESSING, _S.CANCELLED): frozenset({"admin"}),
    (_S.SHIPPED, _S.DELIVERED): frozenset({"admin"}),
    (_S.DELIVERED, _S.REFUNDED): frozenset({"admin"}),
}

#: Statuses an admin may ask for through ``POST /orders/{id}/status``.
ADMIN_SETTABLE = frozenset({_S.PROCESSING, _S.SHIPPED, _S.DELIVERED, _S.CANCELLED, _S.REFUNDED})

#: Statuses of an order still under way at its store (a store with one cannot be deleted).
OPEN = frozenset({_S.PENDING, _S.CONFIRMED, _S.PROCESSING, _S.SHIPPED})

#: Statuses in which the order's lines are reserved at its store.
HOLDS_STOCK = frozenset({_S.CONFIRMED, _S.PROCESSING})

_STOCK_EFFECTS: dict[tuple[OrderStatus, OrderStatus], StockEffect] = {
    (_S.PENDING, _S.CONFIRMED): "reserve",
    (_S.CONFIRMED, _S.CANCELLED): "release",
    (_S.CONFIRMED, _S.EXPIRED): "release",
    (_S.PROCESSING, _S.CANCELLED): "release",
    (_S.PROCESSING, _S.SHIPPED): "commit",
}

_STATS_EFFECTS: dict[tuple[OrderStatus, OrderStatus], StatsEffect] = {
    (_S.SHIPPED, _S.DELIVERED): "count",
    (_S.DELIVERED, _S.REFUNDED): "reverse",
}


def transition(
    *, current: OrderStatus, target: OrderStatus, actor: Actor, is_owner: bool
) -> OrderStatus:
    """Return ``target`` if ``actor`` may move the order there from ``current``, else raise."""
    actors = TRANSITIONS.get((current, target))
    if actors is None:
        raise Conflict(f"an order cannot move from {current} to {target}")
    if actor not in actors or (actor == "customer" and not is_owner):
        raise Forbidden(f"a {actor} may not move this order from {current} to {target}")
    return target


def stock_effect(*, before: OrderStatus, after: OrderStatus) -> StockEffect | None:
    """What a move does to the order's reserved stock, if anything."""
    return _STOCK_EFFECTS.get((before, after))


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


def _document_id(value: str) -> str:
    if not is_valid_id(value):
        raise ValueError("must be 1 to 128 letters, digits, '_' or '-', not starting with '__'")
    return value


# ``celeste.ids.DocId`` would say this in one word, but its look-ahead pattern is refused by
# pydantic's default regex engine; the same rule is applied here through ``is_valid_id``.
_Id = Annotated[str, AfterValidator(_document_id)]


class OrderLineRequest(BaseModel):
    """One line as the client sends it: what and how many, never a price."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    product_id: _Id
    quantity: int = Field(ge=1, le=1000, strict=True)


class OrderRequest(BaseModel):
    """The body of ``POST /orders``; unknown fields (a price, a status) are rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    store_id: _Id
    lines: list[OrderLineRequest] = Field(min_length=1, max_length=100)
    shipping_address: ShippingAddress | None = None


def idempotency_fingerprint(request: OrderRequest) -> str:
    """A stable sha256 of the request's canonical JSON, to tell a replay from a reused key."""
    canonical = json.dumps(
        request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
