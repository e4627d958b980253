"""Postal addresses: the one model and vocabulary of stores, saved addresses, orders, checkout."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, StringConstraints

# ISO 3166-1 alpha-2, every officially assigned code (ISO/TC 46 N1108, 2023-04-05).
_ASSIGNED_CODES = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR
    BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ
    EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW
    GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY
    KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV
    MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY
    QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG
    TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM
    ZW
"""
ISO_3166_ALPHA_2 = frozenset(_ASSIGNED_CODES.split())


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


def _assigned_country(code: str) -> str:
    if code not in ISO_3166_ALPHA_2:
        raise ValueError("not an assigned ISO 3166-1 alpha-2 country code")
    return code


#: An ISO 3166-1 alpha-2 country code; accepted in any case, stored upper case (``PT``).
CountryCode = Annotated[
    str,
    BeforeValidator(_upper),
    StringConstraints(pattern=r"^[A-Z]{2}$"),
    AfterValidator(_assigned_country),
]


#: No control characters (so no newline smuggled into a label printed on a parcel).
_ONE_LINE = r"^[^\x00-\x1f\x7f]*$"


def _line(max_length: int) -> StringConstraints:
    """One line of text: trimmed, 1 to ``max_length`` characters."""
    return StringConstraints(
        strip_whitespace=True, min_length=1, max_length=max_length, pattern=_ONE_LINE
    )


Name = Annotated[str, _line(200)]
AddressLine = Annotated[str, _line(200)]
City = Annotated[str, _line(100)]
Region = Annotated[str, _line(100)]
Label = Annotated[str, _line(50)]
#: Letters, digits, spaces and hyphens (``1100-048``, ``SW1A 1AA``, ``75001``).
PostalCode = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=20, pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]*$"
    ),
]
#: A phone number as people write it: digits, spaces, ``-``, ``.``, ``(``, ``)``, a leading ``+``
#: (E.164, ``+351210000000``, is one such form).
Phone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9][0-9 ().-]{2,29}$"),
]


class Address(BaseModel):
    """A postal address, in the field names Stripe and most carriers use, ``region`` for the
    state, province or county. Only ``line1``, ``city`` and ``country`` are required everywhere
    (some countries have no postal codes); ``country`` selects tax and shipping at checkout."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name | None = None
    line1: AddressLine
    line2: AddressLine | None = None
    city: City
    region: Region | None = None
    postal_code: PostalCode | None = None
    country: CountryCode
    phone: Phone | None = None


class SavedAddress(Address):
    """An address a customer keeps on their profile, with an optional ``label`` (``Home``)."""

    label: Label | None = None


class ShippingAddress(Address):
    """Where an order goes: an address with the name of whoever receives it."""

    name: Name


#: Field names earlier versions stored, and the name each has now.
LEGACY_FIELDS = {"recipient": "name", "state": "region"}


def upgrade_stored(value: object) -> object:
    """A stored address (a mapping) in today's vocabulary: ``recipient`` → ``name`` (profiles),
    ``state`` → ``region`` (orders). Anything else is returned unchanged. For reads of stored
    documents only: requests must use today's names (an old name there is an unknown field)."""
    if not isinstance(value, Mapping):
        return value
    upgraded = dict(value)
    for old, new in LEGACY_FIELDS.items():
        if old in upgraded:
            legacy = upgraded.pop(old)
            if upgraded.get(new) is None:
                upgraded[new] = legacy
    return upgraded
