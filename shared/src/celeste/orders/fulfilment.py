"""Fulfilment: where an order goes decides what it is charged (one rule for every order).

A delivery ships to the customer's address: shipping and tax follow the address's country, and
where the shop has methods for it one must be chosen. A pickup is collected at the order's
store, which must offer it: no shipping, and tax by the store's country.
"""

from __future__ import annotations

from dataclasses import dataclass

from celeste.catalog.stores import StoreFacts
from celeste.kernel.addresses import ShippingAddress
from celeste.kernel.errors import ValidationFailed
from celeste.orders.requests import Fulfilment, PlacementTerms


@dataclass(frozen=True)
class Destination:
    """Where an order goes, as pricing needs it."""

    fulfilment: Fulfilment
    #: Tax (and, for delivery, the shipping methods) follow this country.
    country: str
    #: The delivery address; ``None`` for a pickup.
    address: ShippingAddress | None
    #: Whether a shipping method can be charged: only a delivery is shipped.
    shipped: bool


def destination(terms: PlacementTerms, store: StoreFacts) -> Destination:
    """Where an order on ``terms`` goes, or a 400 naming the field that makes it impossible:
    a delivery without ``shipping_address``, a pickup at a store that does not offer it, or a
    pickup that also names an address or a shipping method (neither would be used)."""
    if terms.fulfilment == "pickup":
        if not store.pickup:
            raise ValidationFailed.on(
                "fulfilment", f"store {terms.store_id} does not offer pickup: choose delivery"
            )
        for name in ("shipping_address", "shipping_method"):
            if getattr(terms, name) is not None:
                raise ValidationFailed.on(
                    name, "a pickup order is collected at its store: leave this out"
                )
        return Destination("pickup", store.country, None, shipped=False)
    if terms.shipping_address is None:
        raise ValidationFailed.on(
            "shipping_address", "a delivery needs a shipping address (or choose pickup)"
        )
    return Destination(
        "delivery", terms.shipping_address.country, terms.shipping_address, shipped=True
    )
