"""Variants: the sellable versions of a product (a size, a colour), each with its own SKU, price
and stock.

A product has 0-3 options (``Size: [S, M, L]``) and 1-250 variants. A product without options
has exactly one variant, never stored: its id is the product's id, its SKU the product's and its
price the product's (``implicit_variant``), so every stock level, cart line and order written
before variants existed reads as that variant's. A product with options stores its variants,
each naming one value of every option, no two with the same values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, model_validator

from celeste.kernel.errors import FieldError, ValidationFailed
from celeste.kernel.money import MinorUnits

MAX_OPTIONS = 3
MAX_VARIANTS = 250
MAX_VALUES = 100

Sku = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
OptionName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
OptionValue = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
#: A variant's option values: option name → one of its values.
OptionMap = dict[OptionName, OptionValue]


class Option(BaseModel):
    """One way a product varies, and the values it takes (``Size: [S, M, L]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: OptionName
    values: Annotated[list[OptionValue], Field(min_length=1, max_length=MAX_VALUES)]


class VariantCreate(BaseModel):
    """A variant as an admin sends it (``POST /products`` ``variants[]``,
    ``POST /products/{id}/variants``)."""

    model_config = ConfigDict(extra="forbid")

    sku: Sku
    options: OptionMap = Field(default_factory=dict)
    #: Falls back to the product's ``base_price`` when left out.
    base_price: MinorUnits | None = None
    active: StrictBool = True


class VariantPatch(BaseModel):
    """``PATCH /products/{id}/variants/{variant_id}``: only the fields sent change;
    ``base_price: null`` falls back to the product's again."""

    model_config = ConfigDict(extra="forbid")

    sku: Sku | None = None
    options: OptionMap | None = None
    base_price: MinorUnits | None = None
    active: StrictBool | None = None

    def changes(self) -> dict[str, object]:
        """The fields sent; only ``base_price`` may be cleared with ``null``."""
        sent = self.model_dump(exclude_unset=True)
        for name, value in sent.items():
            if value is None and name != "base_price":
                raise ValidationFailed.on(name, "may not be null")
        return sent


class OwnVariantByDefault(BaseModel):
    """A record of ``product_id`` and ``variant_id`` (a line, a level, a ledger row, a cart
    document) whose ``variant_id`` left out reads the product's own id: its one variant. So
    every record stored before variants reads as that variant's, with no migration."""

    if TYPE_CHECKING:  # each subclass declares both fields, in its own order and with defaults
        product_id: str
        variant_id: str

    @model_validator(mode="after")
    def _own_variant(self) -> Self:
        if not self.variant_id:
            object.__setattr__(self, "variant_id", self.product_id)
        return self


class Variant(BaseModel):
    """A stored variant (or a product's implicit one)."""

    model_config = ConfigDict(frozen=True)

    id: str
    sku: str
    options: dict[str, str] = Field(default_factory=dict)
    base_price: int | None = None
    active: bool = True

    def price(self, product_base_price: int) -> int:
        """The variant's base price: its own, else the product's."""
        return product_base_price if self.base_price is None else self.base_price


def implicit_variant(*, product_id: str, sku: str) -> Variant:
    """The one variant of a product without options: the product's own id and SKU."""
    return Variant(id=product_id, sku=sku)


def check_variants(
    options: Sequence[Option],
    variants: Sequence[Variant | VariantCreate],
    *,
    product_sku: str,
    field: str = "variants",
) -> None:
    """A 400 naming each field that breaks the variant rules:

    - at most 3 options, distinct names, each value once per option;
    - with options, 1-250 variants, each naming exactly one listed value of every option, no
      two with the same values; without options, no stored variants (the implicit one sells);
    - SKUs distinct among the variants and not the product's own (they are unique shop-wide:
      the store refuses one taken elsewhere with a 409).
    """
    errors: list[FieldError] = []
    if len(options) > MAX_OPTIONS:
        errors.append(FieldError("options", f"at most {MAX_OPTIONS} options"))
    names: dict[str, list[str]] = {}
    for index, option in enumerate(options):
        if option.name in names:
            errors.append(FieldError(f"options[{index}].name", f"{option.name!r} is repeated"))
        if len(set(option.values)) != len(option.values):
            errors.append(FieldError(f"options[{index}].values", "a value is repeated"))
        names[option.name] = list(option.values)
    if not options and variants:
        errors.append(
            FieldError(field, "a product without options has one variant: the product itself")
        )
    if options and not 1 <= len(variants) <= MAX_VARIANTS:
        errors.append(FieldError(field, f"a product with options has 1 to {MAX_VARIANTS} variants"))
    seen_maps: dict[tuple[tuple[str, str], ...], int] = {}
    seen_skus: dict[str, int] = {}
    for index, variant in enumerate(variants):
        where = f"{field}[{index}]"
        if set(variant.options) != set(names):
            errors.append(
                FieldError(
                    f"{where}.options",
                    "name one value of each option: " + ", ".join(names) if names else "no options",
                )
            )
        else:
            for name, value in variant.options.items():
                if value not in names[name]:
                    errors.append(
                        FieldError(f"{where}.options", f"{value!r} is not a value of {name}")
                    )
        key = tuple(sorted(variant.options.items()))
        first = seen_maps.setdefault(key, index)
        if first != index:
            errors.append(FieldError(f"{where}.options", f"the same options as {field}[{first}]"))
        if variant.sku == product_sku:
            errors.append(FieldError(f"{where}.sku", "is the product's own SKU"))
        first_sku = seen_skus.setdefault(variant.sku, index)
        if first_sku != index:
            errors.append(FieldError(f"{where}.sku", f"the same SKU as {field}[{first_sku}]"))
    if errors:
        raise ValidationFailed("the options and variants do not fit together", errors)


def variant_title(options: Sequence[Option], variant: Variant) -> str | None:
    """The variant's values in the product's option order, ``M / Blue`` (``None`` without
    options): what a line shows, frozen with it (a stored map's keys come back sorted)."""
    values = ordered_options(options, variant.options)
    return " / ".join(values.values()) or None


def ordered_options(options: Sequence[Option], values: dict[str, str]) -> dict[str, str]:
    """``values`` in the product's option order (how reads and labels show them)."""
    order = {option.name: index for index, option in enumerate(options)}
    return dict(sorted(values.items(), key=lambda item: order.get(item[0], len(order))))
