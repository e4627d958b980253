"""The payment adapters against the real things: the Stripe adapter against the local Stripe
(intents, idempotent refunds, cancels, signatures), the payment records and the re-drive query
against the Firestore emulator, and the whole PaymentService (and PaymentEventService) over both."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import pytest
import stripe
from google.cloud import firestore

from celeste.kernel.errors import NotFound
from celeste.orders.payment_provider import (
    InvalidSignature,
    PaymentEvent,
    PaymentSecret,
    UnmatchedPayment,
)
from celeste.orders.payments import RefundRequest
from celeste.services.payment_events import PaymentEventService
from celeste.services.payments import PaymentService
from celeste.services.refunds import Refunds
from celeste_functions.adapters.inventory import FirestoreInventory
from celeste_functions.adapters.orders import FirestoreOrders
from celeste_functions.adapters.payments import FirestorePaymentRecords
from celeste_functions.adapters.stripe_payments import StripePayments, sign_payload
from tests.conftest import require_env
from tests.integration.test_orders_firestore import STORE, Stack
from tests.support.writers import uncached_writer

pytestmark = pytest.mark.integration

SECRET = "whsec_integration"


@pytest.fixture
def provider() -> StripePayments:
    env = require_env("STRIPE_API_BASE", "STRIPE_SECRET_KEY")
    return StripePayments(
        secret_key=env["STRIPE_SECRET_KEY"],
        publishable_key="pk_test_it",
        webhook_secret=SECRET,
        api_base=env["STRIPE_API_BASE"],
    )


def pay(provider: StripePayments, intent_id: str) -> None:
    client = provider._stripe()
    method = client.v1.payment_methods.create(
        {
            "type": "card",
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    )
    client.v1.payment_intents.update(intent_id, {"payment_method": method.id})
    client.v1.payment_intents.confirm(intent_id)


def test_intent_carries_the_order_and_exact_amount(provider: StripePayments) -> None:
    order_id = f"o-{uuid.uuid4().hex[:10]}"
    intent = provider.create_intent(order_id=order_id, amount=4_321, currency="EUR")
    assert (intent.amount, intent.currency, intent.order_id) == (4_321, "EUR", order_id)
    assert intent.status == "requires_payment_method" and intent.amount_received == 0
    assert intent.client_secret and intent.client_secret.startswith(intent.id)
    again = provider.retrieve_intent(intent.id)
    assert again.id == intent.id and again.order_id == order_id


def test_paid_intent_is_received_cannot_be_cancelled_and_refunds_are_idempotent(
    provider: StripePayments,
) -> None:
    intent = provider.create_intent(order_id="o-paid", amount=1_000, currency="usd")
    pay(provider, intent.id)
    paid = provider.retrieve_intent(intent.id)
    assert paid.status == "succeeded" and paid.amount_received == 1_000
    assert provider.cancel_intent(intent.id).status == "succeeded"  # too late to cancel
    first = provider.refund(intent_id=intent.id, amount=300, key="o-paid-r1")
    again = provider.refund(intent_id=intent.id, amount=300, key="o-paid-r1")
    other = provider.refund(intent_id=intent.id, amount=700, key="o-paid-r2")
    assert first == again and other.id != first.id
    refunds = provider._stripe().v1.refunds.list({"payment_intent": intent.id})
    assert sorted(int(r.amount) for r in refunds.data) == [300, 700]


def test_unpaid_intent_is_cancelled(provider: StripePayments) -> None:
    intent = provider.create_intent(order_id="o-cancel", amount=500, currency="EUR")
    assert provider.cancel_intent(intent.id).status == "canceled"
    assert provider.cancel_intent(intent.id).status == "canceled"  # twice is fine


def test_signatures_are_verified_on_the_raw_body(provider: StripePayments) -> None:
    body = json.dumps(
        {
            "id": "evt_1",
            "type": "payment_intent.succeeded",
            "data": {"object": {"object": "payment_intent", "id": "pi_1"}},
        }
    ).encode()
    now = int(time.time())
    event = provider.parse_event(
        payload=body, signature=sign_payload(body, secret=SECRET, timestamp=now)
    )
    assert event == PaymentEvent(id="evt_1", type="payment_intent.succeeded", intent_id="pi_1")
    for signature in (
        None,
        "",
        sign_payload(body, secret="whsec_other", timestamp=now),
        sign_payload(body, secret=SECRET, timestamp=now - 3_600),  # replayed an hour later
        sign_payload(body + b" ", secret=SECRET, timestamp=now),
    ):
        with pytest.raises(InvalidSignature):
            provider.parse_event(payload=body, signature=signature)
    # The official library's own verifier agrees with ours.
    stripe.WebhookSignature.verify_header(
        body.decode(), sign_payload(body, secret=SECRET, timestamp=now), SECRET
    )


def test_refunds_are_listed_with_our_key_and_disputes_read_back(provider: StripePayments) -> None:
    import requests

    intent = provider.create_intent(order_id="o-disputed", amount=2_000, currency="eur")
    pay(provider, intent.id)
    ours = provider.refund(intent_id=intent.id, amount=300, key="o-disputed-r1")
    dashboard = provider._stripe().v1.refunds.create({"payment_intent": intent.id, "amount": 200})
    listed = {r.id: (r.amount, r.key) for r in provider.list_refunds(intent.id)}
    assert listed == {ours.id: (300, "o-disputed-r1"), dashboard.id: (200, None)}
    base = require_env("STRIPE_API_BASE")["STRIPE_API_BASE"]
    opened = requests.post(
        f"{base}/_config/disputes", data={"payment_intent": intent.id}, timeout=30
    ).json()
    dispute = provider.retrieve_dispute(opened["id"])
    assert (dispute.intent_id, dispute.status, dispute.amount, dispute.currency) == (
        intent.id,
        "needs_response",
        2_000,
        "EUR",
    )
    requests.post(f"{base}/_config/disputes/{dispute.id}", data={"status": "won"}, timeout=30)
    assert provider.retrieve_dispute(dispute.id).status == "won"
    with pytest.raises(NotFound):
        provider.retrieve_dispute("dp_missing")


def test_refunds_racing_with_one_key_make_one_refund(provider: StripePayments) -> None:
    """An API call and a trigger finishing the same reserved refund at once: Stripe makes one
    refund per Idempotency-Key, and so does the local Stripe (``localstripe_idempotency``)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    intent = provider.create_intent(order_id="o-raced", amount=2_000, currency="eur")
    pay(provider, intent.id)
    barrier = threading.Barrier(8)

    def refund(_: int) -> str:
        barrier.wait()
        return provider.refund(intent_id=intent.id, amount=300, key="o-raced-r1").id

    with ThreadPoolExecutor(8) as pool:
        made = set(pool.map(refund, range(8)))
    listed = [(r.amount, r.key) for r in provider.list_refunds(intent.id)]
    assert (len(made), listed) == (1, [(300, "o-raced-r1")])


def test_charge_and_dispute_events_name_their_intent(provider: StripePayments) -> None:
    now = int(time.time())
    for obj, dispute_id in (
        ({"object": "charge", "id": "ch_1", "payment_intent": "pi_7"}, None),
        ({"object": "dispute", "id": "dp_3", "charge": "ch_1", "payment_intent": "pi_7"}, "dp_3"),
    ):
        body = json.dumps({"id": "evt_c", "type": "charge.x", "data": {"object": obj}}).encode()
        event = provider.parse_event(
            payload=body, signature=sign_payload(body, secret=SECRET, timestamp=now)
        )
        assert (event.intent_id, event.dispute_id) == ("pi_7", dispute_id)


def test_unmatched_payments_are_recorded_once_on_firestore(db: firestore.Client) -> None:
    records = FirestorePaymentRecords(client=lambda: db)
    intent_id = f"pi_{uuid.uuid4().hex[:10]}"
    assert records.unmatched(intent_id) is None
    record = UnmatchedPayment(
        intent_id=intent_id,
        order_id="ghost",
        amount=1_234,
        currency="EUR",
        reason="the order does not exist",
        refund_key=f"unmatched-{intent_id}",
        received_at=datetime(2026, 3, 2, tzinfo=UTC),
    )
    assert records.add_unmatched(record) is True
    assert records.add_unmatched(record.model_copy(update={"amount": 1})) is False
    assert records.unmatched(intent_id) == record
    done = record.model_copy(update={"status": "refunded", "refund_id": "re_1"})
    records.put_unmatched(done)
    assert records.unmatched(intent_id) == done
    assert done in records.list_unmatched(limit=10)


def test_payment_records_on_firestore(db: firestore.Client) -> None:
    records = FirestorePaymentRecords(client=lambda: db)
    assert records.secret("o1") is None
    secret = PaymentSecret(order_id="o1", user_id="alice", intent_id="pi_1", client_secret="s")
    records.put_secret(secret)
    records.put_secret(secret)
    assert records.secret("o1") == secret
    event = PaymentEvent(id="evt_9", type="payment_intent.succeeded", intent_id="pi_1")
    assert not records.event_seen("evt_9")
    at = datetime(2026, 3, 2, tzinfo=UTC)
    records.record_event(event=event, order_id="o1", outcome="paid", at=at)
    records.record_event(event=event, order_id="o1", outcome="paid", at=at)
    assert records.event_seen("evt_9")
    assert records.event_seen("evt_10") is False
    odd = PaymentEvent(id="evt/../x", type="t", intent_id=None)
    records.record_event(event=odd, order_id=None, outcome="ignored", at=at)
    assert records.event_seen("evt/../x")


def test_service_over_firestore_and_the_local_stripe(
    db: firestore.Client, provider: StripePayments
) -> None:
    db.collection("stores").document(STORE).set({"name": "IT", "active": True})
    stack = Stack(db)
    stack.count("apple", 5)
    order = stack.place([("apple", 2)])
    db.collection("orders").document(order.id).update({"subtotal": 200, "total": 200})
    assert stack.fulfilment.reserve(order.id) == "confirmed"
    orders = FirestoreOrders(client=lambda: db)
    assert [o.id for o in orders.payments_due(limit=10)] == [order.id]  # an intent is due
    writer = uncached_writer(db)
    records = FirestorePaymentRecords(client=lambda: db)
    refunds = Refunds(
        orders=orders,
        writer=writer,
        inventory=FirestoreInventory(client=lambda: db),
        provider=lambda: provider,
    )
    events = PaymentEventService(
        orders=orders, writer=writer, records=records, provider=lambda: provider, refunds=refunds
    )
    service = PaymentService(
        orders=orders,
        writer=writer,
        records=records,
        provider=lambda: provider,
        refunds=refunds,
        events=events,
    )
    assert service.settle(order.id) == "intent created"
    assert orders.payments_due(limit=10) == []
    held = orders.get(order.id).value
    assert held.payment is not None and held.payment.amount == held.total
    pay(provider, held.payment.intent_id)
    body = json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex}",
            "type": "payment_intent.succeeded",
            "data": {"object": {"object": "payment_intent", "id": held.payment.intent_id}},
        }
    ).encode()
    signature = sign_payload(body, secret=SECRET, timestamp=int(time.time()))
    assert events.handle_webhook(payload=body, signature=signature) == "paid"
    assert events.handle_webhook(payload=body, signature=signature) == "replay"
    refunded = service.refund(order.id, RefundRequest(reason="it"), idempotency_key="k1").value
    assert refunded.status.value == "refunded"
    assert refunded.payment is not None and refunded.payment.amount_refunded == held.total
