"""Payment rules: the order's payment record, when to charge, cancel and refund, disputes,
the provider's minimum charge."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal, cast, get_args

from pydantic import BaseModel, ConfigDict, Field

from celeste.kernel.errors import Conflict, ValidationFailed
from celeste.kernel.ids import CheckedId
from celeste.orders.payment_provider import (
    Intent,
    ProviderDispute,
    ProviderRefund,
)
from celeste.orders.status import OrderStatus

#: ``none``: nothing was due (a zero total), so no provider was asked.
Provider = Literal["stripe", "none"]
#: Where the order's money stands. ``requires_payment``: an intent is open and unpaid;
#: ``canceled``: the intent was cancelled before any money moved; ``succeeded``: paid in full;
#: ``partially_refunded``/``refunded``: some/all of what was paid went back.
PaymentStatus = Literal[
    "requires_payment", "canceled", "succeeded", "partially_refunded", "refunded"
]
#: Work a payment still needs, derived from the order's state (``expire_due`` re-drives it).
PaymentDue = Literal["intent", "cancel", "refund"]
RefundState = Literal["pending", "succeeded"]

#: Orders whose hold ended: an open intent is cancelled, money that arrived anyway goes back.
ENDED = frozenset({OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.REJECTED})
#: Orders an admin may refund (API: after payment).
REFUNDABLE = frozenset(
    {
        OrderStatus.PROCESSING,
        OrderStatus.SHIPPED,
        OrderStatus.DELIVERED,
        OrderStatus.PARTIALLY_REFUNDED,
    }
)
#: Orders whose goods are on their way to the customer (or there already): money that arrives
#: for one paid by hand is kept, never refunded (see ``success_outcome``).
SHIPPING = frozenset({OrderStatus.PROCESSING, OrderStatus.SHIPPED, OrderStatus.DELIVERED})
#: The refund key of the one automatic full refund (a payment that raced a cancel or expiry, or a
#: success the order cannot accept).
VOID_KEY = "void"


class RestockLine(BaseModel):
    """Units of one variant of a product that come back to the store's shelf with a refund;
    ``variant_id`` may be left out when the order has one variant of the product
    (``resolve_restock`` names it before the refund is stored)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    product_id: CheckedId
    variant_id: CheckedId | None = None
    quantity: int = Field(ge=1, le=1000, strict=True)

    @property
    def key(self) -> str:
        """The stock key it restocks (restocks stored before variants: the product's own)."""
        return self.variant_id or self.product_id


def resolve_restock(
    restock: Sequence[RestockLine], *, variant_products: Mapping[str, str]
) -> list[RestockLine]:
    """Each line with its variant named, from the order's variants (variant id -> product id):
    a named variant must be one of the order's, of the line's product; a line without one needs
    the order to have exactly one variant of the product (400 naming the field otherwise)."""
    resolved: list[RestockLine] = []
    for index, line in enumerate(restock):
        if line.variant_id is not None:
            if variant_products.get(line.variant_id) != line.product_id:
                raise ValidationFailed.on(
                    f"restock[{index}].variant_id",
                    f"not a variant of product {line.product_id} on this order",
                )
            resolved.append(line)
            continue
        variants = [v for v, p in variant_products.items() if p == line.product_id]
        if not variants:
            raise ValidationFailed.on(f"restock[{index}].product_id", "not a product of this order")
        if len(variants) > 1:
            raise ValidationFailed.on(
                f"restock[{index}].variant_id",
                f"the order has {len(variants)} variants of product {line.product_id}: name one",
            )
        resolved.append(line.model_copy(update={"variant_id": variants[0]}))
    return resolved


class RefundRequest(BaseModel):
    """Body of ``POST /orders/{id}/refund``: ``amount`` left out refunds everything left."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: int | None = Field(default=None, ge=1, strict=True)
    restock: list[RestockLine] = Field(default_factory=list, max_length=100)
    reason: str = Field(min_length=1, max_length=500)


class Refund(BaseModel):
    """One refund of the order's payment: reserved on the order first (``pending``), then sent to
    the provider with ``key`` as its idempotency key, then ``succeeded`` with the restock."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    key: str
    amount: int
    reason: str
    restock: list[RestockLine] = Field(default_factory=list)
    fingerprint: str = ""
    state: RefundState = "pending"
    refund_id: str | None = None
    #: ``stripe``: made outside Celeste (the Stripe dashboard) and recorded from its webhook.
    actor: Literal["admin", "system", "stripe"] = "admin"
    requested_at: datetime
    completed_at: datetime | None = None


class PaymentNote(BaseModel):
    """Something the provider told us that did not move the order (a failure, a mismatch)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    at: datetime
    #: ``paid_twice``: Stripe's payment landed on an order an admin had marked paid by hand;
    #: it is kept (the goods ship) and the payment taken by hand is what must go back.
    kind: Literal["payment_failed", "amount_mismatch", "foreign_intent", "paid_twice"]
    detail: str
    event_id: str | None = None


DisputeStatus = Literal[
    "warning_needs_response",
    "warning_under_review",
    "warning_closed",
    "needs_response",
    "under_review",
    "won",
    "lost",
]
#: A dispute in one of these no longer blocks the order (Stripe's closed states but ``lost``).
DISPUTE_RELEASED = frozenset({"won", "warning_closed"})


class Dispute(BaseModel):
    """``payment.dispute``: the customer's bank disputes the charge (as Stripe reports it now).

    While it is open the order is on hold (``shipped`` is refused); ``won`` (or an inquiry
    closed without a chargeback) releases it; ``lost`` keeps it held: the bank took
    ``amount`` back, which is then no longer refundable.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    status: DisputeStatus
    reason: str = ""
    amount: int
    currency: str
    opened_at: datetime
    updated_at: datetime


class Payment(BaseModel):
    """``orders/{id}.payment``: the PaymentIntent that collects exactly the order's total.

    ``client_secret`` is never stored on the order (admins read orders too): it lives beside it,
    readable by the owner only, and the API adds it to the owner's view.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    provider: Provider = "stripe"
    #: ``None`` only for ``provider: none`` (nothing was charged).
    intent_id: str | None
    client_secret: str | None = None
    status: PaymentStatus = "requires_payment"
    amount: int
    currency: str
    amount_received: int = 0
    amount_refunded: int = 0
    refunds: list[Refund] = Field(default_factory=list)
    notes: list[PaymentNote] = Field(default_factory=list)
    paid_at: datetime | None = None
    dispute: Dispute | None = None

    @property
    def intent(self) -> str:
        """The provider's intent id (every payment that moves money has one)."""
        if self.intent_id is None:
            raise Conflict("this order was paid without a payment provider")
        return self.intent_id

    @property
    def on_hold(self) -> bool:
        """A dispute that is open, or was lost, keeps the order from shipping."""
        return self.dispute is not None and self.dispute.status not in DISPUTE_RELEASED

    def lost_to_dispute(self) -> int:
        """What the bank took back by a lost dispute (gone: never refundable)."""
        lost = self.dispute is not None and self.dispute.status == "lost"
        return self.dispute.amount if lost and self.dispute is not None else 0

    def refund_reserved(self) -> int:
        """Everything refunded or on its way back (pending refunds count: they may land)."""
        return sum(r.amount for r in self.refunds)

    def refundable(self) -> int:
        """What may still be refunded: what was received less every refund, pending included."""
        return max(self.amount_received - self.refund_reserved() - self.lost_to_dispute(), 0)

    def refund(self, key: str) -> Refund | None:
        """The refund made under ``key``, if any."""
        return next((r for r in self.refunds if r.key == key), None)

    def pending(self) -> list[Refund]:
        """Refunds reserved here but not yet confirmed by the provider."""
        return [r for r in self.refunds if r.state == "pending"]


def payment_due(*, status: OrderStatus, payment: Payment | None) -> PaymentDue | None:
    """What the payment still needs given the order's status, or ``None`` when it is settled.

    Stored on the order, so a run of ``expire_due`` finds every order whose trigger or webhook
    died midway (``payment_due in [...]``) and finishes the job: a confirmed order without an
    intent gets one; an open intent of an order that moved on without it (cancelled, expired,
    marked paid by hand) is cancelled; a reserved refund, or money that arrived for an ended
    order, is refunded.
    """
    if payment is None:
        return "intent" if status is OrderStatus.CONFIRMED else None
    if payment.pending():
        return "refund"
    if status is not OrderStatus.CONFIRMED and payment.status == "requires_payment":
        return "cancel"
    if status in ENDED and payment.refundable() > 0:
        return "refund"
    return None


def refund_key(*, order_id: str, idempotency_key: str) -> str:
    """The refund's key: per order, the client's ``Idempotency-Key`` hashed (any bytes are safe)."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"{order_id}-{digest}"


def refund_fingerprint(request: RefundRequest) -> str:
    """A stable hash of the request, to tell a replay from a reused key."""
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def success_outcome(
    *, status: OrderStatus, payment: Payment, intent: Intent, paid_by_hand: bool = False
) -> Literal["pay", "accept", "void", "mismatch", "done"]:
    """What a succeeded intent does to the order.

    ``pay``: a ``confirmed`` order whose intent received exactly its amount and currency moves to
    ``processing``. ``accept``: the order was marked paid by hand (``paid_by_hand``) and its goods
    are shipping (``SHIPPING``) before the money came: it is kept and recorded, never refunded
    for goods that ship; the payment taken by hand is what goes back. ``mismatch``: the amount or
    currency differs, or the intent is not the one on the order: the order is not marked paid
    and the money goes back. ``void``: the order moved on without this payment (cancelled,
    expired, refunded) before the money came: refund it in full. ``done``: this success was
    recorded already (a replay or a race).
    """
    if intent.id != payment.intent_id:
        return "mismatch"
    if payment.amount_received > 0:
        return "done"
    exact = (
        intent.amount_received == payment.amount
        and intent.currency.lower() == payment.currency.lower()
    )
    if status is OrderStatus.CONFIRMED:
        return "pay" if exact else "mismatch"
    if paid_by_hand and status in SHIPPING:
        return "accept" if exact else "mismatch"
    return "void"


def received(payment: Payment, *, intent: Intent, at: datetime) -> Payment:
    """The payment once ``intent`` succeeded: money in, whatever happens to it next."""
    return payment.model_copy(
        update={"status": "succeeded", "amount_received": intent.amount_received, "paid_at": at}
    )


def plan_refund(
    *,
    status: OrderStatus,
    payment: Payment | None,
    request: RefundRequest,
    quantities: dict[str, int],
    restocked: dict[str, int],
) -> int:
    """The amount an admin's refund takes back, after checking it may happen at all.

    Only a paid order in ``REFUNDABLE`` (409 otherwise); never more than is left (``amount``,
    400); restock only products of the order, never more units than it had minus those already
    restocked (``restock[i]``, 400).
    """
    if payment is None or payment.amount_received == 0:
        raise Conflict("the order was not paid: there is nothing to refund")
    if status not in REFUNDABLE:
        raise Conflict(f"an order that is {status} cannot be refunded")
    if payment.dispute is not None and payment.dispute.status not in (*DISPUTE_RELEASED, "lost"):
        raise Conflict("the payment is disputed: it cannot be refunded until the dispute closes")
    left = payment.refundable()
    if left == 0:
        raise Conflict("everything paid for this order was refunded already")
    amount = left if request.amount is None else request.amount
    if amount > left:
        raise ValidationFailed.on(
            "amount", f"at most {left} may be refunded ({payment.amount_received} paid)"
        )
    asked: dict[str, int] = {}
    for index, line in enumerate(request.restock):
        asked[line.key] = asked.get(line.key, 0) + line.quantity
        ordered = quantities.get(line.key)
        if ordered is None:
            raise ValidationFailed.on(f"restock[{index}].product_id", "not a product of this order")
        room = ordered - restocked.get(line.key, 0)
        if asked[line.key] > room:
            raise ValidationFailed.on(
                f"restock[{index}].quantity",
                f"at most {room} more units of {line.key} can be restocked",
            )
    return amount


def restocked_units(payment: Payment | None) -> dict[str, int]:
    """Units per variant already returned to the shelf by earlier refunds."""
    units: dict[str, int] = {}
    for refund in payment.refunds if payment else []:
        for line in refund.restock:
            units[line.key] = units.get(line.key, 0) + line.quantity
    return units


def after_refund(payment: Payment, *, key: str, refund_id: str, at: datetime) -> Payment:
    """The payment once the provider confirmed the refund ``key``: its amount is refunded."""
    refunds = [
        r.model_copy(update={"state": "succeeded", "refund_id": refund_id, "completed_at": at})
        if r.key == key
        else r
        for r in payment.refunds
    ]
    done = sum(r.amount for r in refunds if r.state == "succeeded")
    status: PaymentStatus = "refunded" if done >= payment.amount_received else "partially_refunded"
    return payment.model_copy(
        update={"refunds": refunds, "amount_refunded": done, "status": status}
    )


def refunded_status(payment: Payment) -> OrderStatus:
    """The order status a refund leaves: ``refunded`` once all paid is back, else partial."""
    if payment.amount_refunded >= payment.amount_received:
        return OrderStatus.REFUNDED
    return OrderStatus.PARTIALLY_REFUNDED


#: Stripe's smallest charge per currency, in minor units (docs.stripe.com/currencies, "Minimum
#: and maximum charge amounts"); a currency not listed here needs the equivalent of 0.50 USD,
#: so it is held to 50 minor units (refused by Stripe if that is still too little: the intent
#: then fails and the order expires, never a charge below the minimum).
MINIMUM_CHARGE: dict[str, int] = {
    "USD": 50,
    "AED": 200,
    "AUD": 50,
    "BGN": 100,
    "BRL": 50,
    "CAD": 50,
    "CHF": 50,
    "CZK": 1500,
    "DKK": 250,
    "EUR": 50,
    "GBP": 30,
    "HKD": 400,
    "HUF": 17500,
    "INR": 50,
    "JPY": 50,
    "MXN": 1000,
    "MYR": 200,
    "NOK": 300,
    "NZD": 50,
    "PLN": 200,
    "RON": 200,
    "SEK": 300,
    "SGD": 50,
    "THB": 1000,
}
DEFAULT_MINIMUM_CHARGE = 50


def minimum_charge(currency: str) -> int:
    """The smallest non-zero total the provider can charge in ``currency`` (minor units)."""
    return MINIMUM_CHARGE.get(currency.upper(), DEFAULT_MINIMUM_CHARGE)


def below_minimum(*, total: int, currency: str | None) -> bool:
    """A total that is neither free (0: paid at once, no provider) nor chargeable."""
    return currency is not None and 0 < total < minimum_charge(currency)


def require_chargeable(*, total: int, currency: str | None) -> None:
    """Refuse (400 naming ``total``) an order that could never be paid: a total above zero but
    below the provider's minimum charge."""
    if currency is not None and below_minimum(total=total, currency=currency):
        least = minimum_charge(currency)
        raise ValidationFailed.on(
            "total",
            f"the total {total} {currency.upper()} (minor units) is below the smallest amount "
            f"the payment provider can charge ({least}): add to the order",
        )


def free_payment(*, currency: str, at: datetime) -> Payment:
    """The payment of a zero-total order: settled at once, no provider asked."""
    return Payment(
        provider="none",
        intent_id=None,
        status="succeeded",
        amount=0,
        currency=currency.upper(),
        paid_at=at,
    )


def disputed(payment: Payment, dispute: ProviderDispute, *, at: datetime) -> Payment | None:
    """The payment with ``dispute`` recorded as the provider reports it now, or ``None`` when
    that changes nothing (a replay, an event older than what is stored, a dispute of another
    intent). The state is re-read from the provider, so events in any order end the same."""
    if dispute.intent_id != payment.intent_id:
        return None
    statuses: frozenset[str] = frozenset(get_args(DisputeStatus))
    status = cast(DisputeStatus, dispute.status if dispute.status in statuses else "needs_response")
    known = payment.dispute if payment.dispute and payment.dispute.id == dispute.id else None
    if known is not None and known.status == status and known.amount == dispute.amount:
        return None
    record = Dispute(
        id=dispute.id,
        status=status,
        reason=dispute.reason,
        amount=dispute.amount,
        currency=dispute.currency.upper(),
        opened_at=known.opened_at if known is not None else at,
        updated_at=at,
    )
    return payment.model_copy(update={"dispute": record})


def external_refunds(payment: Payment, refunds: list[ProviderRefund]) -> list[ProviderRefund]:
    """The provider's refunds of this payment that Celeste did not make and has not recorded:
    made in the Stripe dashboard (no refund key of ours), each once by its refund id."""
    known = {r.refund_id for r in payment.refunds if r.refund_id}
    return [r for r in refunds if r.key is None and r.id not in known]


def record_external_refund(
    payment: Payment, *, order_id: str, refund: ProviderRefund, at: datetime
) -> Payment:
    """The payment with a refund made outside Celeste recorded as done (key
    ``{order_id}-ext-{refund id}``, no restock: nothing is known to have come back)."""
    made = Refund(
        key=f"{order_id}-ext-{refund.id}",
        amount=refund.amount,
        reason="refunded outside Celeste (Stripe dashboard)",
        actor="stripe",
        state="succeeded",
        refund_id=refund.id,
        requested_at=at,
        completed_at=at,
    )
    refunds = [*payment.refunds, made]
    done = sum(r.amount for r in refunds if r.state == "succeeded")
    status: PaymentStatus = "refunded" if done >= payment.amount_received else "partially_refunded"
    return payment.model_copy(
        update={"refunds": refunds, "amount_refunded": done, "status": status}
    )
