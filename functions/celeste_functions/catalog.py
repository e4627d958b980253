"""Cache scopes by name, and which scopes a write to each collection makes stale: the one map."""

from __future__ import annotations

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
