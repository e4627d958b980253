"""Stock as stored: a level per (store, variant), its ledger rows, admin requests, audit reports."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from celeste.catalog.variants import OwnVariantByDefault
from celeste.inventory.stock import (
    Drift,
    Movement,
    MovementKind,
    StockLevel,
    available_units,
    is_low,
)

#: A level's state as the outbox tells it (``celeste.inventory.events``).
StockState = Literal["ok", "low", "out"]

#: Largest stock count and adjustment accepted from an admin.
MAX_UNITS = 10**9

_Units = Annotated[int, Field(ge=0, le=MAX_UNITS, strict=True)]
_Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class StockRecord(OwnVariantByDefault):
    """``stores/{store_id}/inventory/{variant_id}``: the level of one variant and when it last
    changed. A product without options has one variant whose id is the product's, so the levels
    stored before variants (keyed by product) are that variant's."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    store_id: str
    #: The product the variant belongs to (lists filter by it).
    product_id: str
    #: The stock key; levels stored before variants read their product's id.
    variant_id: str = ""
    on_hand: int
    reserved: int = 0
    low_stock_threshold: int = 0
    updated_at: datetime
    #: The state the level last took note of (``inventory.events.announce``); ``None``: stored
    #: before events, read as the state it holds.
    announced: StockState | None = None
    #: How many events the level wrote: its n-th is ``stock-{store_id}__{variant_id}-{n}``.
    event_count: int = 0

    @property
    def key(self) -> str:
        """``store_id/variant_id``: how reports name the level."""
        return f"{self.store_id}/{self.variant_id}"

    @property
    def available(self) -> int:
        """Units new orders may still reserve (stored too, for queries). A stored record may
        break ``StockLevel``'s invariant, so it is computed from the counts, not a level."""
        return available_units(on_hand=self.on_hand, reserved=self.reserved)

    @property
    def low_stock(self) -> bool:
        """Whether what is available has fallen to the threshold (stored too, for queries)."""
        return is_low(available=self.available, threshold=self.low_stock_threshold)

    def level(self) -> StockLevel:
        """The level as the reservation rules see it."""
        return StockLevel(
            on_hand=self.on_hand,
            reserved=self.reserved,
            low_stock_threshold=self.low_stock_threshold,
        )

    def with_level(self, level: StockLevel, *, at: datetime) -> StockRecord:
        """This record holding ``level``."""
        return self.model_copy(
            update={
                "on_hand": level.on_hand,
                "reserved": level.reserved,
                "low_stock_threshold": level.low_stock_threshold,
                "updated_at": at,
            }
        )

    @classmethod
    def empty(
        cls, *, store_id: str, product_id: str, variant_id: str | None = None, at: datetime
    ) -> StockRecord:
        """A level not stored yet: nothing on hand (``variant_id``: the product's own by
        default)."""
        return cls(
            store_id=store_id,
            product_id=product_id,
            variant_id=variant_id or product_id,
            on_hand=0,
            updated_at=at,
        )


class MovementRecord(OwnVariantByDefault):
    """A ledger row ``.../inventory/{variant_id}/movements/{id}``, written with its level change."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    store_id: str
    product_id: str
    #: The level it moved; rows stored before variants read their product's id.
    variant_id: str = ""
    kind: MovementKind
    delta_on_hand: int
    delta_reserved: int
    reason: str
    order_id: str | None = None
    actor: str
    at: datetime
    on_hand_after: int
    reserved_after: int

    @classmethod
    def of(
        cls,
        movement: Movement,
        *,
        movement_id: str,
        after: StockRecord,
        actor: str,
        at: datetime,
    ) -> MovementRecord:
        """The row recording ``movement``, which left the level at ``after``."""
        return cls(
            id=movement_id,
            store_id=after.store_id,
            product_id=after.product_id,
            variant_id=after.variant_id,
            kind=movement.kind,
            delta_on_hand=movement.delta_on_hand,
            delta_reserved=movement.delta_reserved,
            reason=movement.reason,
            order_id=movement.order_id,
            actor=actor,
            at=at,
            on_hand_after=after.on_hand,
            reserved_after=after.reserved,
        )

    @property
    def key(self) -> str:
        """``store_id/variant_id`` of the level it moved."""
        return f"{self.store_id}/{self.variant_id}"

    def movement(self) -> Movement:
        """The ledger arithmetic of this row."""
        return Movement(
            kind=self.kind,
            delta_on_hand=self.delta_on_hand,
            delta_reserved=self.delta_reserved,
            reason=self.reason,
            order_id=self.order_id,
        )


def order_movement_id(order_id: str, kind: MovementKind) -> str:
    """The deterministic ledger id of an order's effect: its create() is the idempotency record."""
    return f"{order_id}-{kind}"


class StockPut(BaseModel):
    """Body of ``PUT /inventory/{store_id}/{product_id}``."""

    model_config = ConfigDict(extra="forbid")

    on_hand: _Units
    low_stock_threshold: _Units | None = None
    reason: _Reason = "stock count set by admin"


class StockAdjustment(BaseModel):
    """Body of ``POST /inventory/{store_id}/{product_id}/adjustments``."""

    model_config = ConfigDict(extra="forbid")

    delta: Annotated[int, Field(ge=-MAX_UNITS, le=MAX_UNITS, strict=True)]
    reason: _Reason


class PendingEffect(BaseModel):
    """An order whose status gave its stock back or shipped it, but whose ledger has not yet
    (its trigger is running late, or was lost and waits for ``expire_due`` to re-drive it)."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    status: str
    store_id: str


class AuditReport(BaseModel):
    """What the auditor found: every level recomputed from its ledger and the open orders."""

    model_config = ConfigDict(frozen=True)

    checked_at: datetime
    levels_checked: int
    movements_read: int
    open_orders: int
    drifts: list[Drift]
    pending_effects: list[PendingEffect] = Field(default_factory=list)

    @property
    def clean(self) -> bool:
        """No drift at all."""
        return not self.drifts
