"""Order money: a discount code, shipping and tax on priced lines, each rounded once per line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

from celeste.kernel.money import round_half_even

CodeKind = Literal["percentage", "fixed"]

#: 10 000 basis points make 100 %.
BP_PER_UNIT = 10_000


@dataclass(frozen=True)
class LineAmounts:
    """What money needs of a priced line: its subtotal at base price and its total after the
    price lists (``total <= subtotal``)."""

    subtotal: int
    total: int


@dataclass(frozen=True)
class CodeTerms:
    """A discount code's effect: ``percentage`` (1..100 % of each line) or ``fixed`` (minor
    units off the order, spread over the lines in proportion to their totals)."""

    kind: CodeKind
    value: int


@dataclass(frozen=True)
class ShippingTerms:
    """A shipping method's fee, waived when the subtotal after discounts reaches ``free_over``."""

    price: int
    free_over: int | None = None


@dataclass(frozen=True)
class TaxTerms:
    """A country's tax: ``rate_bp`` basis points, added on top or already inside the prices."""

    rate_bp: int
    inclusive: bool


NO_TAX = TaxTerms(rate_bp=0, inclusive=False)


class LineMoney(BaseModel):
    """One line's share of the code discount and of the tax."""

    model_config = ConfigDict(frozen=True)

    code_discount: int
    tax: int


class OrderMoney(BaseModel):
    """Every amount of an order, in minor units.

    ``total == subtotal - discount_total + shipping_total + tax_total`` when tax is added on top;
    with inclusive tax ``tax_total`` is the part of ``total`` that is tax and is not added.
    """

    model_config = ConfigDict(frozen=True)

    lines: list[LineMoney]
    subtotal: int
    #: Price lists and the code together; ``code_discount`` is the code's part.
    discount_total: int
    code_discount: int
    shipping_total: int
    #: The tax on shipping (part of ``tax_total``).
    shipping_tax: int
    tax_total: int
    tax_inclusive: bool
    total: int

    @property
    def goods_after_discounts(self) -> int:
        """What the lines cost after every discount (the base ``free_over`` is compared with)."""
        return self.subtotal - self.discount_total


def _code_shares(totals: Sequence[int], code: CodeTerms | None) -> list[int]:
    """Each line's part of the code discount; never more than the line's total."""
    if code is None or not totals:
        return [0] * len(totals)
    if code.kind == "percentage":
        percent = Decimal(min(max(code.value, 0), 100))
        return [round_half_even(Decimal(t) * percent / 100) for t in totals]
    base = sum(totals)
    amount = min(max(code.value, 0), base)
    if amount == 0:
        return [0] * len(totals)
    # Largest remainder: the shares are proportional to the line totals and sum to ``amount``
    # exactly; leftover units go to the largest remainders, ties to the earlier line.
    floors = [t * amount // base for t in totals]
    remainders = sorted(range(len(totals)), key=lambda i: (-(totals[i] * amount % base), i))
    for index in remainders[: amount - sum(floors)]:
        floors[index] += 1
    return floors


def tax_on(amount: int, tax: TaxTerms) -> int:
    """The tax of ``amount``, half-even: on top (exclusive) or the part inside it (inclusive)."""
    if tax.rate_bp <= 0 or amount <= 0:
        return 0
    rate = Decimal(tax.rate_bp)
    if tax.inclusive:
        return round_half_even(Decimal(amount) * rate / (BP_PER_UNIT + rate))
    return round_half_even(Decimal(amount) * rate / BP_PER_UNIT)


def shipping_fee(*, shipping: ShippingTerms | None, goods_after_discounts: int) -> int:
    """The shipping fee: none without a method, zero from ``free_over`` on."""
    if shipping is None:
        return 0
    if shipping.free_over is not None and goods_after_discounts >= shipping.free_over:
        return 0
    return max(shipping.price, 0)


def order_money(
    *,
    lines: Sequence[LineAmounts],
    code: CodeTerms | None = None,
    shipping: ShippingTerms | None = None,
    tax: TaxTerms = NO_TAX,
) -> OrderMoney:
    """Price an order from its priced lines: the code on the subtotal after price lists, then
    shipping on what the goods cost after discounts, then tax per line on its price after
    discounts and on shipping at the same rate. Every amount is an integer, none negative."""
    totals = [line.total for line in lines]
    shares = _code_shares(totals, code)
    line_tax = [tax_on(total - share, tax) for total, share in zip(totals, shares, strict=True)]
    subtotal = sum(line.subtotal for line in lines)
    code_discount = sum(shares)
    discount_total = (subtotal - sum(totals)) + code_discount
    shipping_total = shipping_fee(
        shipping=shipping, goods_after_discounts=subtotal - discount_total
    )
    shipping_tax = tax_on(shipping_total, tax)
    tax_total = sum(line_tax) + shipping_tax
    total = subtotal - discount_total + shipping_total + (0 if tax.inclusive else tax_total)
    return OrderMoney(
        lines=[LineMoney(code_discount=s, tax=t) for s, t in zip(shares, line_tax, strict=True)],
        subtotal=subtotal,
        discount_total=discount_total,
        code_discount=code_discount,
        shipping_total=shipping_total,
        shipping_tax=shipping_tax,
        tax_total=tax_total,
        tax_inclusive=tax.inclusive,
        total=total,
    )
