"""Payment use cases: an intent per confirmed order, cancels, and refunds.

Every order change here is one optimistic commit of the order read at its version, decided by
the pure rules in ``celeste.orders.payments``; every provider call is idempotent (intent keyed
by the order id, refunds by their key), and a refund is reserved on the order before the
provider is asked (``Refunds`` makes and records it), so two racing paths can never refund more
than was paid. Whatever is left undone by a crash shows in the order's ``payment_due`` and is
finished by ``redrive``. The provider's webhook is ``PaymentEventService``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from celeste.kernel.clock import Clock, utcnow
from celeste.kernel.errors import Conflict, Contention, NotFound
from celeste.kernel.versions import Versioned
from celeste.orders.order import Order
from celeste.orders.payment_provider import Intent, PaymentProvider, PaymentRecords, PaymentSecret
from celeste.orders.payments import (
    Payment,
    Refund,
    RefundRequest,
    below_minimum,
    free_payment,
    plan_refund,
    refund_fingerprint,
    refund_key,
    resolve_restock,
    restocked_units,
)
from celeste.orders.status import OrderStatus
from celeste.ports.orders import OrderStore
from celeste.ports.writes import AtomicWriter
from celeste.services.payment_events import PaymentEventService
from celeste.services.refunds import Refunds
from celeste.services.retry import REQUEST, TRIGGER, Backoff, optimistic
from celeste.writes import UpdateOrder

log = logging.getLogger("celeste.payments")


@dataclass(frozen=True)
class PaymentConfig:
    """What a browser app needs to pay with Stripe.js."""

    provider: str
    publishable_key: str


class PaymentService:
    """Takes money only for stock that is held, for exactly the order's total, exactly once."""

    def __init__(
        self,
        *,
        orders: OrderStore,
        writer: AtomicWriter,
        records: PaymentRecords,
        provider: Callable[[], PaymentProvider],
        refunds: Refunds,
        events: PaymentEventService,
        clock: Clock = utcnow,
        backoff: Backoff = TRIGGER,
        request_backoff: Backoff = REQUEST,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._orders = orders
        self._writer = writer
        self._records = records
        self._provider = provider
        self._refunds = refunds
        self._events = events
        self._clock = clock
        self._backoff = backoff
        self._request_backoff = request_backoff
        self._sleep = sleep

    # --- reads ---------------------------------------------------------------------------

    def config(self) -> PaymentConfig:
        """The provider and its publishable key (refused when payments are not configured)."""
        return PaymentConfig(provider="stripe", publishable_key=self._provider().publishable_key)

    def client_secret(self, order: Order, *, uid: str) -> str | None:
        """The intent's client secret for the order's owner while it can still be paid."""
        if order.user_id != uid or order.payment is None:
            return None
        if order.payment.status != "requires_payment":
            return None
        secret = self._records.secret(order.id)
        return (
            secret.client_secret if secret and secret.intent_id == order.payment.intent_id else None
        )

    # --- the order's lifecycle -------------------------------------------------------------

    def settle(self, order_id: str) -> str:
        """Do what the order's ``payment_due`` says: create its intent, cancel an intent it no
        longer needs, or refund what must go back. Safe to call any number of times."""
        try:
            order = self._orders.get(order_id).value
        except NotFound:
            return "missing"
        due = order.payment_due
        if due == "intent":
            return self._create_intent(order)
        if due == "cancel":
            return self._cancel_intent(order)
        if due == "refund":
            return self._refund_due(order_id)
        return "nothing due"

    def redrive(self, *, now: datetime, stale_before: datetime, limit: int = 200) -> int:
        """Finish payment work a trigger or webhook left undone (orders untouched since
        ``stale_before``: newer ones most likely have their trigger still running)."""
        done = 0
        for order in self._orders.payments_due(limit=limit):
            if order.updated_at > stale_before:
                continue
            try:
                outcome = self.settle(order.id)
            except (Contention, Conflict) as exc:
                log.warning(
                    "payment re-drive failed",
                    extra={"fields": {"order_id": order.id, "error": str(exc)}},
                )
                continue
            done += 1
            log.info(
                "payment re-driven",
                extra={"fields": {"order_id": order.id, "outcome": outcome, "now": str(now)}},
            )
        return done

    def _create_intent(self, order: Order) -> str:
        if order.currency is not None and order.total == 0:
            return self._pay_free(order.id)
        if order.currency is None or order.total < 0:
            log.warning("nothing to charge", extra={"fields": {"order_id": order.id}})
            return "nothing to charge"
        if below_minimum(total=order.total, currency=order.currency):
            # Placement refuses these now; one placed before cannot be charged: it expires.
            log.warning("below the minimum charge", extra={"fields": {"order_id": order.id}})
            return "below the provider's minimum charge: left to expire"
        provider = self._provider()
        intent = provider.create_intent(
            order_id=order.id, amount=order.total, currency=order.currency
        )
        self._keep_secret(order, intent)

        def attach() -> str:
            found = self._orders.get(order.id)
            current = found.value
            if current.payment is not None:
                return current.payment.intent
            payment = Payment(
                intent_id=intent.id, amount=intent.amount, currency=intent.currency.upper()
            )
            changed = current.model_copy(update={"payment": payment, "updated_at": self._clock()})
            self._writer.commit([UpdateOrder(changed, expected_version=found.version)])
            return intent.id

        held = optimistic(
            attach, backoff=self._backoff, what=f"intent of {order.id}", sleep=self._sleep
        )
        outcome = "intent created"
        if held != intent.id:
            # A racing run attached another intent first (only where the provider ignores the
            # idempotency key): ours is an orphan; the order's is the one to pay.
            provider.cancel_intent(intent.id)
            self._keep_secret(order, provider.retrieve_intent(held))
            outcome = "intent exists"
        log.info(
            "payment intent",
            extra={"fields": {"order_id": order.id, "intent": held, "outcome": outcome}},
        )
        # The order may have been cancelled or expired while the intent was being made.
        after = self._orders.get(order.id).value
        if after.payment_due == "cancel":
            return f"{outcome}, then {self._cancel_intent(after)}"
        return outcome

    def _pay_free(self, order_id: str) -> str:
        """A confirmed order whose total is 0 is paid at once, without a provider: one commit
        decided by the stored order (only a ``confirmed`` one with no payment moves)."""

        def attempt() -> str:
            found = self._orders.get(order_id)
            order = found.value
            if order.status is not OrderStatus.CONFIRMED or order.payment is not None:
                return f"nothing due ({order.status})"
            if order.total != 0 or order.currency is None:
                return "not a free order"
            now = self._clock()
            paid = free_payment(currency=order.currency, at=now)
            moved = order.move(OrderStatus.PROCESSING, actor="system", at=now, payment=paid)
            self._writer.commit([UpdateOrder(moved.order, expected_version=found.version)])
            return "paid: nothing to charge"

        outcome = optimistic(
            attempt, backoff=self._backoff, what=f"free order {order_id}", sleep=self._sleep
        )
        log.info("free order", extra={"fields": {"order_id": order_id, "outcome": outcome}})
        return outcome

    def _keep_secret(self, order: Order, intent: Intent) -> None:
        if intent.client_secret:
            self._records.put_secret(
                PaymentSecret(
                    order_id=order.id,
                    user_id=order.user_id,
                    intent_id=intent.id,
                    client_secret=intent.client_secret,
                )
            )

    def _cancel_intent(self, order: Order) -> str:
        payment = order.payment
        assert payment is not None
        intent = self._provider().cancel_intent(payment.intent)
        if intent.status == "succeeded":
            # It raced the cancel: recorded as its success event would be (refunded).
            return self._events.record_success(intent, event_id=None)
        if intent.status != "canceled":
            return f"intent is {intent.status}; left for the next run"

        def attempt() -> str:
            found = self._orders.get(order.id)
            current = found.value
            if current.payment is None or current.payment.status != "requires_payment":
                return "already settled"
            cancelled = current.payment.model_copy(update={"status": "canceled"})
            changed = current.model_copy(update={"payment": cancelled, "updated_at": self._clock()})
            self._writer.commit([UpdateOrder(changed, expected_version=found.version)])
            return "intent cancelled"

        return optimistic(
            attempt, backoff=self._backoff, what=f"cancelling {order.id}", sleep=self._sleep
        )

    # --- refunds ---------------------------------------------------------------------------

    def refund(
        self, order_id: str, request: RefundRequest, *, idempotency_key: str
    ) -> Versioned[Order]:
        """An admin refund: reserved on the order (never more than was paid), made through the
        provider under its key, then recorded with its restock in one commit. The same key with
        the same body returns the same result; with another body it is 409."""
        key = refund_key(order_id=order_id, idempotency_key=idempotency_key)
        fingerprint = refund_fingerprint(request)

        def reserve() -> None:
            found = self._orders.get(order_id)
            order = found.value
            existing = order.payment.refund(key) if order.payment else None
            if existing is not None:
                if existing.fingerprint != fingerprint:
                    raise Conflict(
                        "this Idempotency-Key was already used with a different request body"
                    )
                return
            restock = resolve_restock(request.restock, variant_products=order.variant_products())
            amount = plan_refund(
                status=order.status,
                payment=order.payment,
                request=request.model_copy(update={"restock": restock}),
                quantities=order.quantities(),
                restocked=restocked_units(order.payment),
            )
            assert order.payment is not None
            refund = Refund(
                key=key,
                amount=amount,
                reason=request.reason,
                restock=restock,
                fingerprint=fingerprint,
                actor="admin",
                requested_at=self._clock(),
            )
            payment = order.payment.model_copy(update={"refunds": [*order.payment.refunds, refund]})
            changed = order.model_copy(update={"payment": payment, "updated_at": self._clock()})
            self._writer.commit([UpdateOrder(changed, expected_version=found.version)])

        optimistic(
            reserve,
            backoff=self._request_backoff,
            what=f"refunding {order_id}",
            sleep=self._sleep,
        )
        _, current = self._refunds.complete(order_id)
        return current

    def _refund_due(self, order_id: str) -> str:
        def attempt() -> None:
            found = self._orders.get(order_id)
            order = found.value
            payment = order.payment
            if payment is None or payment.pending() or order.payment_due != "refund":
                return
            # Paid, then cancelled (or paid after it ended): everything left goes back.
            self._refunds.reserve_void(
                found, payment, reason=f"the order was {order.status} after payment"
            )

        optimistic(attempt, backoff=self._backoff, what=f"voiding {order_id}", sleep=self._sleep)
        done, _ = self._refunds.complete(order_id)
        return ", ".join(done) or "nothing pending"
