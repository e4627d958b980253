"""Products: the catalogue's sellable items, their fields and the filters a shopper applies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from celeste.catalog.variants import (
    MAX_OPTIONS,
    MAX_VARIANTS,
    Option,
    Sku,
    Variant,
    VariantCreate,
    implicit_variant,
)
from celeste.kernel.errors import NotFound, ValidationFailed
from celeste.kernel.ids import DocId
from celeste.kernel.money import Currency, MinorUnits

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=5000)]
Unit = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,15}$")]
ImageUrl = Annotated[str, StringConstraints(pattern=r"^https?://\S{1,2000}$", max_length=2008)]
Tag = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,49}$")]
Tags = Annotated[list[Tag], Field(max_length=20)]
Sort = Literal["name", "-name", "price", "-price", "created_at", "-created_at"]


class ProductCreate(BaseModel):
    """Body of ``POST /products``."""

    model_config = ConfigDict(extra="forbid")

    sku: Sku
    name: Name
    description: Description = ""
    category_id: DocId
    base_price: MinorUnits
    currency: Currency
    unit: Unit = "each"
    image_url: ImageUrl | None = None
    tags: Tags = Field(default_factory=list)
    active: StrictBool = True
    #: 0-3 options; with options, 1-250 ``variants`` (``celeste.catalog.variants``).
    options: Annotated[list[Option], Field(max_length=MAX_OPTIONS)] = Field(default_factory=list)
    variants: Annotated[list[VariantCreate], Field(max_length=MAX_VARIANTS)] = Field(
        default_factory=list
    )


class ProductPatch(BaseModel):
    """Body of ``PATCH /products/{id}``: only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    sku: Sku | None = None
    name: Name | None = None
    description: Description | None = None
    category_id: DocId | None = None
    base_price: MinorUnits | None = None
    currency: Currency | None = None
    unit: Unit | None = None
    image_url: ImageUrl | None = None
    tags: Tags | None = None
    active: StrictBool | None = None
    #: New options must still fit every stored variant (``check_variants``).
    options: Annotated[list[Option], Field(max_length=MAX_OPTIONS)] | None = None

    def changes(self) -> dict[str, object]:
        """The fields sent; only ``image_url`` may be cleared with ``null``."""
        sent = self.model_dump(exclude_unset=True)
        for name, value in sent.items():
            if value is None and name != "image_url":
                raise ValidationFailed.on(name, "may not be null")
        return sent


class Product(BaseModel):
    """A stored product."""

    id: str
    sku: str
    name: str
    description: str = ""
    category_id: str
    base_price: int
    currency: str
    unit: str = "each"
    image_url: str | None = None
    tags: list[str] = Field(default_factory=list)
    active: bool = True
    #: How the product varies; empty: it sells as one variant, itself.
    options: list[Option] = Field(default_factory=list)
    #: The stored variants of a product with options (empty without: see ``all_variants``).
    variants: list[Variant] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime
    #: How many times it was written: 1 when created, +1 each write (a product stored before
    #: events reads 0). Its n-th event is ``product-{id}-{n}`` (``catalog.events``).
    revision: int = 0

    @property
    def name_key(self) -> str:
        """The case-folded name that lists sort by."""
        return self.name.casefold()

    @property
    def all_variants(self) -> list[Variant]:
        """The variants it sells: the stored ones, or, without options, the one implicit variant
        whose id is the product's (what every product stored before variants reads as)."""
        if self.variants:
            return list(self.variants)
        return [implicit_variant(product_id=self.id, sku=self.sku)]

    @property
    def skus(self) -> set[str]:
        """Every SKU it claims shop-wide: its own and its stored variants'."""
        return {self.sku, *(variant.sku for variant in self.variants)}

    @property
    def variant_ids(self) -> list[str]:
        """The ids of ``all_variants``."""
        return [variant.id for variant in self.all_variants]

    def variant(self, variant_id: str) -> Variant:
        """The variant ``variant_id`` of this product (NotFound otherwise)."""
        for variant in self.all_variants:
            if variant.id == variant_id:
                return variant
        raise NotFound(f"product {self.id} has no variant {variant_id}")

    def resolve(self, variant_id: str | None, *, field: str = "variant_id") -> Variant:
        """The variant a line names: ``variant_id``, or, left out, the product's only variant; a
        product with several needs it named (400 on ``field``), and it must be this product's."""
        variants = self.all_variants
        if variant_id is None:
            if len(variants) == 1:
                return variants[0]
            raise ValidationFailed.on(
                field, f"product {self.id} has {len(variants)} variants: name the variant_id"
            )
        for variant in variants:
            if variant.id == variant_id:
                return variant
        raise ValidationFailed.on(field, f"product {self.id} has no variant {variant_id}")

    def unit_price(self, variant: Variant) -> int:
        """``variant``'s base price (its own, else the product's)."""
        return variant.price(self.base_price)

    def sellable(self, variant: Variant) -> bool:
        """Whether ``variant`` may be bought: it and the product are active."""
        return self.active and variant.active


class ProductFilters(BaseModel):
    """The catalogue query of ``GET /products``."""

    model_config = ConfigDict(extra="forbid")

    category_id: DocId | None = None
    q: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
        | None
    ) = None
    min_price: Annotated[int, Field(ge=0, le=10**12)] | None = None
    max_price: Annotated[int, Field(ge=0, le=10**12)] | None = None
    store_id: DocId | None = None
    in_stock: bool | None = None
    sort: Sort = "name"

    def check(self) -> None:
        """Cross-field rules: a sane price range, ``in_stock`` only with a store."""
        low, high = self.min_price, self.max_price
        if low is not None and high is not None and low > high:
            raise ValidationFailed.on("min_price", "must not exceed max_price")
        if self.in_stock is not None and self.store_id is None:
            raise ValidationFailed.on("in_stock", "needs store_id")

    @property
    def needs_scan(self) -> bool:
        """Whether the filters depend on computed values (price, stock, text) and so cannot be
        answered by one indexed Firestore page."""
        return (
            self.q is not None
            or self.min_price is not None
            or self.max_price is not None
            or self.in_stock is not None
            or self.sort != "name"
        )

    def canonical(self) -> dict[str, object]:
        """The query in one canonical form: queries that select the same products in the same
        order give equal forms (``q`` matches every word, case-insensitively, in any order)."""
        data = self.model_dump(mode="json")
        if self.q is not None:
            data["q"] = " ".join(sorted(set(self.q.casefold().split())))
        return data

    def matches_text(self, product: Product) -> bool:
        """Every word of ``q`` appears in the name, SKU or tags (case-insensitive)."""
        if self.q is None:
            return True
        haystack = " ".join([product.name, product.sku, *product.tags]).casefold()
        return all(word in haystack for word in self.q.casefold().split())
