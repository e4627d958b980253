"""Tax rates per country: basis points, added on top of prices or already inside them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from celeste.pricing.order_money import NO_TAX, TaxTerms

#: The highest rate accepted: 100 % (10 000 basis points).
MAX_RATE_BP = 10_000


class TaxRateBody(BaseModel):
    """Body of ``PUT /pricing/tax-rates/{country}``: 2000 basis points = 20 %."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate_bp: Annotated[int, Field(ge=0, le=MAX_RATE_BP, strict=True)]
    #: ``true``: prices already include it (EU VAT); ``false``: it is added on top (US).
    inclusive: StrictBool = False


class TaxRate(TaxRateBody):
    """A stored rate ``tax_rates/{country}``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    country: str
    updated_at: datetime

    def terms(self) -> TaxTerms:
        """Its rule, for the order money."""
        return TaxTerms(rate_bp=self.rate_bp, inclusive=self.inclusive)


def terms_of(rate: TaxRate | None) -> TaxTerms:
    """The tax terms of a country's rate; a country without a rate is taxed 0."""
    return NO_TAX if rate is None else rate.terms()
