"""The cart and the wishlist: a customer's saved products, their bounds, and the priced cart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from celeste.pricing import PricedLine
from celeste.products import Product

#: Most lines a cart holds; adding another product beyond it is a ``Conflict`` (409).
MAX_CART_LINES = 100
#: Most units of one product a cart line holds (the same bound as an order line).
MAX_LINE_QUANTITY = 1000
#: Most products a wishlist holds.
MAX_WISHLIST_ITEMS = 500

#: Why a cart line is left out of the totals: its product was deactivated, is gone, or is
#: priced in another currency than the rest of the cart.
UnavailableReason = Literal["inactive", "missing", "currency"]


class CartItemRequest(BaseModel):
    """Body of ``PUT /me/cart/items/{product_id}``: the quantity the line holds from now on."""

    model_config = ConfigDict(extra="forbid")

    quantity: Annotated[int, Field(ge=1, le=MAX_LINE_QUANTITY, strict=True)]


class CartLine(BaseModel):
    """A stored cart line, the document ``users/{uid}/cart/{product_id}``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    product_id: str
    quantity: int = Field(ge=1, le=MAX_LINE_QUANTITY)
    added_at: datetime
    updated_at: datetime


class WishlistEntry(BaseModel):
    """A stored wishlist entry, the document ``users/{uid}/wishlist/{product_id}``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    product_id: str
    added_at: datetime


class ProductSummary(BaseModel):
    """What a wishlist shows of a product."""

    model_config = ConfigDict(frozen=True)

    id: str
    sku: str
    name: str
    image_url: str | None
    base_price: int
    currency: str
    unit: str

    @classmethod
    def of(cls, product: Product) -> ProductSummary:
        """The summary of ``product``."""
        return cls.model_validate(product.model_dump(include=set(cls.model_fields)))


class WishlistItem(BaseModel):
    """A wishlist entry as ``GET /me/wishlist`` shows it: the product's summary while the
    product exists (``null`` once it is gone), ``unavailable`` unless it is on sale."""

    model_config = ConfigDict(frozen=True)

    product_id: str
    added_at: datetime
    unavailable: bool
    product: ProductSummary | None

    @classmethod
    def of(cls, entry: WishlistEntry, product: Product | None) -> WishlistItem:
        """The view of ``entry`` given its product as read now."""
        return cls(
            product_id=entry.product_id,
            added_at=entry.added_at,
            unavailable=product is None or not product.active,
            product=ProductSummary.of(product) if product is not None else None,
        )


def unavailable_lines(
    lines: Sequence[CartLine], products: Mapping[str, Product]
) -> dict[str, UnavailableReason]:
    """The lines that cannot be priced, by product id, and why.

    A line is unavailable when its product is gone or inactive, or when its product is priced in
    another currency than the cart's: the currency of the earliest-added line whose product is on
    sale (a total is only meaningful in one currency).
    """
    reasons: dict[str, UnavailableReason] = {}
    currency: str | None = None
    for line in sorted(lines, key=_added_order):
        product = products.get(line.product_id)
        if product is None:
            reasons[line.product_id] = "missing"
        elif not product.active:
            reasons[line.product_id] = "inactive"
        elif currency is None:
            currency = product.currency
        elif product.currency != currency:
            reasons[line.product_id] = "currency"
    return reasons


def _added_order(line: CartLine) -> tuple[datetime, str]:
    return line.added_at, line.product_id


@dataclass(frozen=True)
class CartEntry:
    """One line of the priced cart: the stored line, its product as read now, and either its
    pricing (``unavailable`` is ``None``) or the reason it was left out of the totals."""

    line: CartLine
    product: Product | None
    pricing: PricedLine | None
    unavailable: UnavailableReason | None


@dataclass(frozen=True)
class PricedCart:
    """The cart priced for the caller's tier; totals cover the available lines only."""

    entries: list[CartEntry]
    subtotal: int
    discount_total: int
    total: int
    currency: str | None
    tier: str
