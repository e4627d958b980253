"""Price lists as an admin keeps them: named sets of rules (a scope, a discount, a quantity band)
open to some tiers during a window, and what each rule needs to know of a variant to apply.
How a line is priced from them is ``celeste.pricing.quotes``."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from celeste.accounts.tiers import TierCode
from celeste.catalog.variants import OwnVariantByDefault
from celeste.kernel.errors import ValidationFailed
from celeste.kernel.money import Currency, MinorUnits

Scope = Literal["all", "category", "product", "variant"]
Kind = Literal["percentage", "fixed"]
#: Why a rule was not a candidate: its list is off, not started, ended or closed to the tier;
#: or the rule targets another product or variant, or its quantity band excludes the quantity.
Rejection = Literal["inactive", "not_started", "ended", "tier", "scope", "quantity_band"]
MAX_QUANTITY = 10_000
MAX_RULES_PER_LIST = 200
MAX_FIXED_AMOUNT = 10**12
#: A percentage has at most this many decimal places, so every exact unit price is exact.
PERCENT_PLACES = 6

#: Tie-break rank of a scope: the more specific scope (lower rank) wins.
SCOPE_RANK: dict[Scope, int] = {"variant": 0, "product": 1, "category": 2, "all": 3}

Id = Annotated[str, StringConstraints(min_length=1, max_length=128)]
UtcDatetime = Annotated[AwareDatetime, AfterValidator(lambda moment: moment.astimezone(UTC))]

_HUNDRED = Decimal(100)
_PERCENT_QUANTUM = Decimal(1).scaleb(-PERCENT_PLACES)


class PricedProduct(OwnVariantByDefault):
    """What pricing needs of a variant of a product: its base price (the variant's own, else the
    product's); ``category_path`` is the product's category, then the ancestors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    product_id: Id
    #: The variant priced; a product without options sells one, whose id is the product's
    #: (the default).
    variant_id: Id = ""
    base_price: MinorUnits
    currency: Currency
    category_path: tuple[Id, ...] = ()


def _percentage(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError("a percentage must be a number")
    try:
        percent = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise ValueError("a percentage must be a number") from None
    if not percent.is_finite():
        raise ValueError("a percentage must be a finite number")
    if not 0 < percent <= _HUNDRED:
        raise ValueError("a percentage must be greater than 0 and at most 100")
    if percent.quantize(_PERCENT_QUANTUM) != percent:
        raise ValueError(f"a percentage has at most {PERCENT_PLACES} decimal places")
    return percent


def _fixed_amount(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("a fixed amount must be an integer number of minor units")
    if not 0 < value <= MAX_FIXED_AMOUNT:
        raise ValueError(f"a fixed amount must be positive and at most {MAX_FIXED_AMOUNT}")
    return value


class PriceRule(BaseModel):
    """One discount of a price list: what it targets, how much, and for which quantities."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    #: What the rule targets; sent as ``scope`` or, as the variants contract names it,
    #: ``target_type`` (stored and shown as ``scope``).
    scope: Scope = Field(validation_alias=AliasChoices("scope", "target_type"))
    target_id: Id | None = Field(default=None, validate_default=True)
    kind: Kind
    #: percentage: a Decimal in (0, 100]; fixed: minor units off the unit price, positive.
    value: Decimal | int
    min_quantity: int = Field(default=1, ge=1, le=MAX_QUANTITY)
    max_quantity: int | None = Field(default=None, ge=1, le=MAX_QUANTITY)

    @field_validator("target_id")
    @classmethod
    def _target_fits_scope(cls, target_id: str | None, info: ValidationInfo) -> str | None:
        scope = info.data.get("scope")
        if scope == "all" and target_id is not None:
            raise ValueError("target_id must be omitted when scope is 'all'")
        if scope in ("category", "product", "variant") and target_id is None:
            raise ValueError(f"target_id is required when scope is '{scope}'")
        return target_id

    @field_validator("value", mode="before")
    @classmethod
    def _value_fits_kind(cls, value: object, info: ValidationInfo) -> object:
        kind = info.data.get("kind")
        if kind == "percentage":
            return _percentage(value)
        if kind == "fixed":
            return _fixed_amount(value)
        return value  # the kind itself is invalid, and reported as such

    @field_validator("max_quantity")
    @classmethod
    def _band_not_empty(cls, max_quantity: int | None, info: ValidationInfo) -> int | None:
        min_quantity = info.data.get("min_quantity")
        if max_quantity is not None and min_quantity is not None and max_quantity < min_quantity:
            raise ValueError("max_quantity must be at least min_quantity")
        return max_quantity

    def targets(self, product: PricedProduct) -> bool:
        """Whether the scope covers the variant: a variant rule its one variant, a product rule
        every variant of the product, a category rule every product of its descendants too."""
        if self.scope == "variant":
            return self.target_id == product.variant_id
        if self.scope == "product":
            return self.target_id == product.product_id
        if self.scope == "category":
            return self.target_id in product.category_path
        return True

    def covers(self, quantity: int) -> bool:
        """Whether the quantity band (both ends inclusive) contains ``quantity``."""
        return self.min_quantity <= quantity and (
            self.max_quantity is None or quantity <= self.max_quantity
        )

    def rejection(self, *, product: PricedProduct, quantity: int) -> Rejection | None:
        """Why this rule does not apply to ``quantity`` of ``product``, or None when it does."""
        if not self.targets(product):
            return "scope"
        if not self.covers(quantity):
            return "quantity_band"
        return None

    def unit_price(self, base_price: int) -> Decimal:
        """The exact discounted unit price, never below zero."""
        if self.kind == "percentage":
            exact = Decimal(base_price) * (_HUNDRED - Decimal(self.value)) / _HUNDRED
        else:
            exact = Decimal(base_price - int(self.value))
        return max(exact, Decimal(0))


class PriceListBody(BaseModel):
    """A price list as an admin sends it (``POST /pricing/price-lists``): everything but the id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    priority: int = Field(ge=0, le=1_000_000)
    active: StrictBool = True
    valid_from: UtcDatetime | None = None
    valid_until: UtcDatetime | None = None
    tiers: list[TierCode] = Field(default_factory=list, max_length=100)
    rules: list[PriceRule] = Field(max_length=MAX_RULES_PER_LIST)

    @field_validator("valid_until")
    @classmethod
    def _window_not_empty(
        cls, valid_until: datetime | None, info: ValidationInfo
    ) -> datetime | None:
        valid_from = info.data.get("valid_from")
        if valid_until is not None and valid_from is not None and valid_until <= valid_from:
            raise ValueError("valid_until must be later than valid_from")
        return valid_until

    def rejection(self, *, tier: str, now: datetime) -> Rejection | None:
        """Why none of this list's rules apply to ``tier`` at ``now``, or None when they may."""
        if not self.active:
            return "inactive"
        if self.valid_from is not None and now < self.valid_from:
            return "not_started"
        if self.valid_until is not None and now >= self.valid_until:
            return "ended"
        if self.tiers and tier not in self.tiers:
            return "tier"
        return None


class PriceList(PriceListBody):
    """A stored price list: a named set of rules, open to some tiers (all when empty) during a
    validity window."""

    id: Id
    #: How many times it was written: 1 when created, +1 each write (a list stored before
    #: events reads 0). Its n-th event is ``price_list-{id}-{n}`` (``pricing.events``).
    revision: int = 0


class PriceListPatch(BaseModel):
    """``PATCH /pricing/price-lists/{id}``: the fields sent replace the stored ones."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    priority: int | None = Field(default=None, ge=0, le=1_000_000)
    active: StrictBool | None = None
    valid_from: UtcDatetime | None = None
    valid_until: UtcDatetime | None = None
    tiers: list[TierCode] | None = Field(default=None, max_length=100)
    rules: list[PriceRule] | None = Field(default=None, max_length=MAX_RULES_PER_LIST)

    def apply(self, current: PriceList) -> PriceList:
        """The list with this patch applied, validated as a whole (window, rules)."""
        sent = self.model_dump(exclude_unset=True)
        for name in ("name", "priority", "active", "tiers", "rules"):
            if name in sent and sent[name] is None:
                raise ValidationFailed.on(name, "may not be null")
        merged = {**current.model_dump(), **sent}
        return PriceList.model_validate(merged)


#: Price lists are few by nature; pricing loads them all, so their number is bounded.
MAX_PRICE_LISTS = 500
