"""Which cache scopes a write to each catalogue collection makes stale: the one dependency map."""

from __future__ import annotations

#: collection written -> cache scopes to retire. Products are priced from categories (descendant
#: filters), price lists and tiers, so writes to any of those retire product entries too.
INVALIDATES: dict[str, tuple[str, ...]] = {
    "categories": ("categories", "products", "pricing"),
    "products": ("products",),
    "price_lists": ("products", "pricing"),
    "stores": ("stores",),
    "tiers": ("tiers", "products", "pricing"),
    "shipping_methods": ("shipping",),
    "tax_rates": ("tax_rates",),
}


def scopes_for(collection: str) -> tuple[str, ...]:
    """The cache scopes a write to ``collection`` retires (none for an unknown collection)."""
    return INVALIDATES.get(collection, ())
