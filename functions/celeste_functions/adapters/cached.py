"""Data-source decorators: repositories whose read models come through the one cache helper."""

from __future__ import annotations

from collections.abc import Sequence

from celeste.ports import Page, StoreRepository, TierRepository, TierSet, Versioned
from celeste.stores import Store
from celeste.tiers import Tier
from celeste_functions.adapters.cache import Cache
from celeste_functions.catalog import STORES, TIERS


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
