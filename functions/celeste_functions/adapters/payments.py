"""Firestore records of payments: ``payment_secrets/{order_id}`` (owner-only client secrets),
``payment_events/{event_id}`` (every webhook event handled, so a replay is a no-op) and
``unmatched_payments/{intent_id}`` (money that arrived for no order, and its refund)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from celeste.orders.payment_provider import PaymentEvent, PaymentSecret, UnmatchedPayment

if TYPE_CHECKING:
    from google.cloud import firestore

PAYMENT_SECRETS = "payment_secrets"
PAYMENT_EVENTS = "payment_events"
UNMATCHED_PAYMENTS = "unmatched_payments"


class FirestorePaymentRecords:
    """``PaymentRecords`` on Firestore."""

    def __init__(self, *, client: Callable[[], firestore.Client]) -> None:
        self._client = client

    def put_secret(self, secret: PaymentSecret) -> None:
        ref = self._client().collection(PAYMENT_SECRETS).document(secret.order_id)
        ref.set(
            {
                "user_id": secret.user_id,
                "intent_id": secret.intent_id,
                "client_secret": secret.client_secret,
            }
        )

    def secret(self, order_id: str) -> PaymentSecret | None:
        snapshot = self._client().collection(PAYMENT_SECRETS).document(order_id).get()
        if not snapshot.exists:
            return None
        data = snapshot.to_dict() or {}
        return PaymentSecret(
            order_id=order_id,
            user_id=str(data.get("user_id", "")),
            intent_id=str(data.get("intent_id", "")),
            client_secret=str(data.get("client_secret", "")),
        )

    def event_seen(self, event_id: str) -> bool:
        ref = self._client().collection(PAYMENT_EVENTS).document(_event_doc(event_id))
        return bool(ref.get().exists)

    def record_event(
        self, *, event: PaymentEvent, order_id: str | None, outcome: str, at: datetime
    ) -> None:
        ref = self._client().collection(PAYMENT_EVENTS).document(_event_doc(event.id))
        # set(), not create(): two racing deliveries of one event both record the same facts.
        ref.set(
            {
                "event_id": event.id,
                "type": event.type,
                "intent_id": event.intent_id,
                "order_id": order_id,
                "outcome": outcome[:500],
                "received_at": at,
            }
        )

    def unmatched(self, intent_id: str) -> UnmatchedPayment | None:
        ref = self._client().collection(UNMATCHED_PAYMENTS).document(_event_doc(intent_id))
        snapshot = ref.get()
        if not snapshot.exists:
            return None
        return UnmatchedPayment.model_validate(snapshot.to_dict() or {})

    def add_unmatched(self, record: UnmatchedPayment) -> bool:
        from google.api_core.exceptions import AlreadyExists

        ref = self._client().collection(UNMATCHED_PAYMENTS).document(_event_doc(record.intent_id))
        try:
            ref.create(record.model_dump())
        except AlreadyExists:
            return False
        return True

    def put_unmatched(self, record: UnmatchedPayment) -> None:
        ref = self._client().collection(UNMATCHED_PAYMENTS).document(_event_doc(record.intent_id))
        ref.set(record.model_dump())

    def list_unmatched(self, *, limit: int) -> list[UnmatchedPayment]:
        from google.cloud import firestore as fs

        query = (
            self._client()
            .collection(UNMATCHED_PAYMENTS)
            .order_by("received_at", direction=fs.Query.DESCENDING)
            .limit(limit)
        )
        return [UnmatchedPayment.model_validate(doc.to_dict() or {}) for doc in query.stream()]


def _event_doc(event_id: str) -> str:
    # Stripe ids (evt_...) are safe document ids; anything else is hashed into one.
    import hashlib
    import re

    if re.fullmatch(r"[A-Za-z0-9_-]{1,128}", event_id) and not event_id.startswith("__"):
        return event_id
    return "h-" + hashlib.sha256(event_id.encode()).hexdigest()
