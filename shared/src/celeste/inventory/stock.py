"""Reservation arithmetic: every stock change yields the new level and its ledger movement."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from celeste.kernel.errors import Conflict, ValidationFailed

MovementKind = Literal["reserve", "release", "commit", "adjust", "set"]
DriftKind = Literal["on_hand_vs_ledger", "reserved_vs_ledger", "reserved_vs_orders", "invariant"]

_Count = Annotated[int, Field(ge=0, strict=True)]


def available_units(*, on_hand: int, reserved: int) -> int:
    """Units new orders may still reserve: on hand less reserved (the one rule; a level and a
    stored record both answer by it)."""
    return on_hand - reserved


def is_low(*, available: int, threshold: int) -> bool:
    """The low-stock rule: what is available has fallen to the threshold or below."""
    return available <= threshold


class StockLevel(BaseModel):
    """Stock of one product at one store; always ``0 <= reserved <= on_hand``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    on_hand: _Count
    reserved: _Count = 0
    low_stock_threshold: _Count = 0

    @model_validator(mode="after")
    def _reserved_within_on_hand(self) -> StockLevel:
        if self.reserved > self.on_hand:
            raise ValueError(f"reserved ({self.reserved}) exceeds on_hand ({self.on_hand})")
        return self

    @property
    def available(self) -> int:
        """Units new orders may still reserve."""
        return available_units(on_hand=self.on_hand, reserved=self.reserved)

    @property
    def is_low(self) -> bool:
        """True when what is available has fallen to the threshold or below."""
        return is_low(available=self.available, threshold=self.low_stock_threshold)


class Movement(BaseModel):
    """One ledger row: the level before plus these deltas is the level after."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: MovementKind
    delta_on_hand: int
    delta_reserved: int
    reason: str
    order_id: str | None = None


class Shortfall(BaseModel):
    """A stock key (a variant id) an order wants more of than is available: the stock rule's
    answer. The order stores and shows it as ``orders.order.OrderShortfall``, named by the
    line's product and variant (``Order.shortfalls_of``)."""

    model_config = ConfigDict(frozen=True)

    key: str
    requested: int
    available: int


class Reservation(BaseModel):
    """Outcome of ``reserve``: new levels and movements for every key, or only the shortfalls."""

    model_config = ConfigDict(frozen=True)

    levels: dict[str, StockLevel] = Field(default_factory=dict)
    movements: dict[str, Movement] = Field(default_factory=dict)
    shortfalls: list[Shortfall] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every line was reserved."""
        return not self.shortfalls


class LevelCounts(Protocol):
    """What the auditor reads from a level; a stored level may break ``StockLevel``'s rules."""

    @property
    def on_hand(self) -> int: ...

    @property
    def reserved(self) -> int: ...


class Drift(BaseModel):
    """One disagreement the auditor found for a key."""

    model_config = ConfigDict(frozen=True)

    key: str
    kind: DriftKind
    detail: str
    expected: int | None = None
    actual: int | None = None


def _apply(level: StockLevel, movement: Movement, *, attempt: str) -> StockLevel:
    on_hand = level.on_hand + movement.delta_on_hand
    reserved = level.reserved + movement.delta_reserved
    if not 0 <= reserved <= on_hand:
        raise Conflict(
            f"cannot {attempt}: on_hand is {level.on_hand}, reserved {level.reserved}, "
            f"available {level.available}"
        )
    return StockLevel(
        on_hand=on_hand, reserved=reserved, low_stock_threshold=level.low_stock_threshold
    )


def _require_positive(field: str, quantity: int) -> None:
    if quantity <= 0:
        raise ValidationFailed.on(field, f"must be a positive number of units, got {quantity}")


def reserve(
    *, levels: Mapping[str, StockLevel], lines: Sequence[tuple[str, int]], order_id: str
) -> Reservation:
    """Reserve every line or none; same-key lines are summed, a missing key has no stock."""
    wanted: dict[str, int] = {}
    for index, (key, quantity) in enumerate(lines):
        _require_positive(f"lines[{index}].quantity", quantity)
        wanted[key] = wanted.get(key, 0) + quantity

    available = {key: levels[key].available if key in levels else 0 for key in wanted}
    shortfalls = [
        Shortfall(key=key, requested=quantity, available=available[key])
        for key, quantity in wanted.items()
        if quantity > available[key]
    ]
    if shortfalls:
        return Reservation(shortfalls=shortfalls)

    movements = {
        key: Movement(
            kind="reserve",
            delta_on_hand=0,
            delta_reserved=quantity,
            reason="reserved for order",
            order_id=order_id,
        )
        for key, quantity in wanted.items()
    }
    new_levels = {
        key: _apply(levels[key], movement, attempt=f"reserve {movement.delta_reserved}")
        for key, movement in movements.items()
    }
    return Reservation(levels=new_levels, movements=movements)


def release(*, level: StockLevel, quantity: int, order_id: str) -> tuple[StockLevel, Movement]:
    """Give back units an order held (cancelled or expired)."""
    _require_positive("quantity", quantity)
    movement = Movement(
        kind="release",
        delta_on_hand=0,
        delta_reserved=-quantity,
        reason="released by order",
        order_id=order_id,
    )
    return _apply(level, movement, attempt=f"release {quantity}"), movement


def commit(*, level: StockLevel, quantity: int, order_id: str) -> tuple[StockLevel, Movement]:
    """Ship units an order held: they leave both ``on_hand`` and ``reserved``."""
    _require_positive("quantity", quantity)
    movement = Movement(
        kind="commit",
        delta_on_hand=-quantity,
        delta_reserved=-quantity,
        reason="shipped for order",
        order_id=order_id,
    )
    return _apply(level, movement, attempt=f"commit {quantity}"), movement


def adjust(*, level: StockLevel, delta: int, reason: str) -> tuple[StockLevel, Movement]:
    """Add ``delta`` units to ``on_hand`` (a count, a delivery, breakage); reserved units stay."""
    if delta == 0:
        raise ValidationFailed.on("delta", "must not be zero")
    movement = Movement(kind="adjust", delta_on_hand=delta, delta_reserved=0, reason=reason)
    return _apply(level, movement, attempt=f"adjust on_hand by {delta}"), movement


def set_on_hand(
    *,
    level: StockLevel,
    on_hand: int,
    low_stock_threshold: int | None = None,
    reason: str,
) -> tuple[StockLevel, Movement]:
    """Overwrite ``on_hand`` (and optionally the threshold); the movement records the difference."""
    if on_hand < 0:
        raise ValidationFailed.on("on_hand", "must not be negative")
    if low_stock_threshold is not None and low_stock_threshold < 0:
        raise ValidationFailed.on("low_stock_threshold", "must not be negative")
    if low_stock_threshold is not None:
        level = StockLevel(
            on_hand=level.on_hand, reserved=level.reserved, low_stock_threshold=low_stock_threshold
        )
    movement = Movement(
        kind="set", delta_on_hand=on_hand - level.on_hand, delta_reserved=0, reason=reason
    )
    return _apply(level, movement, attempt=f"set on_hand to {on_hand}"), movement


def replay(movements: Iterable[Movement]) -> tuple[int, int]:
    """``(on_hand, reserved)`` the ledger adds up to, starting from zero."""
    on_hand = reserved = 0
    for movement in movements:
        on_hand += movement.delta_on_hand
        reserved += movement.delta_reserved
    return on_hand, reserved


def audit(
    *,
    key: str,
    level: LevelCounts,
    movements: Iterable[Movement],
    reserved_by_open_orders: int,
) -> list[Drift]:
    """Compare a stored level with its ledger and with the orders holding stock; [] when clean."""
    ledger_on_hand, ledger_reserved = replay(movements)
    drifts: list[Drift] = []
    if level.on_hand != ledger_on_hand:
        drifts.append(
            Drift(
                key=key,
                kind="on_hand_vs_ledger",
                detail=f"on_hand is {level.on_hand} but the ledger sums to {ledger_on_hand}",
                expected=ledger_on_hand,
                actual=level.on_hand,
            )
        )
    if level.reserved != ledger_reserved:
        drifts.append(
            Drift(
                key=key,
                kind="reserved_vs_ledger",
                detail=f"reserved is {level.reserved} but the ledger sums to {ledger_reserved}",
                expected=ledger_reserved,
                actual=level.reserved,
            )
        )
    if level.reserved != reserved_by_open_orders:
        drifts.append(
            Drift(
                key=key,
                kind="reserved_vs_orders",
                detail=(
                    f"reserved is {level.reserved} but orders holding stock "
                    f"hold {reserved_by_open_orders}"
                ),
                expected=reserved_by_open_orders,
                actual=level.reserved,
            )
        )
    if not 0 <= level.reserved <= level.on_hand:
        drifts.append(
            Drift(
                key=key,
                kind="invariant",
                detail=(
                    f"0 <= reserved <= on_hand is broken: on_hand {level.on_hand}, "
                    f"reserved {level.reserved}"
                ),
            )
        )
    return drifts
