"""Cache scopes by name, and which scopes a write to each collection makes stale: the one map.

Every commit retires the scopes of the collections it wrote (``adapters/writer.py``, before
the API answers); the ``on_*_written`` triggers retire the same scopes for writes made outside
the API (the console, scripts). Both ask ``retired_by`` here, so nothing else decides it.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Response and data-source cache scopes. Every cached entry lives in exactly one of them.
CATEGORIES = "categories"
PRODUCTS = "products"
PRICING = "pricing"
STORES = "stores"
TIERS = "tiers"
SHIPPING = "shipping"
TAX_RATES = "tax_rates"
ALL_SCOPES: tuple[str, ...] = (CATEGORIES, PRODUCTS, PRICING, STORES, TIERS, SHIPPING, TAX_RATES)

#: collection written -> cache scopes to retire. Products are priced from categories (descendant
#: filters), price lists and tiers (the default tier), so writes to any of those retire product
#: entries too; ``pricing`` holds the pricing snapshot (lists, category tree, default tier).
INVALIDATES: dict[str, tuple[str, ...]] = {
    "categories": (CATEGORIES, PRODUCTS, PRICING),
    "products": (PRODUCTS,),
    "price_lists": (PRODUCTS, PRICING),
    "stores": (STORES,),
    "tiers": (TIERS, PRODUCTS, PRICING),
    "shipping_methods": (SHIPPING,),
    "tax_rates": (TAX_RATES,),
}


def scopes_for(collection: str) -> tuple[str, ...]:
    """The cache scopes a write to ``collection`` retires (none for an unknown collection)."""
    return INVALIDATES.get(collection, ())


def retired_by(documents: Iterable[str]) -> tuple[str, ...]:
    """The cache scopes a write of ``documents`` (paths such as ``products/p1``) retires, each
    once, sorted: those of each document's collection. A document of a subcollection
    (``stores/s1/inventory/p1``) belongs to that subcollection, which feeds no scope."""
    collections = {path.rsplit("/", 1)[0] for path in documents}
    return tuple(sorted({scope for c in collections for scope in scopes_for(c)}))
