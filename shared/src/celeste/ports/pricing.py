"""Ports of pricing: price lists and pricing inputs, shipping methods, tax rates, discount codes."""

from __future__ import annotations

from typing import Protocol

from celeste.kernel.events import Event
from celeste.kernel.paging import Page
from celeste.kernel.versions import Versioned
from celeste.pricing.discount_codes import DiscountCode
from celeste.pricing.price_lists import PriceList
from celeste.pricing.quotes import PricingSnapshot
from celeste.pricing.shipping import ShippingMethod
from celeste.pricing.tax import TaxRate


class PriceListRepository(Protocol):
    """Storage of price lists (a bounded, small collection)."""

    def get(self, price_list_id: str) -> Versioned[PriceList]:
        """The list, or ``NotFound``."""
        ...

    def all(self) -> list[PriceList]:
        """Every price list (at most ``MAX_PRICE_LISTS``)."""
        ...

    def create(self, price_list: PriceList, *, event: Event) -> Versioned[PriceList]:
        """Store a new list and create ``event`` in the same commit."""
        ...

    def replace(
        self, price_list: PriceList, *, expected_version: str | None, event: Event
    ) -> Versioned[PriceList]:
        """Overwrite, creating ``event`` in the same commit; ``PreconditionFailed`` on a stale
        version."""
        ...

    def delete(self, price_list_id: str, *, expected_version: str | None, event: Event) -> None:
        """Remove, creating ``event`` in the same commit; ``PreconditionFailed`` on a stale
        version."""
        ...


class PricingSource(Protocol):
    """What pricing needs besides the products: lists, the category tree, the default tier.

    Adapters serve it from the cache, so pricing a page costs a bounded number of reads.
    """

    def snapshot(self, *, strict: bool = False) -> PricingSnapshot:
        """The current pricing inputs. ``strict`` (prices for money: quotes, orders, carts):
        reflecting every edit acknowledged before the call; otherwise at most the adapter's
        freshness window behind."""
        ...


class ShippingMethodRepository(Protocol):
    """Storage of shipping methods ``shipping_methods/{code}``."""

    def get(self, code: str) -> Versioned[ShippingMethod]:
        """One method, or ``NotFound``."""
        ...

    def all(self) -> list[ShippingMethod]:
        """Every method (at most ``MAX_METHODS``), by code."""
        ...

    def on_offer(self) -> list[ShippingMethod]:
        """The active methods, by code: the read model checkout and the public list use (a
        decorator may cache it; writes never decide from it)."""
        ...

    def create(self, method: ShippingMethod) -> Versioned[ShippingMethod]:
        """Store a new method; ``Conflict`` when the code exists."""
        ...

    def replace(
        self, method: ShippingMethod, *, expected_version: str
    ) -> Versioned[ShippingMethod]:
        """Overwrite a method read at ``expected_version``."""
        ...

    def delete(self, code: str, *, expected_version: str) -> None:
        """Remove a method read at ``expected_version``."""
        ...


class TaxRateRepository(Protocol):
    """Storage of tax rates ``tax_rates/{country}``."""

    def get(self, country: str) -> Versioned[TaxRate] | None:
        """The country's rate, ``None`` when it has none."""
        ...

    def rate(self, country: str) -> TaxRate | None:
        """The rate that taxes orders to ``country``: the read model pricing uses (a decorator
        may cache it; writes never decide from it)."""
        ...

    def put(self, rate: TaxRate, *, expected_version: str | None) -> Versioned[TaxRate]:
        """Create or overwrite the rate; with ``expected_version`` only that version."""
        ...

    def delete(self, country: str, *, expected_version: str | None) -> None:
        """Remove the rate (``NotFound`` when there is none)."""
        ...


class DiscountCodeRepository(Protocol):
    """Storage of discount codes ``discount_codes/{code}`` and their per-customer counts."""

    def get(self, code: str) -> Versioned[DiscountCode]:
        """One code, or ``NotFound``."""
        ...

    def find(self, code: str) -> Versioned[DiscountCode] | None:
        """One code, ``None`` when unknown."""
        ...

    def page(self, *, limit: int, cursor: str | None) -> Page[DiscountCode]:
        """Codes by code."""
        ...

    def create(self, code: DiscountCode) -> Versioned[DiscountCode]:
        """Store a new code; ``Conflict`` when it exists."""
        ...

    def replace(self, code: DiscountCode, *, expected_version: str) -> Versioned[DiscountCode]:
        """Write the admin's fields of a code read at ``expected_version`` (never
        ``times_used``: the reservation counts it)."""
        ...

    def delete(self, code: str, *, expected_version: str) -> None:
        """Remove a code read at ``expected_version``."""
        ...

    def customer_uses(self, code: str, uid: str) -> Versioned[int] | None:
        """How often ``uid`` used the code (confirmed orders), ``None`` before the first use."""
        ...
