"""Shipping methods: what each costs, where it ships, and when it is free."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from celeste.kernel.addresses import CountryCode
from celeste.kernel.errors import ValidationFailed
from celeste.kernel.money import Currency, MinorUnits
from celeste.pricing.order_money import ShippingTerms

#: Most countries one method lists (every assigned ISO 3166-1 code fits).
MAX_COUNTRIES = 250
#: Most shipping methods a shop keeps: the public list reads them all.
MAX_METHODS = 200

#: A method's code, its document id: ``standard``, ``express-eu``.
MethodCode = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
MethodName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _distinct(countries: list[str]) -> list[str]:
    if len(set(countries)) != len(countries):
        raise ValueError("list each country once")
    return sorted(countries)


Countries = Annotated[list[CountryCode], Field(max_length=MAX_COUNTRIES), AfterValidator(_distinct)]


class ShippingMethodBody(BaseModel):
    """The fields an admin sets (``POST /shipping/methods`` sends them with a ``code``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: MethodName
    price: MinorUnits
    currency: Currency
    #: The order's subtotal after discounts from which shipping is free; none: never free.
    free_over: MinorUnits | None = None
    #: Where it ships; empty: everywhere.
    countries: Countries = Field(default_factory=list)
    active: StrictBool = True


class ShippingMethodCreate(ShippingMethodBody):
    """Body of ``POST /shipping/methods``."""

    code: MethodCode


class ShippingMethod(ShippingMethodCreate):
    """A stored method ``shipping_methods/{code}``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    created_at: datetime
    updated_at: datetime

    def serves(self, *, country: str | None, currency: str | None) -> bool:
        """Whether it is on offer for an order to ``country`` in ``currency`` (either left out:
        any)."""
        ships_there = country is None or not self.countries or country in self.countries
        return self.active and ships_there and (currency is None or currency == self.currency)

    def terms(self) -> ShippingTerms:
        """Its fee rule, for the order money."""
        return ShippingTerms(price=self.price, free_over=self.free_over)


class ShippingMethodPatch(BaseModel):
    """Body of ``PATCH /shipping/methods/{code}``: only fields sent change; ``free_over: null``
    makes it never free."""

    model_config = ConfigDict(extra="forbid")

    name: MethodName | None = None
    price: MinorUnits | None = None
    currency: Currency | None = None
    free_over: MinorUnits | None = None
    countries: Countries | None = None
    active: StrictBool | None = None

    def apply(self, current: ShippingMethod, *, at: datetime) -> ShippingMethod:
        """The method with the fields sent, validated as a whole."""
        sent: dict[str, Any] = self.model_dump(exclude_unset=True)
        for name in ("name", "price", "currency", "countries", "active"):
            if name in sent and sent[name] is None:
                raise ValidationFailed.on(name, "may not be null")
        return ShippingMethod.model_validate({**current.model_dump(), **sent, "updated_at": at})
