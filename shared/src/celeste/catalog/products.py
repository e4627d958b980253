"""Products: the catalogue's sellable items, their fields and the filters a shopper applies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from celeste.kernel.errors import ValidationFailed
from celeste.kernel.ids import DocId
from celeste.kernel.money import Currency, MinorUnits

Sku = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
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
    created_at: datetime
    updated_at: datetime

    @property
    def name_key(self) -> str:
        """The case-folded name that lists sort by."""
        return self.name.casefold()


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
