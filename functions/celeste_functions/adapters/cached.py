"""Data-source decorators: repositories whose read models come through the one cache helper."""

from __future__ import annotations

from collections.abc import Sequence

from celeste.accounts.tiers import Tier
from celeste.catalog.stores import Store
from celeste.kernel.paging import Page
from celeste.kernel.versions import Versioned
from celeste.ports.accounts import TierRepository, TierSet
from celeste.ports.catalog import StoreRepository
from celeste.ports.pricing import ShippingMethodRepository, TaxRateRepository
from celeste.pricing.shipping import ShippingMethod
from celeste.pricing.tax import TaxRate
from celeste_functions.adapters.cache import Cache
from celeste_functions.cache_scopes import SHIPPING, STORES, TAX_RATES, TIERS


class CachedTiers:
    """``TierRepository`` whose ``tiers()`` (the ladder pricing and tier evaluation read) is
    cached in scope ``tiers``; everything writes use (``tier_set``, ``save``) goes straight
    through, so a write never decides from a cached read."""

    def __init__(self, *, inner: TierRepository, cache: Cache) -> None:
        self._inner = inner
        self._cache = cache

    def tiers(self) -> list[Tier]:
        lookup = self._cache.get_or_compute(
            scope=TIERS,
            key="ladder",
            compute=lambda: [tier.model_dump(mode="json") for tier in self._inner.tiers()],
        )
        return [Tier.model_validate(item) for item in lookup.value]

    def get(self, code: str) -> Versioned[Tier]:
        return self._inner.get(code)

    def tier_set(self) -> TierSet:
        return self._inner.tier_set()

    def save(
        self,
        *,
        revision: str | None,
        create: Sequence[Tier] = (),
        update: Sequence[Versioned[Tier]] = (),
        delete: Sequence[Versioned[Tier]] = (),
    ) -> None:
        self._inner.save(revision=revision, create=create, update=update, delete=delete)

    def is_held(self, code: str) -> bool:
        return self._inner.is_held(code)


class CachedStores:
    """``StoreRepository`` whose ``every()`` (the whole set the near search measures) is one
    cache entry in scope ``stores``; the rest goes straight through."""

    def __init__(self, *, inner: StoreRepository, cache: Cache) -> None:
        self._inner = inner
        self._cache = cache

    def every(self, *, active_only: bool, limit: int) -> Sequence[Store]:
        lookup = self._cache.get_or_compute(
            scope=STORES,
            key=f"every:{'active' if active_only else 'all'}:{limit}",
            compute=lambda: [
                store.model_dump(mode="json")
                for store in self._inner.every(active_only=active_only, limit=limit)
            ],
        )
        return [Store.model_validate(item) for item in lookup.value]

    def get(self, store_id: str) -> Versioned[Store]:
        return self._inner.get(store_id)

    def list(self, *, active_only: bool, limit: int, cursor: str | None) -> Page[Store]:
        return self._inner.list(active_only=active_only, limit=limit, cursor=cursor)

    def count(self) -> int:
        return self._inner.count()

    def create(self, store: Store) -> Versioned[Store]:
        return self._inner.create(store)

    def replace(self, store: Store, *, expected_version: str | None) -> Versioned[Store]:
        return self._inner.replace(store, expected_version=expected_version)

    def delete(self, store_id: str, *, expected_version: str | None) -> None:
        self._inner.delete(store_id, expected_version=expected_version)


class CachedShippingMethods:
    """``ShippingMethodRepository`` whose ``on_offer()`` (the methods checkout and the public
    list choose from) is one cache entry in scope ``shipping``; the rest goes straight through."""

    def __init__(self, *, inner: ShippingMethodRepository, cache: Cache) -> None:
        self._inner = inner
        self._cache = cache

    def on_offer(self) -> list[ShippingMethod]:
        lookup = self._cache.get_or_compute(
            scope=SHIPPING,
            key="on-offer",
            compute=lambda: [m.model_dump(mode="json") for m in self._inner.on_offer()],
        )
        return [ShippingMethod.model_validate(item) for item in lookup.value]

    def get(self, code: str) -> Versioned[ShippingMethod]:
        return self._inner.get(code)

    def all(self) -> list[ShippingMethod]:
        return self._inner.all()

    def create(self, method: ShippingMethod) -> Versioned[ShippingMethod]:
        return self._inner.create(method)

    def replace(
        self, method: ShippingMethod, *, expected_version: str
    ) -> Versioned[ShippingMethod]:
        return self._inner.replace(method, expected_version=expected_version)

    def delete(self, code: str, *, expected_version: str) -> None:
        self._inner.delete(code, expected_version=expected_version)


class CachedTaxRates:
    """``TaxRateRepository`` whose ``rate(country)`` (what pricing taxes an order by) is cached
    in scope ``tax_rates``, a country without a rate too; the rest goes straight through."""

    def __init__(self, *, inner: TaxRateRepository, cache: Cache) -> None:
        self._inner = inner
        self._cache = cache

    def rate(self, country: str) -> TaxRate | None:
        def compute() -> dict[str, object] | None:
            found = self._inner.rate(country)
            return None if found is None else found.model_dump(mode="json")

        lookup = self._cache.get_or_compute(scope=TAX_RATES, key=country, compute=compute)
        return None if lookup.value is None else TaxRate.model_validate(lookup.value)

    def get(self, country: str) -> Versioned[TaxRate] | None:
        return self._inner.get(country)

    def put(self, rate: TaxRate, *, expected_version: str | None) -> Versioned[TaxRate]:
        return self._inner.put(rate, expected_version=expected_version)

    def delete(self, country: str, *, expected_version: str | None) -> None:
        self._inner.delete(country, expected_version=expected_version)
