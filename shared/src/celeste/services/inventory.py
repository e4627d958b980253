"""Inventory use cases: admins count and adjust stock; the auditor recomputes every level."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from celeste.inventory import stock as inventory
from celeste.inventory.records import (
    AuditReport,
    MovementRecord,
    PendingEffect,
    StockAdjustment,
    StockPut,
    StockRecord,
)
from celeste.inventory.stock import Drift, Movement, StockLevel
from celeste.kernel.clock import Clock, utcnow
from celeste.kernel.errors import NotFound, PreconditionFailed
from celeste.kernel.ids import new_id
from celeste.kernel.paging import Page
from celeste.kernel.versions import Versioned
from celeste.ports.catalog import ProductRepository, StoreDirectory
from celeste.ports.inventory import InventoryStore
from celeste.ports.orders import OrderStore
from celeste.ports.writes import AtomicWriter
from celeste.services.retry import REQUEST, Backoff, optimistic
from celeste.services.versioned import check_version
from celeste.writes import AddMovement, Write, put_level

#: At most this many orders awaiting a stock effect are listed in an audit report.
MAX_PENDING_LISTED = 1000


@dataclass(frozen=True)
class Adjusted:
    """A level after an adjustment, and the ledger row that recorded it."""

    level: Versioned[StockRecord]
    movement: MovementRecord


class InventoryService:
    """Admin upkeep of stock levels; every change of ``on_hand`` writes its ledger row in the
    same commit, guarded by the level's version (concurrent reservations retry, never lose)."""

    def __init__(
        self,
        *,
        inventory: InventoryStore,
        writer: AtomicWriter,
        stores: StoreDirectory,
        products: ProductRepository,
        clock: Clock = utcnow,
        backoff: Backoff = REQUEST,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._inventory = inventory
        self._writer = writer
        self._stores = stores
        self._products = products
        self._clock = clock
        self._backoff = backoff
        self._sleep = sleep

    def get(self, *, store_id: str, variant_id: str) -> Versioned[StockRecord]:
        """One level, or 404."""
        return self._inventory.get(store_id=store_id, variant_id=variant_id)

    def list(
        self,
        *,
        store_id: str | None,
        product_id: str | None,
        low_stock: bool | None,
        limit: int,
        cursor: str | None,
    ) -> Page[StockRecord]:
        """Levels across stores, filtered by store, product (every variant of it) and/or low
        stock."""
        return self._inventory.page(
            store_id=store_id,
            product_id=product_id,
            low_stock=low_stock,
            limit=limit,
            cursor=cursor,
        )

    def movements(
        self, *, store_id: str, variant_id: str, limit: int, cursor: str | None
    ) -> Page[MovementRecord]:
        """A level's ledger, newest first (404 for a level never stocked)."""
        self._inventory.get(store_id=store_id, variant_id=variant_id)
        return self._inventory.movements(
            store_id=store_id, variant_id=variant_id, limit=limit, cursor=cursor
        )

    def put(
        self,
        *,
        store_id: str,
        variant_id: str,
        body: StockPut,
        actor: str,
        expected_version: str | None,
    ) -> tuple[Versioned[StockRecord], bool]:
        """Set ``on_hand`` (and the threshold), creating the level if needed; below what is
        reserved is 409. Returns the level and whether it was created."""
        product_id = self._require_place(store_id, variant_id)

        def attempt() -> tuple[Versioned[StockRecord], bool]:
            current = self._current(store_id, variant_id, expected_version)
            record = current.value if current else self._empty(store_id, variant_id, product_id)
            level, movement = inventory.set_on_hand(
                level=record.level(),
                on_hand=body.on_hand,
                low_stock_threshold=body.low_stock_threshold,
                reason=body.reason,
            )
            self._write(current, record, level, movement, actor=actor)
            return self._inventory.get(store_id=store_id, variant_id=variant_id), current is None

        if expected_version is not None:
            return attempt()
        return optimistic(attempt, backoff=self._backoff, what="setting stock", sleep=self._sleep)

    def adjust(
        self, *, store_id: str, variant_id: str, body: StockAdjustment, actor: str
    ) -> Adjusted:
        """Add ``delta`` to ``on_hand`` with a reason; below what is reserved is 409."""
        product_id = self._require_place(store_id, variant_id)

        def attempt() -> Adjusted:
            current = self._current(store_id, variant_id, None)
            record = current.value if current else self._empty(store_id, variant_id, product_id)
            level, movement = inventory.adjust(
                level=record.level(), delta=body.delta, reason=body.reason
            )
            row = self._write(current, record, level, movement, actor=actor)
            assert row is not None  # an adjustment always moves on_hand
            return Adjusted(self._inventory.get(store_id=store_id, variant_id=variant_id), row)

        return optimistic(attempt, backoff=self._backoff, what="adjusting stock", sleep=self._sleep)

    def _require_place(self, store_id: str, variant_id: str) -> str:
        """The product of ``variant_id`` (a product's own id for one without options), once
        the store and the variant are known to exist (404 otherwise)."""
        if self._stores.store_facts(store_id) is None:
            raise NotFound(f"no store {store_id}")
        product = self._products.by_variant(variant_id)
        if product is None:
            raise NotFound(f"no product or variant {variant_id}")
        return product.id

    def _current(
        self, store_id: str, variant_id: str, expected_version: str | None
    ) -> Versioned[StockRecord] | None:
        current = self._inventory.levels(store_id=store_id, keys=[variant_id]).get(variant_id)
        if expected_version is not None:
            if current is None:
                raise PreconditionFailed("this stock level does not exist yet")
            check_version(current=current.version, expected=expected_version, what="the level")
        return current

    def _empty(self, store_id: str, variant_id: str, product_id: str) -> StockRecord:
        return StockRecord.empty(
            store_id=store_id, product_id=product_id, variant_id=variant_id, at=self._clock()
        )

    def _write(
        self,
        current: Versioned[StockRecord] | None,
        record: StockRecord,
        level: StockLevel,
        movement: Movement,
        *,
        actor: str,
    ) -> MovementRecord | None:
        now = self._clock()
        after = record.with_level(level, at=now)
        writes: list[Write] = put_level(current, after)
        row = None
        if movement.delta_on_hand or movement.delta_reserved:
            row = MovementRecord.of(
                movement, movement_id=new_id(), after=after, actor=actor, at=now
            )
            writes.append(AddMovement(row))
        self._writer.commit(writes)
        return row


@dataclass(frozen=True)
class _Absent:
    """A level the ledger or an order names but that is not stored."""

    on_hand: int = 0
    reserved: int = 0


class StockAuditor:
    """Recomputes every level from its ledger and from the orders holding stock.

    It reads levels, ledgers and orders one after another, not as one snapshot, so run it at
    rest (tests run it once their scenario settled); a write landing mid-audit can show as drift
    that a second run no longer sees. ``pending_effects`` lists orders whose release or commit
    has not happened yet (a trigger running late, or lost and waiting for ``expire_due``).
    """

    def __init__(self, *, inventory: InventoryStore, orders: OrderStore, clock: Clock = utcnow):
        self._inventory = inventory
        self._orders = orders
        self._clock = clock

    def run(self) -> AuditReport:
        """Audit everything; the report is clean when no level drifts."""
        checked_at = self._clock()
        levels = {record.key: record for record in self._inventory.every_level()}
        ledgers: dict[str, list[Movement]] = defaultdict(list)
        movements_read = 0
        for row in self._inventory.every_movement():
            ledgers[row.key].append(row.movement())
            movements_read += 1
        held: dict[str, int] = defaultdict(int)
        open_orders = 0
        for order in self._orders.holding_stock():
            open_orders += 1
            for product_id, quantity in order.quantities().items():
                held[f"{order.store_id}/{product_id}"] += quantity
        drifts: list[Drift] = []
        for key in sorted(set(levels) | set(ledgers) | set(held)):
            drifts += inventory.audit(
                key=key,
                level=levels.get(key) or _Absent(),
                movements=ledgers.get(key, []),
                reserved_by_open_orders=held.get(key, 0),
            )
        pending = [
            PendingEffect(order_id=o.id, status=o.status, store_id=o.store_id)
            for o in self._orders.awaiting_stock(limit=MAX_PENDING_LISTED)
        ]
        return AuditReport(
            checked_at=checked_at,
            levels_checked=len(levels),
            movements_read=movements_read,
            open_orders=open_orders,
            drifts=drifts,
            pending_effects=pending,
        )
