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


#: ISO 4217 currencies whose minor unit is not the hundredth (the rest have 2 decimals).
_DECIMALS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG"), 0),
    **dict.fromkeys(("RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}


def minor_unit_decimals(currency: str) -> int:
    """How many decimals the currency's minor unit has (ISO 4217: 2 unless listed)."""
    return _DECIMALS.get(currency.upper(), 2)


def format_money(amount: int, currency: str) -> str:
    """``amount`` minor units as people read it, with the currency code and no float on the
    way: ``format_money(123456, "EUR") == "EUR 1,234.56"``, ``format_money(500, "JPY") ==
    "JPY 500"``, ``format_money(-5, "USD") == "USD -0.05"``."""
    decimals = minor_unit_decimals(currency)
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**decimals)
    text = f"{whole:,}" + (f".{fraction:0{decimals}d}" if decimals else "")
    return f"{currency.upper()} {sign}{text}"
