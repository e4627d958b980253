"""Payment use cases: an intent per confirmed order, the provider's webhook, cancels and refunds.

Every order change here is one optimistic commit of the order (plus restock rows) read at its
version, decided by the pure rules in ``celeste.orders.payments``; every provider call is idempotent
(intent keyed by the order id, refunds by their key), and a refund is reserved on the order
before the provider is asked, so two racing paths can never refund more than was paid. Whatever
is left undone by a crash shows in the order's ``payment_due`` and is finished by ``redrive``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from celeste.inventory import stock as inventory
from celeste.inventory.records import MovementRecord
from celeste.kernel.clock import Clock, utcnow
from celeste.kernel.errors import Conflict, Contention, NotFound, ValidationFailed
from celeste.kernel.versions import Versioned
from celeste.orders.order import Order
from celeste.orders.payment_provider import (
    Intent,
    PaymentEvent,
    PaymentProvider,
    PaymentRecords,
    PaymentSecret,
    ProviderDispute,
    UnmatchedPayment,
)
from celeste.orders.payments import (
    REFUNDABLE,
    VOID_KEY,
    Payment,
    PaymentNote,
    Refund,
    RefundRequest,
    after_refund,
    below_minimum,
    disputed,
    external_refunds,
    free_payment,
    plan_refund,
    received,
    record_external_refund,
    refund_fingerprint,
    refund_key,
    refunded_status,
    restocked_units,
    success_outcome,
)
from celeste.orders.status import OrderStatus
from celeste.ports.inventory import InventoryStore
from celeste.ports.orders import OrderStore
from celeste.ports.writes import AtomicWriter
from celeste.services.retry import REQUEST, TRIGGER, Backoff, optimistic
from celeste.writes import AddMovement, PutLevel, UpdateOrder, Write

log = logging.getLogger("celeste.payments")

SUCCEEDED = "payment_intent.succeeded"
FAILED = "payment_intent.payment_failed"
#: A refund of the charge: ours (found by its key, recorded by our path) or one made in the
#: Stripe dashboard (recorded here).
REFUNDED = "charge.refunded"
#: A dispute opened, changed or closed: its state is re-read from Stripe.
DISPUTE_EVENTS = frozenset(
    {
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.closed",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
    }
)
#: How long the delivery that recorded an unmatched payment has to refund it before another
#: delivery of the same intent takes over.
CLAIM = timedelta(seconds=60)
#: Every event type the webhook acts on (register exactly these at Stripe).
HANDLED_EVENTS = (SUCCEEDED, FAILED, REFUNDED, *sorted(DISPUTE_EVENTS))


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
        inventory: InventoryStore,
        records: PaymentRecords,
        provider: Callable[[], PaymentProvider],
        clock: Clock = utcnow,
        backoff: Backoff = TRIGGER,
        request_backoff: Backoff = REQUEST,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._orders = orders
        self._writer = writer
        self._inventory = inventory
        self._records = records
        self._provider = provider
        self._clock = clock
        self._backoff = backoff
        self._request_backoff = request_backoff
        self._sleep = sleep

    # --- reads ---------------------------------------------------------------------------

    def config(self) -> PaymentConfig:
        """The provider and its publishable key (refused when payments are not configured)."""
        return PaymentConfig(provider="stripe", publishable_key=self._provider().publishable_key)

    def unmatched(self, *, limit: int) -> list[UnmatchedPayment]:
        """Money that arrived for no order (and its refund), newest first, for admins."""
        return self._records.list_unmatched(limit=limit)

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
            return self._succeeded(intent, event_id=None)  # it raced the cancel: refund it
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

    # --- the provider's webhook -------------------------------------------------------------

    def handle_webhook(self, *, payload: bytes, signature: str | None) -> str:
        """Verify and apply one webhook delivery; a replay of a handled event does nothing.

        The event only says *which* intent changed: its state is read again from the provider,
        so a stale, reordered or replayed event can never mark an order paid on old news.
        """
        event = self._provider().parse_event(payload=payload, signature=signature)
        if self._records.event_seen(event.id):
            return "replay"
        order_id, outcome = self._apply(event)
        self._records.record_event(
            event=event, order_id=order_id, outcome=outcome, at=self._clock()
        )
        log.info(
            "webhook",
            extra={
                "fields": {
                    "event_id": event.id,
                    "type": event.type,
                    "order_id": order_id,
                    "outcome": outcome,
                }
            },
        )
        return outcome

    def _apply(self, event: PaymentEvent) -> tuple[str | None, str]:
        handled = (SUCCEEDED, FAILED, REFUNDED)
        if event.intent_id is None or (
            event.type not in handled and event.type not in DISPUTE_EVENTS
        ):
            return None, "ignored"
        try:
            intent = self._provider().retrieve_intent(event.intent_id)
        except NotFound:
            return None, "unknown intent"
        if intent.order_id is None:
            return None, "not an order's intent"
        try:
            found = self._orders.get(intent.order_id)  # the event's one read of the order
        except NotFound:
            if event.type == SUCCEEDED and intent.status == "succeeded":
                # Money for an order that does not exist: it goes back, and is recorded.
                return intent.order_id, self._unmatched(
                    intent, reason="the order does not exist", event_id=event.id
                )
            return intent.order_id, "unknown order"
        if event.type in DISPUTE_EVENTS:
            return intent.order_id, self._dispute(intent, event, found=found)
        if event.type == REFUNDED:
            return intent.order_id, self._refunded_outside(intent, found=found)
        if event.type == FAILED:
            if intent.status == "succeeded":  # a late failure of an attempt before the success
                return intent.order_id, "stale event: the intent has succeeded since"
            return intent.order_id, self._failed(intent, event_id=event.id, found=found)
        if intent.status != "succeeded":
            return intent.order_id, f"stale event: the intent is {intent.status}"
        return intent.order_id, self._succeeded(intent, event_id=event.id, found=found)

    def _reader(
        self, order_id: str, first: Versioned[Order] | None
    ) -> Callable[[], Versioned[Order]]:
        """The order as each attempt of an optimistic write reads it: ``first`` (what this
        event or request already read, or wrote) for the first attempt, a fresh read for every
        retry (a lost race must see the winner's write). The commit still carries the version
        the attempt decided on."""
        given = [first] if first is not None else []

        def read() -> Versioned[Order]:
            return given.pop() if given else self._orders.get(order_id)

        return read

    def _failed(
        self, intent: Intent, *, event_id: str, found: Versioned[Order] | None = None
    ) -> str:
        read = self._reader(str(intent.order_id), found)

        def attempt() -> str:
            found = read()
            order = found.value
            payment = order.payment
            if payment is None or payment.intent_id != intent.id:
                return "failure of an intent the order does not hold"
            if any(note.event_id == event_id for note in payment.notes):
                return "failure already recorded"
            note = PaymentNote(
                at=self._clock(),
                kind="payment_failed",
                detail=f"the payment attempt failed (intent now {intent.status})",
                event_id=event_id,
            )
            noted = payment.model_copy(update={"notes": [*payment.notes, note]})
            changed = order.model_copy(update={"payment": noted, "updated_at": self._clock()})
            self._writer.commit([UpdateOrder(changed, expected_version=found.version)])
            return "failure recorded"

        return optimistic(
            attempt, backoff=self._request_backoff, what="recording a failure", sleep=self._sleep
        )

    def _succeeded(
        self, intent: Intent, *, event_id: str | None, found: Versioned[Order] | None = None
    ) -> str:
        order_id = str(intent.order_id)
        read = self._reader(order_id, found)
        last: list[Versioned[Order]] = []  # what the last attempt read, or wrote

        def attempt() -> str:
            found = read()
            last[:] = [found]
            order = found.value
            now = self._clock()
            payment = order.payment or Payment(
                intent_id=intent.id, amount=order.total, currency=str(order.currency)
            )
            outcome = success_outcome(
                status=order.status,
                payment=payment,
                intent=intent,
                paid_by_hand=any(
                    step.status is OrderStatus.PROCESSING and step.actor == "admin"
                    for step in order.history
                ),
            )
            if outcome == "done":
                return "already recorded"
            if outcome == "mismatch" and intent.id != payment.intent_id:
                return "foreign"  # refunded below, outside this retried commit
            paid = received(payment, intent=intent, at=now)
            if outcome == "pay":
                changed = order.move(
                    OrderStatus.PROCESSING, actor="stripe", at=now, payment=paid
                ).order
                self._writer.commit([UpdateOrder(changed, expected_version=found.version)])
                return "paid"
            if outcome == "accept":
                # Marked paid by hand while this payment was under way: the goods ship, so the
                # real money is kept; what was taken by hand is what goes back (noted).
                note = PaymentNote(
                    at=now,
                    kind="paid_twice",
                    detail=(
                        "paid through Stripe after an admin marked the order paid by hand: "
                        "the Stripe payment is kept; return the payment taken by hand"
                    ),
                    event_id=event_id,
                )
                kept = paid.model_copy(update={"notes": [*paid.notes, note]})
                changed = order.model_copy(update={"payment": kept, "updated_at": now})
                self._writer.commit([UpdateOrder(changed, expected_version=found.version)])
                return "paid twice: Stripe payment kept"
            notes = list(paid.notes)
            if outcome == "mismatch":
                notes.append(
                    PaymentNote(
                        at=now,
                        kind="amount_mismatch",
                        detail=(
                            f"received {intent.amount_received} {intent.currency}, the order "
                            f"is {payment.amount} {payment.currency}: not accepted, refunded"
                        ),
                        event_id=event_id,
                    )
                )
            reason = (
                "the amount or currency did not match the order"
                if outcome == "mismatch"
                else f"the payment arrived after the order was {order.status}"
            )
            last[:] = [
                self._reserve_void(found, paid.model_copy(update={"notes": notes}), reason=reason)
            ]
            return "refund due"

        outcome = optimistic(
            attempt, backoff=self._backoff, what=f"payment of {order_id}", sleep=self._sleep
        )
        if outcome == "foreign":  # decided without writing: the order as last read
            return self._foreign(last[0].value, intent, event_id=event_id)
        if outcome == "refund due":
            done, _ = self._complete_refunds(order_id, known=last[0])
            return "refunded in full: " + ", ".join(done)
        return outcome

    def _foreign(self, order: Order, intent: Intent, *, event_id: str | None) -> str:
        # Money on an intent that names this order but is not the one it holds (a duplicate
        # made by a retried create where the provider ignores idempotency keys): send it back.
        return self._unmatched(
            intent,
            reason=f"the order holds another intent ({order.payment and order.payment.intent_id})",
            event_id=event_id,
            key=f"{order.id}-{intent.id}",
        )

    def _unmatched(
        self, intent: Intent, *, reason: str, event_id: str | None, key: str | None = None
    ) -> str:
        """Refund money that arrived for no order, recorded in ``unmatched_payments`` first
        (an admin sees it), exactly once per intent: the record is created once, and the
        refund's key comes from the intent, so a retry finds the refund Stripe already made."""
        record = self._records.unmatched(intent.id)
        if record is None:
            record = UnmatchedPayment(
                intent_id=intent.id,
                order_id=intent.order_id,
                amount=intent.amount_received,
                currency=intent.currency.upper(),
                reason=reason,
                refund_key=key or f"unmatched-{intent.id}",
                event_id=event_id,
                received_at=self._clock(),
            )
            if not self._records.add_unmatched(record):
                record = self._records.unmatched(intent.id) or record
        elif record.status == "refund_pending" and self._clock() - record.received_at < CLAIM:
            # Another delivery created the record a moment ago and is refunding: let Stripe
            # retry this one later rather than race it (the local Stripe ignores idempotency
            # keys). Past the claim the creator is taken to have died: finish its refund.
            raise Contention("another delivery is refunding this payment", retry_after_s=30)
        if record.status == "refunded":
            return f"unmatched payment refunded already ({record.refund_id})"
        made = self._provider().refund(
            intent_id=intent.id, amount=record.amount, key=record.refund_key
        )
        self._records.put_unmatched(
            record.model_copy(
                update={"status": "refunded", "refund_id": made.id, "refunded_at": self._clock()}
            )
        )
        log.warning(
            "refunded a payment for no order",
            extra={"fields": {"order_id": intent.order_id, "intent": intent.id, "refund": made.id}},
        )
        return f"unmatched payment refunded ({made.id})"

    # --- refunds and disputes made at Stripe ------------------------------------------------

    def _refunded_outside(self, intent: Intent, *, found: Versioned[Order] | None = None) -> str:
        """Record refunds made in the Stripe dashboard on the order, as ``POST
        /orders/{id}/refund`` records its own (no restock; the status moves the same way, so
        the same stats rules follow), each once by its Stripe refund id. Refunds Celeste made
        carry its key and are recorded by the path that made them."""
        order_id = str(intent.order_id)
        refunds = self._provider().list_refunds(intent.id)
        read = self._reader(order_id, found)

        def attempt() -> str:
            found = read()
            order = found.value
            payment = order.payment
            if payment is None or payment.intent_id != intent.id:
                return "refund of an intent the order does not hold"
            new = external_refunds(payment, refunds)
            if not new:
                return "no refund made outside Celeste"
            now = self._clock()
            after = payment
            for made in new:
                after = record_external_refund(after, order_id=order.id, refund=made, at=now)
            if order.status in REFUNDABLE:
                changed = order.move(
                    refunded_status(after), actor="stripe", at=now, payment=after
                ).order
            else:  # not paid yet or ended: the money is recorded, the status stays
                changed = order.model_copy(update={"payment": after, "updated_at": now})
            self._writer.commit([UpdateOrder(changed, expected_version=found.version)])
            return "refund made outside Celeste recorded: " + ", ".join(r.id for r in new)

        return optimistic(
            attempt, backoff=self._backoff, what=f"refunds of {order_id}", sleep=self._sleep
        )

    def _dispute(
        self, intent: Intent, event: PaymentEvent, *, found: Versioned[Order] | None = None
    ) -> str:
        """Record the dispute as Stripe has it now: open puts the order on hold (it cannot
        ship), won releases it, lost keeps it held and takes the amount out of what is
        refundable. Replays and events in any order end the same (the state is re-read)."""
        if event.dispute_id is None:
            return "dispute event without a dispute"
        try:
            dispute: ProviderDispute = self._provider().retrieve_dispute(event.dispute_id)
        except NotFound:
            return "unknown dispute"
        order_id = str(intent.order_id)
        read = self._reader(order_id, found)

        def attempt() -> str:
            found = read()
            order = found.value
            if order.payment is None:
                return "dispute of an order without a payment"
            after = disputed(order.payment, dispute, at=self._clock())
            if after is None:
                return f"dispute {dispute.status} already recorded"
            changed = order.model_copy(update={"payment": after, "updated_at": self._clock()})
            self._writer.commit([UpdateOrder(changed, expected_version=found.version)])
            return f"dispute {dispute.status} recorded"

        outcome = optimistic(
            attempt, backoff=self._backoff, what=f"dispute of {order_id}", sleep=self._sleep
        )
        log.warning(
            "payment dispute",
            extra={"fields": {"order_id": order_id, "dispute": dispute.id, "outcome": outcome}},
        )
        return outcome

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
            amount = plan_refund(
                status=order.status,
                payment=order.payment,
                request=request,
                quantities=order.quantities(),
                restocked=restocked_units(order.payment),
            )
            assert order.payment is not None
            refund = Refund(
                key=key,
                amount=amount,
                reason=request.reason,
                restock=request.restock,
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
        _, current = self._complete_refunds(order_id)
        return current

    def _refund_due(self, order_id: str) -> str:
        def attempt() -> None:
            found = self._orders.get(order_id)
            order = found.value
            payment = order.payment
            if payment is None or payment.pending() or order.payment_due != "refund":
                return
            # Paid, then cancelled (or paid after it ended): everything left goes back.
            self._reserve_void(found, payment, reason=f"the order was {order.status} after payment")

        optimistic(attempt, backoff=self._backoff, what=f"voiding {order_id}", sleep=self._sleep)
        done, _ = self._complete_refunds(order_id)
        return ", ".join(done) or "nothing pending"

    def _reserve_void(
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

    def _complete_refunds(
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
        read = self._reader(order_id, known)
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
                changed = order.move(target, actor="admin", at=now, payment=after).order
                writes += self._restock(order, refund, at=now)
            else:  # a void keeps the order's status (cancelled, expired, confirmed)
                changed = order.model_copy(update={"payment": after, "updated_at": now})
            writes.append(UpdateOrder(changed, expected_version=found.version))
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
        product_ids = sorted({line.product_id for line in refund.restock})
        stored = self._inventory.levels(store_id=order.store_id, product_ids=product_ids)
        writes: list[Write] = []
        levels = {pid: record.value.level() for pid, record in stored.items()}
        for index, line in enumerate(refund.restock):
            if line.product_id not in stored:
                raise ValidationFailed.on(
                    f"restock[{index}].product_id",
                    f"the store has no stock record for {line.product_id}",
                )
            level, movement = inventory.adjust(
                level=levels[line.product_id],
                delta=line.quantity,
                reason=f"restocked by refund of order {order.id}: {refund.reason}"[:200],
            )
            levels[line.product_id] = level
            movement = movement.model_copy(update={"order_id": order.id})
            record = stored[line.product_id]
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
        for pid in product_ids:
            after = stored[pid].value.with_level(levels[pid], at=at)
            writes.append(PutLevel(after, expected_version=stored[pid].version))
        return writes
