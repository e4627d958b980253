"""The cart and the wishlist: a customer's saved variants, their bounds, and the priced cart.

Lines and entries are keyed by variant id (the document id). A product without options sells
one variant whose id is the product's, so lines stored before variants existed, keyed by their
product id, read as that variant's unchanged."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, StringConstraints

from celeste.catalog.products import Product
from celeste.catalog.variants import OwnVariantByDefault, Variant, ordered_options
from celeste.kernel.errors import NotFound
from celeste.pricing.quotes import PricedLine

#: Most lines a cart holds; adding another variant beyond it is a ``Conflict`` (409).
MAX_CART_LINES = 100
#: Most units of one variant a cart line holds (the same bound as an order line).
MAX_LINE_QUANTITY = 1000
#: Most variants a wishlist holds.
MAX_WISHLIST_ITEMS = 500

#: Why a cart line is left out of the totals: its product or variant was deactivated, is gone,
#: or is priced in another currency than the rest of the cart.
UnavailableReason = Literal["inactive", "missing", "currency"]


class CartItemRequest(BaseModel):
    """Body of ``PUT /me/cart/items/{variant_id}``: the quantity the line holds from now on."""

    model_config = ConfigDict(extra="forbid")

    quantity: Annotated[int, Field(ge=1, le=MAX_LINE_QUANTITY, strict=True)]


class CartLine(OwnVariantByDefault):
    """A stored cart line, the document ``users/{uid}/cart/{variant_id}``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    product_id: str
    #: The variant held (the document id); lines stored before variants read their product's
    #: id, which is its one variant's.
    variant_id: str = ""
    quantity: int = Field(ge=1, le=MAX_LINE_QUANTITY)
    added_at: datetime
    updated_at: datetime


class WishlistEntry(OwnVariantByDefault):
    """A stored wishlist entry, the document ``users/{uid}/wishlist/{variant_id}``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    product_id: str
    #: The variant kept (the document id); entries stored before variants read their product's
    #: id, which is its one variant's.
    variant_id: str = ""
    added_at: datetime


def variant_of(product: Product | None, variant_id: str) -> Variant | None:
    """``product``'s variant ``variant_id``; ``None`` when either is gone."""
    if product is None:
        return None
    try:
        return product.variant(variant_id)
    except NotFound:
        return None


def shown_options(product: Product | None, variant: Variant | None) -> dict[str, str]:
    """The variant's option values in the product's option order (``{}`` when it is gone or
    is a product's implicit variant)."""
    if product is None or variant is None:
        return {}
    return ordered_options(product.options, variant.options)


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
    product exists (``null`` once it is gone), the variant's SKU and option values while the
    variant exists, ``unavailable`` unless both are on sale."""

    model_config = ConfigDict(frozen=True)

    product_id: str
    variant_id: str
    #: The variant's SKU (a product without options: the product's); ``null`` once it is gone.
    sku: str | None
    options: dict[str, str]
    added_at: datetime
    unavailable: bool
    product: ProductSummary | None

    @classmethod
    def of(cls, entry: WishlistEntry, product: Product | None) -> WishlistItem:
        """The view of ``entry`` given its product as read now."""
        variant = variant_of(product, entry.variant_id)
        return cls(
            product_id=entry.product_id,
            variant_id=entry.variant_id,
            sku=variant.sku if variant is not None else None,
            options=shown_options(product, variant),
            added_at=entry.added_at,
            unavailable=product is None or variant is None or not product.sellable(variant),
            product=ProductSummary.of(product) if product is not None else None,
        )


def unavailable_lines(
    lines: Sequence[CartLine], products: Mapping[str, Product]
) -> dict[str, UnavailableReason]:
    """The lines that cannot be priced, by variant id, and why (``products`` by product id).

    A line is unavailable when its product or its variant is gone (``missing``) or inactive
    (``inactive``), or when its product is priced in another currency than the cart's: the
    currency of the earliest-added line whose variant is on sale (a total is only meaningful in
    one currency).
    """
    reasons: dict[str, UnavailableReason] = {}
    currency: str | None = None
    for line in sorted(lines, key=_added_order):
        product = products.get(line.product_id)
        variant = variant_of(product, line.variant_id)
        if product is None or variant is None:
            reasons[line.variant_id] = "missing"
        elif not product.sellable(variant):
            reasons[line.variant_id] = "inactive"
        elif currency is None:
            currency = product.currency
        elif product.currency != currency:
            reasons[line.variant_id] = "currency"
    return reasons


def _added_order(line: CartLine) -> tuple[datetime, str]:
    return line.added_at, line.variant_id


@dataclass(frozen=True)
class CartEntry:
    """One line of the priced cart: the stored line, its product and variant as read now
    (``None`` once gone), and either its pricing (``unavailable`` is ``None``) or the reason it
    was left out of the totals."""

    line: CartLine
    product: Product | None
    pricing: PricedLine | None
    unavailable: UnavailableReason | None
    variant: Variant | None = None

    @property
    def options(self) -> dict[str, str]:
        """The variant's option values in the product's option order."""
        return shown_options(self.product, self.variant)


@dataclass(frozen=True)
class PricedCart:
    """The cart priced for the caller's tier; totals cover the available lines only."""

    entries: list[CartEntry]
    subtotal: int
    discount_total: int
    total: int
    currency: str | None
    tier: str


# --- a guest's saved products merged into an account ------------------------------------------

#: Longest ID token accepted in ``guest_token`` (Firebase ID tokens are about 1 KB; custom
#: claims may grow them, never past this).
MAX_TOKEN_LENGTH = 8192


class CartMergeRequest(BaseModel):
    """Body of ``POST /me/cart/merge``: the guest's (anonymous) Firebase ID token, which proves
    the caller may take that guest's cart and wishlist."""

    model_config = ConfigDict(extra="forbid")

    guest_token: Annotated[StrictStr, StringConstraints(min_length=1, max_length=MAX_TOKEN_LENGTH)]


@dataclass(frozen=True)
class CartLinesMerge:
    """What merging a guest's cart lines into an account's cart does (``merge_cart_lines``)."""

    #: New lines of the account's cart (variants it did not hold).
    added: tuple[CartLine, ...]
    #: The account's lines whose quantity goes up to the guest's.
    raised: tuple[CartLine, ...]
    #: Variants both held where the account's own quantity, the larger, stays.
    kept: tuple[str, ...]
    #: The guest's variants that did not fit (the account's cart held ``MAX_CART_LINES``).
    dropped: tuple[str, ...]


def merge_cart_lines(
    account: Sequence[CartLine],
    guest: Sequence[CartLine],
    *,
    now: datetime,
    max_lines: int = MAX_CART_LINES,
) -> CartLinesMerge:
    """The rule for a guest's cart merged into an account's on sign-in.

    Lines are matched by variant: two variants of one product are two lines.

    - A variant in both carts: the line keeps the **larger** of the two quantities (never
      their sum, so a retried or repeated merge never inflates it; both are within
      ``MAX_LINE_QUANTITY``, so the larger is too). The account's own line stays otherwise.
    - A variant only the guest held: a new line with the guest's quantity, added after the
      account's lines (``added_at`` is ``now``, a microsecond apart in the guest's order, so the
      account's earliest line still sets the cart's currency) while the cart has fewer than
      ``max_lines`` lines; the rest are ``dropped`` (the earliest-added guest lines go first).
    - Lines whose product or variant is inactive or gone move like any other: the cart shows them as
      unavailable, as it would have shown them to the guest.
    """
    mine = {line.variant_id: line for line in account}
    added: list[CartLine] = []
    raised: list[CartLine] = []
    kept: list[str] = []
    dropped: list[str] = []
    size = len(mine)
    for line in sorted(guest, key=_added_order):
        held = mine.get(line.variant_id)
        if held is not None:
            if line.quantity > held.quantity:
                raised.append(
                    held.model_copy(update={"quantity": line.quantity, "updated_at": now})
                )
            else:
                kept.append(line.variant_id)
        elif size < max_lines:
            at = now + timedelta(microseconds=len(added))
            added.append(
                CartLine(
                    product_id=line.product_id,
                    variant_id=line.variant_id,
                    quantity=line.quantity,
                    added_at=at,
                    updated_at=at,
                )
            )
            size += 1
        else:
            dropped.append(line.variant_id)
    return CartLinesMerge(tuple(added), tuple(raised), tuple(kept), tuple(dropped))


@dataclass(frozen=True)
class WishlistMerge:
    """What merging a guest's wishlist into an account's does (``merge_wishlist``)."""

    #: New entries of the account's wishlist (the guest's ``added_at`` kept).
    added: tuple[WishlistEntry, ...]
    #: The guest's variants that did not fit (the account's wishlist was full).
    dropped: tuple[str, ...]


def merge_wishlist(
    listed: Collection[str],
    count: int,
    guest: Sequence[WishlistEntry],
    *,
    max_items: int = MAX_WISHLIST_ITEMS,
) -> WishlistMerge:
    """The rule for a guest's wishlist merged into an account's holding ``count`` entries, of
    which ``listed`` are the guest's variants it already lists: the union. A variant on both
    stays as the account listed it; the others are added, the earliest-added first, while the
    wishlist has fewer than ``max_items`` entries; the rest are ``dropped``."""
    added: list[WishlistEntry] = []
    dropped: list[str] = []
    size = count
    for entry in sorted(guest, key=lambda e: (e.added_at, e.variant_id)):
        if entry.variant_id in listed:
            continue
        if size < max_items:
            added.append(entry)
            size += 1
        else:
            dropped.append(entry.variant_id)
    return WishlistMerge(tuple(added), tuple(dropped))


@dataclass(frozen=True)
class CartMerge:
    """One atomic commit of a merge: the account's new and raised lines and new wishlist
    entries, and the guest's lines and entries deleted, each at the version read (creates
    require absence), so a merge that raced anything is written not at all and decided again."""

    uid: str
    guest_uid: str
    add_lines: tuple[CartLine, ...]
    raise_lines: tuple[tuple[CartLine, str], ...]  # (the line as it will be, version read)
    take_lines: tuple[tuple[str, str], ...]  # the guest's (variant_id, version read)
    add_entries: tuple[WishlistEntry, ...]
    take_entries: tuple[tuple[str, str], ...]  # the guest's (variant_id, version read)

    @property
    def empty(self) -> bool:
        """Whether the commit would write nothing."""
        return not (self.add_lines or self.raise_lines or self.take_lines) and not (
            self.add_entries or self.take_entries
        )


class CartMergeResult(BaseModel):
    """What ``POST /me/cart/merge`` did (all zero and empty when the guest had nothing left,
    e.g. a retried merge)."""

    model_config = ConfigDict(frozen=True)

    lines_added: int = 0
    lines_raised: int = 0
    lines_kept: int = 0
    wishlist_added: int = 0
    #: The guest's variants that did not fit in the account's cart (it was full); a product
    #: without options is named by its own id, its one variant's.
    cart_dropped: list[str] = Field(default_factory=list)
    #: The guest's variants that did not fit on the account's wishlist (it was full).
    wishlist_dropped: list[str] = Field(default_factory=list)
