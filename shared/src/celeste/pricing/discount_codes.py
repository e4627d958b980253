"""Discount codes: what they take off, who may use them and when, and how uses are counted."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

from celeste.accounts.tiers import TierCode
from celeste.kernel.errors import ValidationFailed
from celeste.kernel.money import Currency, MinorUnits
from celeste.pricing.order_money import CodeKind, CodeTerms
from celeste.pricing.price_lists import UtcDatetime

FIELD = "discount_code"
#: The reason an order is rejected, or a checkout refused, when the code has no use left.
EXHAUSTED = "discount_code_exhausted"
MAX_FIXED_AMOUNT = 10**12
MAX_LIMIT = 10**9
#: The one answer to every code that does not apply, whether it exists or not: unknown,
#: inactive, not yet or no longer valid, not open to the caller's tier, for another currency,
#: above the order's subtotal, used up. A different answer for a real code would let anyone
#: find real codes by guessing; a shopper learns a code's terms (minimum, dates, tiers) where
#: they were given it, and the message lists what to check.
UNUSABLE = (
    "this code cannot be used for this order: check it is typed as given, is still running, "
    "is open to your account, and that the order reaches the code's minimum subtotal"
)
#: The one other answer, only to a caller who already used the code up to its per-customer
#: limit: they know it exists (their own confirmed orders used it), so it tells them nothing new.
SPENT = "you have already used this code the most times one customer may"


def unusable() -> ValidationFailed:
    """The 400 naming ``discount_code`` for any code that does not apply (``UNUSABLE``)."""
    return ValidationFailed.on(FIELD, UNUSABLE)


def is_refused_code(exc: BaseException) -> bool:
    """Whether ``exc`` is the refusal of a discount code (a failed attempt, rate limited)."""
    return isinstance(exc, ValidationFailed) and any(e.field == FIELD for e in exc.errors)


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


#: A code as customers type it: case-insensitive, stored upper case (``SPRING-10``).
CodeName = Annotated[
    str, BeforeValidator(_upper), StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9_-]{0,63}$")
]
_Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, strict=True)]
_Value = Annotated[int, Field(ge=1, le=MAX_FIXED_AMOUNT, strict=True)]


class DiscountCodeBody(BaseModel):
    """Everything an admin sets on a code."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: CodeKind
    #: ``percentage``: whole percent, 1 to 100; ``fixed``: minor units of ``currency``.
    value: _Value
    #: Required for a ``fixed`` code: it applies only to orders in this currency.
    currency: Currency | None = None
    min_subtotal: MinorUnits = 0
    usage_limit: _Limit | None = None
    per_customer_limit: _Limit | None = None
    valid_from: UtcDatetime | None = None
    valid_until: UtcDatetime | None = None
    tiers: list[TierCode] = Field(default_factory=list, max_length=100)
    active: StrictBool = True

    @model_validator(mode="after")
    def _consistent(self) -> DiscountCodeBody:
        if self.kind == "percentage" and self.value > 100:
            raise ValidationFailed.on("value", "a percentage is a whole number from 1 to 100")
        if self.kind == "fixed" and self.currency is None:
            raise ValidationFailed.on("currency", "a fixed code needs the currency it is in")
        if (
            self.valid_from is not None
            and self.valid_until is not None
            and self.valid_until <= self.valid_from
        ):
            raise ValidationFailed.on("valid_until", "valid_until must be later than valid_from")
        return self


class DiscountCodeCreate(DiscountCodeBody):
    """Body of ``POST /pricing/codes``."""

    code: CodeName


class DiscountCode(DiscountCodeCreate):
    """A stored code ``discount_codes/{code}``; ``times_used`` is the server's count."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    times_used: int = 0
    created_at: datetime
    updated_at: datetime

    def terms(self) -> CodeTerms:
        """What it takes off, for the order money."""
        return CodeTerms(kind=self.kind, value=self.value)

    @property
    def exhausted(self) -> bool:
        """Whether every use the limit allows has been counted."""
        return self.usage_limit is not None and self.times_used >= self.usage_limit

    def spent_by(self, customer_uses: int) -> bool:
        """Whether a customer who used it ``customer_uses`` times may not use it again."""
        return self.per_customer_limit is not None and customer_uses >= self.per_customer_limit

    def refusal(
        self,
        *,
        tier: str,
        currency: str | None,
        goods_total: int,
        customer_uses: int,
        now: datetime,
    ) -> str | None:
        """Why the code does not apply to this order now (for the shop's own eyes: admins,
        logs, tests), or ``None`` when it applies. A shopper is only ever told ``UNUSABLE``.

        ``goods_total`` is the subtotal after price-list prices (what ``min_subtotal`` is
        compared with and what the code applies to).
        """
        if not self.active:
            return "is not active"
        if self.valid_from is not None and now < self.valid_from:
            return "is not valid yet"
        if self.valid_until is not None and now >= self.valid_until:
            return "has expired"
        if self.tiers and tier not in self.tiers:
            return f"is not open to tier {tier}"
        if self.kind == "fixed" and currency is not None and currency != self.currency:
            return f"is for orders in {self.currency}, not {currency}"
        if goods_total < self.min_subtotal:
            return f"needs a subtotal of at least {self.min_subtotal}"
        if self.exhausted:
            return f"has been used up ({EXHAUSTED})"
        if self.spent_by(customer_uses):
            return f"was already used the most times one customer may ({EXHAUSTED})"
        return None

    def check(
        self,
        *,
        tier: str,
        currency: str | None,
        goods_total: int,
        customer_uses: int,
        now: datetime,
    ) -> None:
        """Raise the one 400 naming ``discount_code`` (``unusable()``) unless the code applies
        to this order now; which condition failed is never told (see ``UNUSABLE``), except to
        a customer who already used it up to its per-customer limit (``SPENT``)."""
        reason = self.refusal(
            tier=tier,
            currency=currency,
            goods_total=goods_total,
            customer_uses=customer_uses,
            now=now,
        )
        if reason is None:
            return
        if self.spent_by(customer_uses):
            raise ValidationFailed.on(FIELD, SPENT)
        raise unusable()


class DiscountCodePatch(BaseModel):
    """Body of ``PATCH /pricing/codes/{code}``: only fields sent change (``null`` clears an
    optional one); the code and ``times_used`` never change this way."""

    model_config = ConfigDict(extra="forbid")

    kind: CodeKind | None = None
    value: _Value | None = None
    currency: Currency | None = None
    min_subtotal: MinorUnits | None = None
    usage_limit: _Limit | None = None
    per_customer_limit: _Limit | None = None
    valid_from: UtcDatetime | None = None
    valid_until: UtcDatetime | None = None
    tiers: list[TierCode] | None = Field(default=None, max_length=100)
    active: StrictBool | None = None

    def apply(self, current: DiscountCode, *, at: datetime) -> DiscountCode:
        """The code with the fields sent, validated as a whole (kind, value, window)."""
        sent: dict[str, Any] = self.model_dump(exclude_unset=True)
        for name in ("kind", "value", "min_subtotal", "tiers", "active"):
            if name in sent and sent[name] is None:
                raise ValidationFailed.on(name, "may not be null")
        return DiscountCode.model_validate({**current.model_dump(), **sent, "updated_at": at})


UseKind = Literal["use", "return"]


class CodeUse(BaseModel):
    """A row of a code's use ledger ``discount_codes/{code}/uses/{order_id}-{kind}``: created
    (never overwritten) in the commit that counts or returns the use, so each happens once."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    code: str
    order_id: str
    user_id: str
    kind: UseKind
    times_used_after: int
    at: datetime

    @property
    def id(self) -> str:
        """Its document id: the idempotency record of the order's use (or its return)."""
        return code_use_id(self.order_id, self.kind)


def code_use_id(order_id: str, kind: UseKind) -> str:
    """The ledger id of an order's use of its code, or of the use's return."""
    return f"{order_id}-{kind}"
