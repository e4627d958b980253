"""Money in integer minor units (cents) with half-even rounding, done once per line."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated

from pydantic import Field, StringConstraints

#: An amount in minor units (cents). Never a float; bounded so sums fit a Firestore int64.
MinorUnits = Annotated[int, Field(ge=0, le=10**12, strict=True)]

#: ISO 4217 code, upper case.
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]

#: The shop's own currency: what a tier's ``min_lifetime_spend`` counts unless the tier names
#: another, and what a stored profile's scalar ``lifetime_spend`` (written before spend was
#: kept per currency) is read as.
DEFAULT_CURRENCY = "EUR"


def round_half_even(value: Decimal) -> int:
    """Round a Decimal amount of minor units to an integer, ties to even."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def percentage_of(amount: int, percent: Decimal | int | str) -> int:
    """``percent`` % of ``amount`` minor units, half-even (``percentage_of(5, 50) == 2``)."""
    return round_half_even(Decimal(amount) * Decimal(percent) / Decimal(100))
