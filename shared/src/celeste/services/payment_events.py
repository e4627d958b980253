"""The payment provider's webhook: each Stripe event applied to the order its intent names.

An event only says *which* intent (or dispute) changed; its state is read again from the
provider, so a stale, reordered or replayed event never decides on old news, and every event id
is recorded once. Money that arrived is recorded on its order (paid; or, when it came too late,
twice, or for the wrong amount, refunded in full through ``Refunds``); money for no order, or on
an intent the order does not hold, is recorded in ``unmatched_payments`` and refunded once.
Refunds made and disputes opened in the Stripe dashboard are recorded on the order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from celeste.kernel.clock import Clock, utcnow
from celeste.kernel.errors import Contention, NotFound
from celeste.kernel.versions import Versioned
from celeste.orders.events import refund_events
from celeste.orders.order import Order
from celeste.orders.payment_provider import (
    Intent,
    PaymentEvent,
    PaymentProvider,
    PaymentRecords,
    ProviderDispute,
    UnmatchedPayment,
)
from celeste.orders.payments import (
    REFUNDABLE,
    Payment,
    PaymentNote,
    disputed,
    external_refunds,
    received,
    record_external_refund,
    refunded_status,
    success_outcome,
)
from celeste.orders.status import OrderStatus
from celeste.ports.orders import OrderStore
from celeste.ports.writes import AtomicWriter
from celeste.services.refunds import Refunds
from celeste.services.retry import REQUEST, TRIGGER, Backoff, first_then_fresh, optimistic
from celeste.writes import AddEvent, UpdateOrder, Write

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


class PaymentEventService:
    """Applies the provider's webhook deliveries to orders, each event once."""

    def __init__(
        self,
        *,
        orders: OrderStore,
        writer: AtomicWriter,
        records: PaymentRecords,
        provider: Callable[[], PaymentProvider],
        refunds: Refunds,
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
        self._clock = clock
        self._backoff = backoff
        self._request_backoff = request_backoff
        self._sleep = sleep

    def unmatched(self, *, limit: int) -> list[UnmatchedPayment]:
        """Money that arrived for no order (and its refund), newest first, for admins."""
        return self._records.list_unmatched(limit=limit)

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
        return intent.order_id, self.record_success(intent, event_id=event.id, found=found)

    def _failed(
        self, intent: Intent, *, event_id: str, found: Versioned[Order] | None = None
    ) -> str:
        order_id = str(intent.order_id)
        read = first_then_fresh(found, lambda: self._orders.get(order_id))

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

    def record_success(
        self, intent: Intent, *, event_id: str | None, found: Versioned[Order] | None = None
    ) -> str:
        """Record on its order money the provider says ``intent`` received (its success event,
        or a cancel that found it paid): paid; kept when paid by hand meanwhile; refunded in
        full when late or of another amount; refunded as unmatched on an intent the order does
        not hold."""
        order_id = str(intent.order_id)
        read = first_then_fresh(found, lambda: self._orders.get(order_id))
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
                moved = order.move(OrderStatus.PROCESSING, actor="stripe", at=now, payment=paid)
                self._writer.commit(
                    [
                        UpdateOrder(moved.order, expected_version=found.version),
                        AddEvent(moved.event),
                    ]
                )
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
                self._refunds.reserve_void(
                    found, paid.model_copy(update={"notes": notes}), reason=reason
                )
            ]
            return "refund due"

        outcome = optimistic(
            attempt, backoff=self._backoff, what=f"payment of {order_id}", sleep=self._sleep
        )
        if outcome == "foreign":  # decided without writing: the order as last read
            return self._foreign(last[0].value, intent, event_id=event_id)
        if outcome == "refund due":
            done, _ = self._refunds.complete(order_id, known=last[0])
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
            # retry this one later rather than race it (localstripe alone ignores idempotency
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
        read = first_then_fresh(found, lambda: self._orders.get(order_id))

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
            writes: list[Write]
            if order.status in REFUNDABLE:
                moved = order.move(refunded_status(after), actor="stripe", at=now, payment=after)
                writes = [UpdateOrder(moved.order, expected_version=found.version)]
                writes.append(AddEvent(moved.event))
            else:  # not paid yet or ended: the money is recorded, the status stays
                changed = order.model_copy(update={"payment": after, "updated_at": now})
                writes = [UpdateOrder(changed, expected_version=found.version)]
            writes += [AddEvent(e) for e in refund_events(order.id, before=payment, after=after)]
            self._writer.commit(writes)
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
        read = first_then_fresh(found, lambda: self._orders.get(order_id))

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
