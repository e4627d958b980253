"""Atomic write sets: every change one optimistic commit makes, each with the version it expects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from celeste.accounts.tiers import CustomerStats
from celeste.inventory.events import announce
from celeste.inventory.records import MovementRecord, StockRecord
from celeste.kernel.events import Event
from celeste.kernel.versions import Versioned
from celeste.orders.holds import CustomerHolds
from celeste.orders.order import IdempotencyRecord, Order
from celeste.pricing.discount_codes import CodeUse


@dataclass(frozen=True)
class CreateOrder:
    """Store a new order (fails if the id exists)."""

    order: Order


@dataclass(frozen=True)
class AddEvent:
    """Record ``events/{event.id}``; it must be new. Committed with the change it reports
    (an order's status move: ``Moved.event``), so neither exists without the other."""

    event: Event


@dataclass(frozen=True)
class UpdateOrder:
    """Overwrite an order read at ``expected_version``."""

    order: Order
    expected_version: str


@dataclass(frozen=True)
class PutLevel:
    """Write a stock level read at ``expected_version``; ``None`` creates it (must not exist).
    Made by ``put_level``, which notes the level's state and adds the event of its flip."""

    level: StockRecord
    expected_version: str | None


@dataclass(frozen=True)
class AddMovement:
    """Append a ledger row; its id must be new (an order effect's id says it was applied)."""

    movement: MovementRecord


@dataclass(frozen=True)
class AddEffectMarker:
    """Record ``orders/{order_id}/effects/{effect}``; it must be new (the effect ran once).
    A stats step records what it moved: ``amount`` minor units of ``currency``."""

    order_id: str
    effect: str
    at: datetime
    amount: int | None = None
    currency: str | None = None


@dataclass(frozen=True)
class UpdateCustomer:
    """Write a customer's stats (and tier, unless ``None``) read at ``expected_version``."""

    uid: str
    stats: CustomerStats
    tier: str | None
    at: datetime
    expected_version: str


@dataclass(frozen=True)
class PutIdempotencyKey:
    """Store a key record; ``expected_version`` replaces an expired one, ``None`` creates."""

    record: IdempotencyRecord
    expected_version: str | None


@dataclass(frozen=True)
class PutHolds:
    """Write a customer's open holds read at ``expected_version``; ``None`` creates them."""

    holds: CustomerHolds
    expected_version: str | None


@dataclass(frozen=True)
class RecordCodeUse:
    """Count (or return) one use of a discount code: the code's ``times_used`` read at
    ``expected_version``, the customer's own count (``customer_version`` ``None`` creates it)
    and the ledger row ``use`` (which must be new: the use happened once)."""

    use: CodeUse
    times_used: int
    expected_version: str
    customer_uses: int
    customer_version: str | None


@dataclass(frozen=True)
class ClearCartLines:
    """Delete a customer's cart lines, each still at the version read (the cart is emptied in
    the commit that places the order made from it)."""

    uid: str
    lines: tuple[tuple[str, str], ...]  # (variant_id, version): the line's document id


Write = (
    CreateOrder
    | UpdateOrder
    | PutLevel
    | AddMovement
    | AddEffectMarker
    | UpdateCustomer
    | PutIdempotencyKey
    | RecordCodeUse
    | ClearCartLines
    | PutHolds
    | AddEvent
)


def put_level(stored: Versioned[StockRecord] | None, after: StockRecord) -> list[Write]:
    """The writes of a level change: ``after`` over the level ``stored`` (as read; ``None``:
    not stored, so created), noting its state, and the event of its flip when it flips
    (``inventory.events.announce``): every ``PutLevel`` is made here."""
    noted, event = announce(stored.value if stored is not None else None, after)
    writes: list[Write] = [
        PutLevel(noted, expected_version=stored.version if stored is not None else None)
    ]
    if event is not None:
        writes.append(AddEvent(event))
    return writes
