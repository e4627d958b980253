"""Pricing a whole order: lines for the caller's tier, then code, shipping and tax."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, computed_field

from celeste.catalog.products import Product
from celeste.kernel.clock import Clock, utcnow
from celeste.kernel.errors import ValidationFailed
from celeste.orders.fulfilment import Destination
from celeste.orders.order import AppliedCode, AppliedShipping, OrderLine, order_lines
from celeste.orders.payments import below_minimum as _below_minimum
from celeste.orders.requests import Fulfilment, PlacementTerms
from celeste.ports.pricing import DiscountCodeRepository
from celeste.pricing.discount_codes import FIELD as CODE_FIELD
from celeste.pricing.order_money import LineAmounts, OrderMoney, order_money
from celeste.pricing.quotes import Quote
from celeste.pricing.shipping import ShippingMethod
from celeste.pricing.tax import terms_of
from celeste.services.pricing import HeldTier, PricingService, QuoteLine
from celeste.services.shipping import ShippingService
from celeste.services.tax import TaxRateService


@dataclass(frozen=True)
class PricedOrder:
    """Everything an order freezes about its price, and the methods that could ship it."""

    store_id: str
    quote: Quote
    money: OrderMoney
    destination: Destination
    tax_rate_bp: int = 0
    code: AppliedCode | None = None
    shipping: AppliedShipping | None = None
    methods: list[ShippingMethod] = field(default_factory=list)


class ShippingOption(BaseModel):
    """A method that serves the address, and what it would cost this order."""

    model_config = ConfigDict(frozen=True)

    code: str
    name: str
    price: int
    currency: str
    free_over: int | None


class CheckoutQuote(BaseModel):
    """``POST /checkout/quote``: what the cart would cost now (nothing is written)."""

    model_config = ConfigDict(frozen=True)

    store_id: str
    fulfilment: Fulfilment
    currency: str | None
    tier: str
    lines: list[OrderLine]
    subtotal: int
    discount_total: int
    shipping_total: int
    shipping_tax: int
    tax_total: int
    tax_rate_bp: int
    tax_inclusive: bool
    total: int
    discount_code: AppliedCode | None
    shipping_method: AppliedShipping | None
    shipping_methods: list[ShippingOption]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def below_minimum(self) -> bool:
        """Above 0 but below the smallest charge the payment provider takes: placing it is
        refused (400 on ``total``); a total of 0 is fine (paid at once)."""
        return _below_minimum(total=self.total, currency=self.currency)

    @classmethod
    def of(cls, priced: PricedOrder) -> CheckoutQuote:
        """The quote of an order priced but not placed (the lines and money ``Order.placed``
        would freeze), and the methods to choose from."""
        quote, money = priced.quote, priced.money
        return cls(
            store_id=priced.store_id,
            fulfilment=priced.destination.fulfilment,
            currency=quote.currency,
            tier=quote.tier,
            lines=order_lines(quote, money),
            subtotal=money.subtotal,
            discount_total=money.discount_total,
            shipping_total=money.shipping_total,
            shipping_tax=money.shipping_tax,
            tax_total=money.tax_total,
            tax_rate_bp=priced.tax_rate_bp,
            tax_inclusive=money.tax_inclusive,
            total=money.total,
            discount_code=priced.code,
            shipping_method=priced.shipping,
            shipping_methods=[
                ShippingOption.model_validate(
                    m.model_dump(include=set(ShippingOption.model_fields))
                )
                for m in priced.methods
            ],
        )


class OrderPricer:
    """Prices an order the one way ``POST /orders``, the checkout quote and checkout share.

    Without tax rates, shipping methods or codes wired (unit tests of other rules) every order
    is taxed 0, has no method to choose and knows no code.
    """

    def __init__(
        self,
        *,
        pricing: PricingService,
        tax_rates: TaxRateService | None = None,
        shipping: ShippingService | None = None,
        codes: DiscountCodeRepository | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self._pricing = pricing
        self._tax_rates = tax_rates
        self._shipping = shipping
        self._codes = codes
        self._clock = clock

    def price(
        self,
        lines: Sequence[QuoteLine],
        *,
        uid: str | None,
        terms: PlacementTerms,
        destination: Destination,
        placing: bool,
        products: Mapping[str, Product] | None = None,
        held: HeldTier | None = None,
    ) -> PricedOrder:
        """Price ``lines`` for the caller on ``terms``, going to ``destination`` (tax follows
        its country; a delivery's shipping methods too).

        An unknown or unusable code is a 400 naming ``discount_code``; a method that does not
        serve the address (or the order's currency) one naming ``shipping_method``. When
        ``placing``, a delivery must also choose a method where any serves the address (a quote
        lists them instead), so no order skips the shipping the shop would charge.
        ``products`` and ``held``: what the caller already read (``PricingService.quote``).
        """
        quote = self._pricing.quote(lines, uid=uid, products=products, held=held)
        country = destination.country
        rate = self._tax_rates.rate_for(country) if country and self._tax_rates else None
        methods = (
            self._shipping.serving(country=country, currency=quote.currency)
            if destination.shipped and self._shipping
            else []
        )
        method = None
        shipping_method = terms.shipping_method
        if shipping_method is not None:
            method = next((m for m in methods if m.code == shipping_method), None)
            if method is None:
                raise ValidationFailed.on(
                    "shipping_method",
                    f"no active shipping method {shipping_method} serves this address in "
                    f"{quote.currency}",
                )
        elif placing and methods:
            raise ValidationFailed.on(
                "shipping_method",
                "choose a shipping method: "
                + ", ".join(m.code for m in methods)
                + " serve this address (the quote prices each)",
            )
        code = None
        discount_code = terms.discount_code
        if discount_code is not None:
            from celeste.pricing.discount_codes import UNUSABLE

            # An unknown code reads what a real one does and gets the same answer as any code
            # that does not apply: neither the reply nor its timing tells that a code exists.
            found = self._codes.find(discount_code) if self._codes else None
            uses = self._codes.customer_uses(discount_code, uid) if self._codes and uid else None
            if found is None:
                raise ValidationFailed.on(CODE_FIELD, UNUSABLE)
            code = found.value
            code.check(
                tier=quote.tier,
                currency=quote.currency,
                goods_total=quote.total,
                customer_uses=uses.value if uses else 0,
                now=self._clock(),
            )
        money = order_money(
            lines=[LineAmounts(line.line_subtotal, line.line_total) for line in quote.lines],
            code=code.terms() if code else None,
            shipping=method.terms() if method else None,
            tax=terms_of(rate),
        )
        return PricedOrder(
            store_id=terms.store_id,
            quote=quote,
            money=money,
            destination=destination,
            tax_rate_bp=rate.rate_bp if rate else 0,
            code=(
                AppliedCode(
                    code=code.code, kind=code.kind, value=code.value, amount=money.code_discount
                )
                if code
                else None
            ),
            shipping=(
                AppliedShipping(
                    code=method.code,
                    name=method.name,
                    price=method.price,
                    free_over=method.free_over,
                )
                if method
                else None
            ),
            methods=methods,
        )
