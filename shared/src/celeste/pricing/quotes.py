"""Pricing a line and a quote from the price lists: the lowest eligible unit price wins (ties:
list priority, then the more specific scope, then list id), rounded half-even once per line;
a trace says why each rule won or lost."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from celeste.catalog.categories import ancestry
from celeste.catalog.variants import OwnVariantByDefault
from celeste.kernel.errors import ValidationFailed
from celeste.kernel.money import round_half_even
from celeste.pricing.price_lists import (
    MAX_QUANTITY,
    SCOPE_RANK,
    Kind,
    PricedProduct,
    PriceList,
    PriceRule,
    Rejection,
    Scope,
)

#: Whole lists a shopper's trace never mentions: those not open to their tier now. Which lists
#: other tiers get, and which are switched off, scheduled or over, is the shop's own business.
HIDDEN_FROM_SHOPPERS: frozenset[Rejection] = frozenset({"inactive", "not_started", "ended", "tier"})


def shown_to_shopper(available: int, quantity: int) -> int:
    """Units available at a store as anyone but an admin is told: up to the ``quantity`` they
    ask for (all of it, or exactly how many short), never the stock beyond it."""
    return max(0, min(available, quantity))


class AppliedRule(BaseModel):
    """The rule that set a line's price."""

    model_config = ConfigDict(frozen=True)

    price_list_id: str
    price_list_name: str
    rule_index: int
    scope: Scope
    kind: Kind
    value: Decimal | int


class TraceEntry(BaseModel):
    """One rule the engine looked at for a line, or a whole list rejected (``rule_index`` None)."""

    model_config = ConfigDict(frozen=True)

    price_list_id: str
    rule_index: int | None
    rejected: Rejection | None = None
    exact_unit_price: Decimal | None = None
    unit_price: int | None = None
    won: bool = False


class PricedLine(OwnVariantByDefault):
    """A priced quantity of one variant of a product; the line total is rounded once, half-even
    (quantity breaks count the variant's quantity)."""

    model_config = ConfigDict(frozen=True)

    product_id: str
    #: The variant priced (a product without options: its own id, the default).
    variant_id: str = ""
    quantity: int
    currency: str
    tier: str
    unit_base_price: int
    unit_final_price: int
    line_subtotal: int
    line_discount: int
    line_total: int
    applied_rule: AppliedRule | None
    trace: list[TraceEntry]


class QuotedLine(PricedLine):
    """A line of a quote: its pricing and, when the quote names a store, the stock there."""

    #: Units available (on hand less reserved, never below 0) at the quote's ``store_id`` now,
    #: shown to anyone but an admin only up to the line's quantity; null without a store.
    available: int | None = None
    #: The product's name as it is now (an order freezes it with the line).
    name: str | None = None
    #: The variant's SKU and option values as they are now (an order freezes them too).
    sku: str | None = None
    options: dict[str, str] = Field(default_factory=dict)
    #: The option values in the product's option order, e.g. ``M / Blue`` (null without
    #: options): a stored map's keys come back sorted, so the order is frozen here.
    variant_title: str | None = None


class Quote(BaseModel):
    """Priced lines and their totals; ``total`` is exactly the sum of the line totals."""

    model_config = ConfigDict(frozen=True)

    currency: str | None
    tier: str
    lines: list[QuotedLine]
    subtotal: int
    discount_total: int
    total: int
    #: The store whose stock each line's ``available`` reports; null without one.
    store_id: str | None = None

    def at_store(self, store_id: str, available: Mapping[str, int]) -> Quote:
        """This quote with each line's units available at ``store_id`` (``available`` is keyed by
        variant id; missing: 0)."""
        lines = [
            line.model_copy(update={"available": max(0, available.get(line.variant_id, 0))})
            for line in self.lines
        ]
        return self.model_copy(update={"store_id": store_id, "lines": lines})

    def for_shopper(self) -> Quote:
        """This quote as an anonymous caller or a customer may see it (admins see it whole):
        each trace keeps only the rules of lists open to the caller's tier now (no list of
        another tier, or switched off, not started or ended, is named), and ``available`` says
        at most the quantity asked for ("all of it", or how many short), never the exact stock
        beyond it."""
        lines = [
            line.model_copy(
                update={
                    "trace": [
                        entry for entry in line.trace if entry.rejected not in HIDDEN_FROM_SHOPPERS
                    ],
                    "available": (
                        None
                        if line.available is None
                        else shown_to_shopper(line.available, line.quantity)
                    ),
                }
            )
            for line in self.lines
        ]
        return self.model_copy(update={"lines": lines})


@dataclass(frozen=True)
class _Candidate:
    price_list: PriceList
    rule_index: int
    rule: PriceRule
    exact_unit_price: Decimal

    def rank(self) -> tuple[Decimal, int, int, str, int]:
        """Lowest price, then lower list priority, then more specific scope, then lower list id."""
        return (
            self.exact_unit_price,
            self.price_list.priority,
            SCOPE_RANK[self.rule.scope],
            self.price_list.id,
            self.rule_index,
        )

    def trace(self, *, won: bool) -> TraceEntry:
        return TraceEntry(
            price_list_id=self.price_list.id,
            rule_index=self.rule_index,
            exact_unit_price=self.exact_unit_price,
            unit_price=round_half_even(self.exact_unit_price),
            won=won,
        )

    def applied(self) -> AppliedRule:
        return AppliedRule(
            price_list_id=self.price_list.id,
            price_list_name=self.price_list.name,
            rule_index=self.rule_index,
            scope=self.rule.scope,
            kind=self.rule.kind,
            value=self.rule.value,
        )


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")


def _check_quantity(quantity: int, field: str) -> None:
    if (
        isinstance(quantity, bool)
        or not isinstance(quantity, int)
        or not 1 <= quantity <= MAX_QUANTITY
    ):
        raise ValidationFailed.on(field, f"quantity must be an integer from 1 to {MAX_QUANTITY}")


def _price(
    product: PricedProduct,
    quantity: int,
    tier: str,
    price_lists: Sequence[PriceList],
    now: datetime,
    quantity_field: str,
) -> PricedLine:
    _check_quantity(quantity, quantity_field)
    candidates: list[_Candidate] = []
    rejected: list[TraceEntry] = []
    for price_list in price_lists:
        list_rejection = price_list.rejection(tier=tier, now=now)
        if list_rejection is not None:
            rejected.append(
                TraceEntry(price_list_id=price_list.id, rule_index=None, rejected=list_rejection)
            )
            continue
        for index, rule in enumerate(price_list.rules):
            rule_rejection = rule.rejection(product=product, quantity=quantity)
            if rule_rejection is not None:
                rejected.append(
                    TraceEntry(
                        price_list_id=price_list.id, rule_index=index, rejected=rule_rejection
                    )
                )
            else:
                exact = rule.unit_price(product.base_price)
                candidates.append(_Candidate(price_list, index, rule, exact))
    candidates.sort(key=_Candidate.rank)
    winner = candidates[0] if candidates else None
    exact_unit_price = winner.exact_unit_price if winner else Decimal(product.base_price)
    line_subtotal = product.base_price * quantity
    line_total = round_half_even(exact_unit_price * quantity)
    rejected.sort(
        key=lambda entry: (
            entry.price_list_id,
            -1 if entry.rule_index is None else entry.rule_index,
        )
    )
    return PricedLine(
        product_id=product.product_id,
        variant_id=product.variant_id,
        quantity=quantity,
        currency=product.currency,
        tier=tier,
        unit_base_price=product.base_price,
        unit_final_price=round_half_even(exact_unit_price),
        line_subtotal=line_subtotal,
        line_discount=line_subtotal - line_total,
        line_total=line_total,
        applied_rule=winner.applied() if winner else None,
        trace=[c.trace(won=c is winner) for c in candidates] + rejected,
    )


def price_line(
    *,
    product: PricedProduct,
    quantity: int,
    tier: str,
    price_lists: Sequence[PriceList],
    now: datetime,
) -> PricedLine:
    """Price ``quantity`` of ``product`` for ``tier`` at ``now``: the lowest candidate wins.

    The trace lists the candidates best first (the winner first), then the rejected rules and
    lists by list id. Raises ValidationFailed when the quantity is outside 1..10 000.
    """
    _require_aware(now)
    return _price(product, quantity, tier, price_lists, now, "quantity")


def quote(
    *,
    lines: Sequence[tuple[PricedProduct, int]],
    tier: str,
    price_lists: Sequence[PriceList],
    now: datetime,
) -> Quote:
    """Price every line and total them; all lines must share one currency (ValidationFailed)."""
    _require_aware(now)
    currency = lines[0][0].currency if lines else None
    for index, (product, _) in enumerate(lines):
        if product.currency != currency:
            raise ValidationFailed.on(
                f"lines[{index}].product_id",
                f"product {product.product_id} is priced in {product.currency}, not {currency}",
            )
    priced = [
        _price(product, quantity, tier, price_lists, now, f"lines[{index}].quantity")
        for index, (product, quantity) in enumerate(lines)
    ]
    return Quote(
        currency=currency,
        tier=tier,
        lines=[QuotedLine.model_construct(**dict(line)) for line in priced],
        subtotal=sum(line.line_subtotal for line in priced),
        discount_total=sum(line.line_discount for line in priced),
        total=sum(line.line_total for line in priced),
    )


def next_price_boundary(*, price_lists: Sequence[PriceList], now: datetime) -> datetime | None:
    """The first moment after ``now`` when an active list starts or ends (a cache's expiry)."""
    _require_aware(now)
    moments = [
        moment
        for price_list in price_lists
        if price_list.active
        for moment in (price_list.valid_from, price_list.valid_until)
        if moment is not None and moment > now
    ]
    return min(moments, default=None)


class PricingSnapshot(BaseModel):
    """Everything that prices a product besides the product itself, loaded once per request."""

    model_config = ConfigDict(frozen=True)

    price_lists: list[PriceList]
    parents: dict[str, str | None]
    default_tier: str

    def product_input(
        self,
        *,
        product_id: str,
        variant_id: str,
        base_price: int,
        currency: str,
        category_id: str,
    ) -> PricedProduct:
        """The engine's view of a variant: its price and its product's category with every
        ancestor."""
        return PricedProduct(
            product_id=product_id,
            variant_id=variant_id,
            base_price=base_price,
            currency=currency,
            category_path=ancestry(self.parents, category_id),
        )

    def expires_in_s(self, *, now: datetime, ceiling_s: int) -> int:
        """Seconds a price computed now stays right: until the next list starts or ends."""
        boundary = next_price_boundary(price_lists=self.price_lists, now=now)
        if boundary is None:
            return ceiling_s
        return max(1, min(ceiling_s, int((boundary - now).total_seconds())))
