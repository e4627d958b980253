"""Orders as stored: frozen priced lines, status history, stock state and idempotency keys."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    computed_field,
    field_validator,
    model_serializer,
)

from celeste.accounts.tiers import CustomerStats
from celeste.catalog.variants import OwnVariantByDefault
from celeste.inventory.stock import Shortfall
from celeste.kernel.addresses import ShippingAddress, upgrade_stored
from celeste.kernel.errors import Conflict
from celeste.kernel.events import Event
from celeste.orders.events import order_event
from celeste.orders.payments import Payment, PaymentDue, payment_due
from celeste.orders.requests import Fulfilment
from celeste.orders.status import (
    COMMITS_STOCK,
    RELEASES_STOCK,
    Actor,
    OrderStatus,
    StatsEffect,
    StockEffect,
    StockState,
    stats_effect,
    stock_effect,
    transition,
)
from celeste.pricing.order_money import CodeKind, OrderMoney
from celeste.pricing.quotes import Quote

#: Where the order's use of its discount code stands: counted in the commit that reserved its
#: stock, returned in the commit that released it (each once: ``discount_codes/{code}/uses``).
CodeState = Literal["none", "counted", "returned"]
#: Why the reservation refused the order.
RejectionReason = Literal["out_of_stock", "discount_code_exhausted"]

#: What ``Order.move`` decides itself; its ``changes`` may not name them.
_MOVE_OWNS = frozenset({"status", "history", "updated_at", "id", "user_id"})

#: How long an ``Idempotency-Key`` is remembered (a Firestore TTL policy on ``expires_at``
#: deletes the record some time after this).
IDEMPOTENCY_TTL = timedelta(hours=24)


class OrderLine(OwnVariantByDefault):
    """One line with the price frozen when the order was placed."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    product_id: str
    #: The variant bought (the stock key); lines stored before variants read the product's
    #: id, which is its one variant's.
    variant_id: str = ""
    #: The product's name when the order was placed (orders placed before it was frozen: null).
    name: str | None = None
    #: The variant's SKU and option values when the order was placed (before: null, {}).
    sku: str | None = None
    options: dict[str, str] = Field(default_factory=dict)
    #: ``options`` in the product's option order, ``M / Blue`` (null without options).
    variant_title: str | None = None
    quantity: int
    currency: str
    unit_base_price: int
    unit_final_price: int
    line_subtotal: int
    line_discount: int
    line_total: int
    applied_rule: dict[str, Any] | None = None
    #: The line's share of the discount code (part of the order's ``discount_total``).
    code_discount: int = 0
    #: The line's tax, half-even once (orders stored before tax existed read 0).
    tax: int = 0


def order_lines(quote: Quote, money: OrderMoney) -> list[OrderLine]:
    """The lines an order priced by ``quote`` and ``money`` freezes (and its quote shows)."""
    return [
        OrderLine(
            product_id=line.product_id,
            variant_id=line.variant_id,
            name=line.name,
            sku=line.sku,
            options=line.options,
            variant_title=line.variant_title,
            quantity=line.quantity,
            currency=line.currency,
            unit_base_price=line.unit_base_price,
            unit_final_price=line.unit_final_price,
            line_subtotal=line.line_subtotal,
            line_discount=line.line_discount,
            line_total=line.line_total,
            applied_rule=line.applied_rule.model_dump(mode="json") if line.applied_rule else None,
            code_discount=share.code_discount,
            tax=share.tax,
        )
        for line, share in zip(quote.lines, money.lines, strict=True)
    ]


class AppliedCode(BaseModel):
    """The discount code an order used, as it was when the order was placed."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    code: str
    kind: CodeKind
    value: int
    amount: int


class AppliedShipping(BaseModel):
    """The shipping method an order chose, frozen at placement."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    code: str
    name: str
    price: int
    free_over: int | None = None


class OrderShortfall(BaseModel):
    """A line the store could not cover when the order was rejected: the stock rule's
    ``Shortfall`` of the line's variant, named by its product and variant for the customer."""

    model_config = ConfigDict(frozen=True)

    product_id: str
    #: The variant short, named only for a product with options (as a line names it); a
    #: product without options sells one variant, the product itself.
    variant_id: str | None = None
    requested: int
    available: int

    @model_serializer(mode="wrap")
    def _without_own_variant(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data.get("variant_id") is None:
            data.pop("variant_id", None)
        return data

    @property
    def key(self) -> str:
        """The stock key it is short of."""
        return self.variant_id or self.product_id


class StatusChange(BaseModel):
    """One step of an order's history."""

    model_config = ConfigDict(frozen=True)

    status: OrderStatus
    at: datetime
    actor: Actor


class Order(BaseModel):
    """The stored order ``orders/{id}``; unknown stored fields are ignored on read."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    user_id: str
    store_id: str
    status: OrderStatus
    lines: list[OrderLine]
    currency: str | None
    tier: str
    subtotal: int
    discount_total: int
    total: int
    #: Orders stored before shipping and tax existed read 0 for these.
    shipping_total: int = 0
    shipping_tax: int = 0
    tax_total: int = 0
    tax_rate_bp: int = 0
    tax_inclusive: bool = False
    discount_code: AppliedCode | None = None
    #: How the order reaches its customer (orders stored before it existed read ``delivery``).
    fulfilment: Fulfilment = "delivery"
    shipping_method: AppliedShipping | None = None
    shipping_address: ShippingAddress | None = None
    #: Written in the same commit as the ledger row that moved it, so ``held`` is true exactly
    #: when a ``{order_id}-reserve`` movement has no release/commit.
    stock_state: StockState = "none"
    code_state: CodeState = "none"
    rejection_reason: RejectionReason | None = None
    shortfalls: list[OrderShortfall] = Field(default_factory=list)
    hold_expires_at: datetime | None = None
    history: list[StatusChange] = Field(default_factory=list)
    payment: Payment | None = None
    created_at: datetime
    updated_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def payment_due(self) -> PaymentDue | None:
        """What the payment still needs (stored, so a sweep finds unfinished payment work)."""
        return payment_due(status=self.status, payment=self.payment)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def on_hold(self) -> bool:
        """Its payment is disputed (open, or lost): it may not ship (``payment.dispute``)."""
        return self.payment is not None and self.payment.on_hold

    @field_validator("shipping_address", mode="before")
    @classmethod
    def _stored_vocabulary(cls, value: object) -> object:
        """An address stored before the one address model (``state``) reads as today's."""
        return upgrade_stored(value)

    @classmethod
    def placed(
        cls,
        *,
        order_id: str,
        user_id: str,
        store_id: str,
        quote: Quote,
        money: OrderMoney,
        now: datetime,
        fulfilment: Fulfilment = "delivery",
        shipping_address: ShippingAddress | None = None,
        tax_rate_bp: int = 0,
        discount_code: AppliedCode | None = None,
        shipping_method: AppliedShipping | None = None,
    ) -> Order:
        """A new ``pending`` order priced by ``quote`` and ``money`` (frozen from here on)."""
        return cls(
            id=order_id,
            user_id=user_id,
            store_id=store_id,
            status=OrderStatus.PENDING,
            lines=order_lines(quote, money),
            currency=quote.currency,
            tier=quote.tier,
            subtotal=money.subtotal,
            discount_total=money.discount_total,
            total=money.total,
            shipping_total=money.shipping_total,
            shipping_tax=money.shipping_tax,
            tax_total=money.tax_total,
            tax_rate_bp=tax_rate_bp,
            tax_inclusive=money.tax_inclusive,
            discount_code=discount_code,
            fulfilment=fulfilment,
            shipping_method=shipping_method,
            shipping_address=shipping_address,
            history=[StatusChange(status=OrderStatus.PENDING, at=now, actor="customer")],
            created_at=now,
            updated_at=now,
        )

    def move(
        self,
        to: OrderStatus,
        *,
        actor: Actor,
        at: datetime,
        is_owner: bool = False,
        **changes: Any,
    ) -> Moved:
        """The order enforces its own machine: this order moved to ``to`` by ``actor`` (with
        ``changes`` applied and the step in its history), and the effects the move has.

        ``Conflict`` when there is no such move, ``Forbidden`` when ``actor`` may not make it
        (a customer must also own the order, ``is_owner``). Nothing is written: the caller
        commits ``Moved.order`` (and, for ``reserve``, the stock in the same commit).
        """
        overridden = _MOVE_OWNS & changes.keys()
        if overridden:  # the move itself decides these: a caller may not override what it checked
            raise ValueError(f"Order.move sets {', '.join(sorted(overridden))} itself")
        transition(current=self.status, target=to, actor=actor, is_owner=is_owner)
        if to is OrderStatus.SHIPPED and self.payment is not None and self.payment.on_hold:
            raise Conflict("the payment is disputed: the order is on hold until the dispute is won")
        stock = stock_effect(before=self.status, after=to)
        if stock == "reserve":  # the caller reserves the lines in the commit that writes this
            changes.setdefault("stock_state", "held")
        history = [*self.history, StatusChange(status=to, at=at, actor=actor)]
        if to is not OrderStatus.CONFIRMED:  # only an unpaid, confirmed order can expire
            changes.setdefault("hold_expires_at", None)
        order = self.model_copy(
            update={**changes, "status": to, "history": history, "updated_at": at}
        )
        return Moved(order=order, stock=stock, stats=stats_effect(before=self.status, after=to))

    def with_stock_state(self, state: StockState, *, at: datetime) -> Order:
        """This order after its reservation was released or committed; a code use counted with
        the reservation is returned with a release."""
        update: dict[str, Any] = {"stock_state": state, "updated_at": at}
        if state == "released" and self.code_state == "counted":
            update["code_state"] = "returned"
        return self.model_copy(update=update)

    def gives_code_back(self, target: StockState) -> bool:
        """Whether settling its stock to ``target`` also returns a counted code use."""
        return target == "released" and self.code_state == "counted"

    def reached_at(self, status: OrderStatus) -> datetime | None:
        """When the order last moved to ``status``."""
        return next((c.at for c in reversed(self.history) if c.status == status), None)

    def quantities(self) -> dict[str, int]:
        """Units per variant, the stock key (lines of one variant are summed), in line order."""
        wanted: dict[str, int] = {}
        for line in self.lines:
            wanted[line.variant_id] = wanted.get(line.variant_id, 0) + line.quantity
        return wanted

    def shortfalls_of(self, short: Sequence[Shortfall]) -> list[OrderShortfall]:
        """The stock rule's shortfalls (keyed by variant) as this order's lines name them."""
        product_of = self.variant_products()
        named: list[OrderShortfall] = []
        for s in short:
            product_id = product_of.get(s.key, s.key)
            own = product_id == s.key  # a product without options: its one variant is itself
            named.append(
                OrderShortfall(
                    product_id=product_id,
                    variant_id=None if own else s.key,
                    requested=s.requested,
                    available=s.available,
                )
            )
        return named

    def variant_products(self) -> dict[str, str]:
        """Each of its variants' product (variant id -> product id)."""
        return {line.variant_id: line.product_id for line in self.lines}

    @property
    def variant_ids(self) -> list[str]:
        """The variants it has (stored beside it, so a variant's open orders can be found)."""
        return list(self.quantities())

    def stock_target(self) -> StockState | None:
        """What its held reservation should become now: released, committed, or None to keep."""
        if self.stock_state != "held":
            return None
        if self.status in RELEASES_STOCK:
            return "released"
        if self.status in COMMITS_STOCK:
            return "committed"
        return None


@dataclass(frozen=True)
class Moved:
    """What ``Order.move`` returns: the moved order and the effects its move has (applied by
    the fulfilment, each exactly once: ``reserve`` in the confirming commit, the others by the
    ``on_order_updated`` trigger)."""

    order: Order
    stock: StockEffect | None
    stats: StatsEffect | None

    @property
    def event(self) -> Event:
        """The event of this move, committed with ``order`` (``AddEvent``): the outbox."""
        return order_event(self.order)


class IdempotencyRecord(BaseModel):
    """``idempotency_keys/{uid}-{sha256(key)[:32]}``: which order a key made, for which body."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    user_id: str
    order_id: str
    fingerprint: str
    created_at: datetime
    expires_at: datetime

    @staticmethod
    def id_for(*, user_id: str, key: str) -> str:
        """The record's document id: per user, the key hashed (any bytes become a safe id)."""
        return f"{user_id}-{hashlib.sha256(key.encode()).hexdigest()[:32]}"


class CustomerStanding(BaseModel):
    """What the delivery effect reads and writes on ``users/{uid}``."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    uid: str
    tier: str | None = None
    tier_locked: bool = False
    stats: CustomerStats = Field(default_factory=CustomerStats)
