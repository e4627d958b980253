"""The order triggers' work: reserve a new order, apply each move's stock and stats effect
once (ledger rows and markers with deterministic ids in the same commit), expire unpaid
holds and re-drive whatever a lost or out-raced trigger left undone."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from celeste.accounts.tiers import CustomerStats, evaluate_tier
from celeste.inventory import stock as inventory
from celeste.inventory.records import MovementRecord, order_movement_id
from celeste.kernel.clock import Clock, utcnow
from celeste.kernel.errors import Conflict, Contention, NotFound
from celeste.kernel.versions import Versioned
from celeste.orders.order import Order, OrderShortfall, RejectionReason
from celeste.orders.stats import apply_steps, stats_steps
from celeste.orders.status import (
    DEFAULT_HOLD,
    OrderStatus,
    hold_expires_at,
    is_expired,
    stats_effect,
    stock_effect,
)
from celeste.ports.accounts import TierLadder
from celeste.ports.inventory import InventoryStore
from celeste.ports.orders import CustomerStandings, OrderStore
from celeste.ports.pricing import DiscountCodeRepository
from celeste.ports.writes import AtomicWriter
from celeste.services.discount_codes import CodeUses
from celeste.services.retry import TRIGGER, Backoff, optimistic
from celeste.writes import (
    AddEffectMarker,
    AddEvent,
    AddMovement,
    UpdateCustomer,
    UpdateOrder,
    Write,
    put_level,
)

log = logging.getLogger("celeste.orders")

#: A ``pending`` order older than this is re-driven by ``expire_due`` (its trigger lost every
#: race, or never ran); the same age marks a stock effect as overdue.
STALE_AFTER = timedelta(seconds=30)
_SYSTEM = "system"


@dataclass(frozen=True)
class ExpiryReport:
    """What one run of ``expire_due`` did."""

    expired: int = 0
    reservations_redriven: int = 0
    stock_effects_redriven: int = 0
    failed: int = 0


class OrderFulfilment:
    """The triggers' work: reserve a new order, apply each move's stock and stats effect once,
    expire unpaid holds and re-drive whatever a lost or out-raced trigger left undone."""

    def __init__(
        self,
        *,
        orders: OrderStore,
        inventory: InventoryStore,
        writer: AtomicWriter,
        codes: DiscountCodeRepository | None = None,
        customers: CustomerStandings,
        tiers: TierLadder,
        clock: Clock = utcnow,
        hold: timedelta = DEFAULT_HOLD,
        backoff: Backoff = TRIGGER,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._orders = orders
        self._inventory = inventory
        self._writer = writer
        self._uses = CodeUses(codes) if codes is not None else None
        self._customers = customers
        self._tiers = tiers
        self._clock = clock
        self._hold = hold
        self._backoff = backoff
        self._sleep = sleep

    # --- on_order_created ----------------------------------------------------------------

    def reserve(self, order_id: str) -> str:
        """Reserve every line of a ``pending`` order at its store, all or nothing: ``confirmed``
        with a hold, or ``rejected`` with the short lines and stock untouched. Anything but a
        pending order is left alone, so a redelivered event does nothing. Returns the outcome."""

        def attempt() -> str:
            try:
                found = self._orders.get(order_id)
            except NotFound:
                return "missing"
            order = found.value
            if order.status is not OrderStatus.PENDING:
                return f"already {order.status}"
            now = self._clock()
            code_writes = self._uses.count(order, now=now) if self._uses else []
            if code_writes is None:
                self._reject(found, now=now, reason="discount_code_exhausted")
                return "rejected"
            wanted = order.quantities()
            stored = self._inventory.levels(store_id=order.store_id, keys=list(wanted))
            levels = {pid: record.value.level() for pid, record in stored.items()}
            result = inventory.reserve(levels=levels, lines=list(wanted.items()), order_id=order.id)
            if not result.ok:
                shortfalls = order.shortfalls_of(result.shortfalls)
                self._reject(found, now=now, reason="out_of_stock", shortfalls=shortfalls)
                return "rejected"

            confirmed = order.move(
                OrderStatus.CONFIRMED,
                actor="system",
                at=now,
                code_state="counted" if code_writes else order.code_state,
                hold_expires_at=hold_expires_at(confirmed_at=now, hold=self._hold),
            )
            # The move's stock effect is ``reserve`` (``stock_state`` becomes ``held``): its
            # levels and ledger rows join this commit, and so does the code's use.
            writes: list[Write] = list(code_writes)
            for pid, level in result.levels.items():
                record = stored[pid]
                after = record.value.with_level(level, at=now)
                writes += put_level(record, after)
                writes.append(
                    AddMovement(
                        MovementRecord.of(
                            result.movements[pid],
                            movement_id=order_movement_id(order.id, "reserve"),
                            after=after,
                            actor=_SYSTEM,
                            at=now,
                        )
                    )
                )
            writes.append(UpdateOrder(confirmed.order, expected_version=found.version))
            writes.append(AddEvent(confirmed.event))
            self._writer.commit(writes)
            return "confirmed"

        outcome = optimistic(
            attempt, backoff=self._backoff, what=f"reserving order {order_id}", sleep=self._sleep
        )
        log.info("reservation", extra={"fields": {"order_id": order_id, "outcome": outcome}})
        return outcome

    def _reject(
        self,
        found: Versioned[Order],
        *,
        now: datetime,
        reason: RejectionReason,
        shortfalls: list[OrderShortfall] | None = None,
    ) -> None:
        """Move the pending order to ``rejected``; stock and code counts stay untouched."""
        rejected = found.value.move(
            OrderStatus.REJECTED,
            actor="system",
            at=now,
            shortfalls=shortfalls or [],
            rejection_reason=reason,
        )
        self._writer.commit(
            [UpdateOrder(rejected.order, expected_version=found.version), AddEvent(rejected.event)]
        )

    # --- on_order_updated ----------------------------------------------------------------

    def on_status_change(
        self, order_id: str, *, before: OrderStatus, after: OrderStatus
    ) -> list[str]:
        """Apply what the stored order still owes after an event for the move ``before ->
        after`` (the reservation itself is done by ``reserve`` in the commit that confirms).
        The event only says which effects to look at: stock, code uses and stats are each
        decided by the stored order and its create-only markers, so a redelivered, reordered or
        forged event applies nothing that did not happen, and each effect at most once."""
        done: list[str] = []
        if stock_effect(before=before, after=after) in ("release", "commit"):
            done.append(self.settle_stock(order_id))
        if stats_effect(before=before, after=after) is not None:
            done.append(self.settle_stats(order_id))
        return done

    def settle_stock(self, order_id: str) -> str:
        """Release (cancelled, expired) or commit (shipped and later) the order's held stock.

        Decided from the order's stored state, not the event: ``stock_state`` says whether the
        stock is still held, and it changes in the same commit as the levels and the
        ``{order_id}-release``/``-commit`` ledger rows, which are created (never overwritten).
        """

        def attempt() -> str:
            try:
                found = self._orders.get(order_id)
            except NotFound:
                return "missing"
            order = found.value
            target = order.stock_target()
            if target is None:
                return f"nothing to settle ({order.status}, stock {order.stock_state})"
            kind: inventory.MovementKind = "release" if target == "released" else "commit"
            apply = inventory.release if kind == "release" else inventory.commit
            wanted = order.quantities()
            stored = self._inventory.levels(store_id=order.store_id, keys=list(wanted))
            now = self._clock()
            writes: list[Write] = []
            for pid, quantity in wanted.items():
                record = stored.get(pid)
                if record is None:
                    raise Conflict(
                        f"stock {order.store_id}/{pid} vanished while order {order.id} held it"
                    )
                level, movement = apply(
                    level=record.value.level(), quantity=quantity, order_id=order.id
                )
                after = record.value.with_level(level, at=now)
                writes += put_level(record, after)
                writes.append(
                    AddMovement(
                        MovementRecord.of(
                            movement,
                            movement_id=order_movement_id(order.id, kind),
                            after=after,
                            actor=_SYSTEM,
                            at=now,
                        )
                    )
                )
            if order.gives_code_back(target):
                writes.extend(self._uses.give_back(order, now=now) if self._uses else [])
            writes.append(
                UpdateOrder(order.with_stock_state(target, at=now), expected_version=found.version)
            )
            self._writer.commit(writes)
            return target

        outcome = optimistic(
            attempt, backoff=self._backoff, what=f"settling order {order_id}", sleep=self._sleep
        )
        log.info("stock settled", extra={"fields": {"order_id": order_id, "outcome": outcome}})
        return outcome

    def settle_stats(self, order_id: str) -> str:
        """Bring the customer's stats to what the stored order says (``celeste.orders.stats``):
        count it once its history shows it delivered, take each succeeded refund's share back,
        reverse the rest once it is refunded in full; then re-evaluate the tier unless it is
        locked. Each step's marker ``orders/{id}/effects/{marker}`` is created in the same
        commit as the profile update, so every step happens once, whatever the events said."""

        def attempt() -> str:
            try:
                order = self._orders.get(order_id).value
            except NotFound:
                return "missing"
            if order.reached_at(OrderStatus.DELIVERED) is None:
                return f"never delivered ({order.status}): nothing to count"
            steps = stats_steps(order, self._orders.stats_markers(order_id))
            if not steps:
                return "stats up to date"
            standing = self._customers.standing(order.user_id)
            if standing is None:
                log.warning(
                    "stats effect skipped: the customer has no profile",
                    extra={"fields": {"order_id": order_id, "uid": order.user_id}},
                )
                return "no profile"
            now = self._clock()
            stats = apply_steps(standing.value.stats, steps, order=order, now=now)
            tier = None if standing.value.tier_locked else self._earned_tier(stats, now=now)
            if tier == standing.value.tier:
                tier = None
            writes: list[Write] = [
                AddEffectMarker(
                    order_id=order.id,
                    effect=step.marker,
                    at=now,
                    amount=step.amount,
                    currency=step.currency,
                )
                for step in steps
            ]
            writes.append(
                UpdateCustomer(
                    uid=order.user_id,
                    stats=stats,
                    tier=tier,
                    at=now,
                    expected_version=standing.version,
                )
            )
            self._writer.commit(writes)
            applied = ", ".join(step.marker for step in steps)
            return f"{applied} applied" + (f", tier now {tier}" if tier else "")

        outcome = optimistic(
            attempt, backoff=self._backoff, what=f"stats of order {order_id}", sleep=self._sleep
        )
        log.info("stats effect", extra={"fields": {"order_id": order_id, "outcome": outcome}})
        return outcome

    def _earned_tier(self, stats: CustomerStats, *, now: datetime) -> str | None:
        tiers = self._tiers.all_tiers()
        if not tiers:  # no tiers configured: keep the customer's tier
            return None
        return evaluate_tier(tiers=tiers, stats=stats, now=now).code

    # --- expire_reservations -------------------------------------------------------------

    def expire_due(self, now: datetime, *, limit: int = 500) -> ExpiryReport:
        """Expire ``confirmed`` orders whose hold ended before ``now`` (their trigger releases
        the stock), and first re-drive work a trigger left undone: ``pending`` orders older than
        ``STALE_AFTER`` are reserved again, releases and commits overdue by as much are settled.
        (Orders expired by this run are left to their trigger; the next run re-drives them.)"""
        expired = redriven = settled = failed = 0
        for order in self._orders.pending_since(before=now - STALE_AFTER, limit=limit):
            try:
                self.reserve(order.id)
                redriven += 1
            except Contention:
                failed += 1
        for order in self._orders.awaiting_stock(limit=limit):
            if order.updated_at > now - STALE_AFTER:
                continue  # its trigger is most likely still running
            try:
                self.settle_stock(order.id)
                settled += 1
            except (Contention, Conflict):
                failed += 1
        for order in self._orders.due_for_expiry(now=now, limit=limit):
            try:
                expired += self._expire(order.id, now=now)
            except Contention:
                failed += 1
        report = ExpiryReport(
            expired=expired,
            reservations_redriven=redriven,
            stock_effects_redriven=settled,
            failed=failed,
        )
        log.info("expiry run", extra={"fields": {**report.__dict__, "now": now.isoformat()}})
        return report

    def _expire(self, order_id: str, *, now: datetime) -> int:
        def attempt() -> int:
            found = self._orders.get(order_id)
            order = found.value
            if not is_expired(status=order.status, hold_expires_at=order.hold_expires_at, now=now):
                return 0
            moved = order.move(OrderStatus.EXPIRED, actor="system", at=self._clock())
            self._writer.commit(
                [UpdateOrder(moved.order, expected_version=found.version), AddEvent(moved.event)]
            )
            return 1

        return optimistic(
            attempt, backoff=self._backoff, what=f"expiring order {order_id}", sleep=self._sleep
        )
