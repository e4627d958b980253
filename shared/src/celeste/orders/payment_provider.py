"""The payment provider's side: its port (``PaymentProvider``), what it answers (intents,
events, refunds, disputes), its errors, and what payments keep beside the orders
(``PaymentRecords``: client secrets, events seen, money that arrived for no order)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from celeste.kernel.errors import Contention, FieldError, NotConfigured, ValidationFailed


@dataclass(frozen=True)
class Intent:
    """A PaymentIntent as the provider reports it now."""

    id: str
    status: str
    amount: int
    amount_received: int
    currency: str
    order_id: str | None
    client_secret: str | None = None


@dataclass(frozen=True)
class PaymentEvent:
    """A webhook event whose signature was verified; ``intent_id`` names what it is about (for
    a charge or a dispute, the intent it belongs to), ``dispute_id`` the dispute."""

    id: str
    type: str
    intent_id: str | None
    dispute_id: str | None = None


@dataclass(frozen=True)
class ProviderRefund:
    """A refund the provider made (or found again by its key); ``key`` is ours, ``None`` for
    a refund made outside Celeste."""

    id: str
    amount: int
    key: str | None = None


class PaymentProvider(Protocol):
    """The payment provider (Stripe): no card data ever passes through us."""

    @property
    def publishable_key(self) -> str:
        """The key the browser app uses with Stripe.js."""
        ...

    def create_intent(self, *, order_id: str, amount: int, currency: str) -> Intent:
        """One intent per order: the order id is its idempotency key and ``metadata.order_id``."""
        ...

    def retrieve_intent(self, intent_id: str) -> Intent:
        """The intent as it is now (not as some event described it)."""
        ...

    def cancel_intent(self, intent_id: str) -> Intent:
        """Cancel an unpaid intent; one that already succeeded is returned as it is."""
        ...

    def refund(self, *, intent_id: str, amount: int, key: str) -> ProviderRefund:
        """Refund ``amount`` of the intent's charge; the same ``key`` never refunds twice."""
        ...

    def list_refunds(self, intent_id: str) -> list[ProviderRefund]:
        """Every refund of the intent's charge as the provider has it now."""
        ...

    def retrieve_dispute(self, dispute_id: str) -> ProviderDispute:
        """The dispute as it is now (not as some event described it)."""
        ...

    def parse_event(self, *, payload: bytes, signature: str | None) -> PaymentEvent:
        """The event in ``payload`` if ``signature`` verifies over the raw bytes, else
        ``InvalidSignature``."""
        ...


class InvalidSignature(ValidationFailed):
    """A webhook whose signature is missing or does not verify (400, nothing changed)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, [FieldError("Stripe-Signature", detail)])


class ProviderUnavailable(Contention):
    """The payment provider did not answer or failed; retry later (503 with Retry-After)."""


class PaymentsNotConfigured(NotConfigured):
    """This deployment has no payment provider keys: it refuses to take payment."""

    title = "Payments are not configured"


@dataclass(frozen=True)
class ProviderDispute:
    """A dispute as the provider reports it now (re-read, never taken from the event)."""

    id: str
    intent_id: str | None
    status: str
    reason: str
    amount: int
    currency: str


@dataclass(frozen=True)
class PaymentSecret:
    """``payment_secrets/{order_id}``: the intent's client secret, for the order's owner only."""

    order_id: str
    user_id: str
    intent_id: str
    client_secret: str


class UnmatchedPayment(BaseModel):
    """``unmatched_payments/{intent_id}``: money that arrived on an intent no order can take (it
    names an order that does not exist, or one that holds another intent). Written before the
    refund is asked (``refund_pending``), then ``refunded``: once per intent, whatever the
    deliveries, since the refund's key is derived from the intent."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    intent_id: str
    order_id: str | None
    amount: int
    currency: str
    reason: str
    status: Literal["refund_pending", "refunded"] = "refund_pending"
    refund_key: str
    refund_id: str | None = None
    event_id: str | None = None
    received_at: datetime
    refunded_at: datetime | None = None


class PaymentRecords(Protocol):
    """What payments keep beside the orders: client secrets, the webhook events seen and money
    that arrived for no order."""

    def unmatched(self, intent_id: str) -> UnmatchedPayment | None:
        """The record of money received on ``intent_id`` for no order, if any."""
        ...

    def add_unmatched(self, record: UnmatchedPayment) -> bool:
        """Create the record (False, unchanged, when one exists for the intent already)."""
        ...

    def put_unmatched(self, record: UnmatchedPayment) -> None:
        """Overwrite the record (its refund was made)."""
        ...

    def list_unmatched(self, *, limit: int) -> list[UnmatchedPayment]:
        """The newest records, for admins."""
        ...

    def put_secret(self, secret: PaymentSecret) -> None:
        """Store (or overwrite with the same value) an order's client secret."""
        ...

    def secret(self, order_id: str) -> PaymentSecret | None:
        """The order's client secret, if an intent was made."""
        ...

    def event_seen(self, event_id: str) -> bool:
        """Whether the webhook event ``event_id`` was handled already."""
        ...

    def record_event(
        self, *, event: PaymentEvent, order_id: str | None, outcome: str, at: datetime
    ) -> None:
        """Remember a handled event (a second record of the same id changes nothing)."""
        ...
