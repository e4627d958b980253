"""Refunds of an order's payment: made through the provider and recorded on the order.

A refund is first reserved on the order (by ``PaymentService.refund`` for an admin, or
``reserve_void`` for the one automatic full refund of a cancelled order's or a late payment);
``complete`` then asks the provider for every reserved refund under its key and records each,
with its restock, in one optimistic commit, so a refund is made and recorded exactly once
however often it is retried.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from celeste.inventory import stock as inventory
from celeste.inventory.records import MovementRecord
from celeste.kernel.clock import Clock, utcnow
from celeste.kernel.errors import Conflict, ValidationFailed
from celeste.kernel.versions import Versioned
from celeste.orders.events import refund_events
from celeste.orders.order import Order
from celeste.orders.payment_provider import PaymentProvider
from celeste.orders.payments import VOID_KEY, Payment, Refund, after_refund, refunded_status
from celeste.ports.inventory import InventoryStore
from celeste.ports.orders import OrderStore
from celeste.ports.writes import AtomicWriter
from celeste.services.retry import TRIGGER, Backoff, first_then_fresh, optimistic
from celeste.writes import AddEvent, AddMovement, UpdateOrder, Write, put_level


class Refunds:
    """Makes the refunds reserved on an order's payment and records each (with its restock)."""

    def __init__(
        self,
        *,
        orders: OrderStore,
        writer: AtomicWriter,
        inventory: InventoryStore,
        provider: Callable[[], PaymentProvider],
        clock: Clock = utcnow,
        backoff: Backoff = TRIGGER,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._orders = orders
        self._writer = writer
        self._inventory = inventory
        self._provider = provider
        self._clock = clock
        self._backoff = backoff
        self._sleep = sleep

    def reserve_void(
        self, found: Versioned[Order], payment: Payment, *, reason: str
    ) -> Versioned[Order]:
        """Reserve the one automatic full refund of what is left on ``payment``; the order as
        written."""
        order = found.value
        void = Refund(
            key=f"{order.id}-{VOID_KEY}",
            amount=payment.refundable(),
            reason=reason,
            actor="system",
            requested_at=self._clock(),
        )
        voided = payment.model_copy(update={"refunds": [*payment.refunds, void]})
        changed = order.model_copy(update={"payment": voided, "updated_at": self._clock()})
        return Versioned(
            changed, self._writer.commit([UpdateOrder(changed, expected_version=found.version)])
        )

    def complete(
        self, order_id: str, *, known: Versioned[Order] | None = None
    ) -> tuple[list[str], Versioned[Order]]:
        """Make every reserved refund and record it; what was done and the order as it now is.
        ``known``: the order as the caller just read or wrote it (not read again)."""
        current = known or self._orders.get(order_id)
        payment = current.value.payment
        done: list[str] = []
        for pending in payment.pending() if payment else []:
            assert payment is not None
            made = self._provider().refund(
                intent_id=payment.intent, amount=pending.amount, key=pending.key
            )
            outcome, current = self._record_refund(
                order_id, key=pending.key, refund_id=made.id, known=current
            )
            done.append(outcome)
        return done, current

    def _record_refund(
        self, order_id: str, *, key: str, refund_id: str, known: Versioned[Order] | None = None
    ) -> tuple[str, Versioned[Order]]:
        read = first_then_fresh(known, lambda: self._orders.get(order_id))
        last: list[Versioned[Order]] = []  # the order as the last attempt read or wrote it

        def attempt() -> str:
            found = read()
            last[:] = [found]
            order = found.value
            payment = order.payment
            refund = payment.refund(key) if payment else None
            if payment is None or refund is None:
                raise Conflict(f"refund {key} vanished from order {order_id}")
            if refund.state == "succeeded":
                return f"{refund.amount} refunded already"
            now = self._clock()
            after = after_refund(payment, key=key, refund_id=refund_id, at=now)
            writes: list[Write] = []
            if refund.actor == "admin":
                target = refunded_status(after)
                moved = order.move(target, actor="admin", at=now, payment=after)
                changed = moved.order
                writes += self._restock(order, refund, at=now)
                writes.append(AddEvent(moved.event))
            else:  # a void keeps the order's status (cancelled, expired, confirmed)
                changed = order.model_copy(update={"payment": after, "updated_at": now})
            writes.append(UpdateOrder(changed, expected_version=found.version))
            writes += [AddEvent(e) for e in refund_events(order.id, before=payment, after=after)]
            last[:] = [Versioned(changed, self._writer.commit(writes))]
            return f"{refund.amount} refunded ({refund_id})"

        outcome = optimistic(
            attempt, backoff=self._backoff, what=f"recording refund {key}", sleep=self._sleep
        )
        return outcome, last[0]

    def _restock(self, order: Order, refund: Refund, *, at: datetime) -> list[Write]:
        """Units back on the shelf: one level change and one ledger row per line, created in
        the refund's commit under ids derived from its key (so never twice)."""
        if not refund.restock:
            return []
        keys = sorted({line.key for line in refund.restock})
        stored = self._inventory.levels(store_id=order.store_id, keys=keys)
        writes: list[Write] = []
        levels = {key: record.value.level() for key, record in stored.items()}
        for index, line in enumerate(refund.restock):
            if line.key not in stored:
                raise ValidationFailed.on(
                    f"restock[{index}].product_id",
                    f"the store has no stock record for {line.key}",
                )
            level, movement = inventory.adjust(
                level=levels[line.key],
                delta=line.quantity,
                reason=f"restocked by refund of order {order.id}: {refund.reason}"[:200],
            )
            levels[line.key] = level
            movement = movement.model_copy(update={"order_id": order.id})
            record = stored[line.key]
            after = record.value.with_level(level, at=at)
            writes.append(
                AddMovement(
                    MovementRecord.of(
                        movement,
                        movement_id=f"{refund.key}-restock-{index}",
                        after=after,
                        actor="admin",
                        at=at,
                    )
                )
            )
        for key in keys:
            after = stored[key].value.with_level(levels[key], at=at)
            writes += put_level(stored[key], after)
        return writes
