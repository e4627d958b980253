"""Firestore adapters for pricing: price lists, the cached pricing snapshot, customer tiers,
and stock levels for catalogue availability."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from celeste.errors import NotFound
from celeste.ports import Versioned
from celeste.pricing import MAX_PRICE_LISTS, PriceList, PricingSnapshot
from celeste_functions.adapters.cache import Cache
from celeste_functions.adapters.firestore import (
    QueryShape,
    precondition,
    storage_errors,
    version_of,
)

if TYPE_CHECKING:
    from google.cloud import firestore

PRICE_LISTS = "price_lists"
#: Cache scope of the snapshot; writes to price lists, categories and tiers retire it.
SNAPSHOT_SCOPE = "pricing"
#: The tier anyone without a profile holds when no tier is marked default yet.
FALLBACK_TIER = "BRONZE"
#: Categories are a small tree; the snapshot holds all of them.
MAX_CATEGORIES = 5000
_DEFAULT_TIER = QueryShape("tiers", equals=("is_default",))


class FirestorePriceLists:
    """``PriceListRepository`` on Firestore (rules stored as JSON-safe maps)."""

    def __init__(self, *, client: Callable[[], firestore.Client]) -> None:
        self._client = client

    def _col(self) -> firestore.CollectionReference:
        return self._client().collection(PRICE_LISTS)

    def get(self, price_list_id: str) -> Versioned[PriceList]:
        snapshot = self._col().document(price_list_id).get()
        if not snapshot.exists:
            raise NotFound(f"no price list {price_list_id}")
        return Versioned(_price_list(snapshot.id, snapshot.to_dict() or {}), version_of(snapshot))

    def all(self) -> list[PriceList]:
        return [
            _price_list(s.id, s.to_dict() or {})
            for s in self._col().limit(MAX_PRICE_LISTS).stream()
        ]

    def create(self, price_list: PriceList) -> Versioned[PriceList]:
        with storage_errors():
            self._col().document(price_list.id).create(_data(price_list))
        return self.get(price_list.id)

    def replace(
        self, price_list: PriceList, *, expected_version: str | None
    ) -> Versioned[PriceList]:
        client = self._client()
        option = precondition(client, expected_version)
        with storage_errors():
            self._col().document(price_list.id).update(_data(price_list), option=option)
        return self.get(price_list.id)

    def delete(self, price_list_id: str, *, expected_version: str | None) -> None:
        client = self._client()
        option = precondition(client, expected_version, delete=True)
        with storage_errors():
            self._col().document(price_list_id).delete(option=option)


def _data(price_list: PriceList) -> dict[str, Any]:
    # JSON mode keeps percentages exact (Decimal → string; Firestore rejects Decimal).
    return price_list.model_dump(mode="json", exclude={"id"})


def _price_list(price_list_id: str, data: dict[str, Any]) -> PriceList:
    return PriceList.model_validate({**data, "id": price_list_id})


class CachedPricingSource:
    """``PricingSource``: price lists + category tree + default tier, one cache entry.

    On a miss it costs one query per collection (lists ≤ 500, categories ≤ 5000, one tier);
    on a hit, no Firestore read at all. The entry expires when the next list starts or ends.
    """

    def __init__(
        self, *, client: Callable[[], firestore.Client], cache: Cache, ceiling_s: int
    ) -> None:
        self._client = client
        self._cache = cache
        self._lists = FirestorePriceLists(client=client)
        self._ceiling_s = ceiling_s

    def snapshot(self) -> PricingSnapshot:
        from celeste.clock import utcnow

        lookup = self._cache.get_or_compute(
            scope=SNAPSHOT_SCOPE,
            key="snapshot",
            compute=lambda: self._load().model_dump(mode="json"),
            ttl_s=lambda value: PricingSnapshot.model_validate(value).expires_in_s(
                now=utcnow(), ceiling_s=self._ceiling_s
            ),
        )
        return PricingSnapshot.model_validate(lookup.value)

    def _load(self) -> PricingSnapshot:
        client = self._client()
        parents: dict[str, str | None] = {
            s.id: (s.to_dict() or {}).get("parent_id")
            for s in client.collection("categories")
            .select(["parent_id"])
            .limit(MAX_CATEGORIES)
            .stream()
        }
        default = next(
            iter(
                _DEFAULT_TIER.build(client.collection("tiers"), equals={"is_default": True})
                .limit(1)
                .stream()
            ),
            None,
        )
        return PricingSnapshot(
            price_lists=self._lists.all(),
            parents=parents,
            default_tier=default.id if default is not None else FALLBACK_TIER,
        )


class FirestoreCustomerTiers:
    """``CustomerTiers``: the ``tier`` field of ``users/{uid}``."""

    def __init__(self, *, client: Callable[[], firestore.Client]) -> None:
        self._client = client

    def tier_of(self, uid: str) -> str | None:
        snapshot = self._client().collection("users").document(uid).get(["tier"])
        if not snapshot.exists:
            return None
        tier = (snapshot.to_dict() or {}).get("tier")
        return str(tier) if tier else None


class FirestoreStock:
    """``StockReader``: ``stores/{store_id}/inventory/{product_id}`` levels, one batched read."""

    def __init__(self, *, client: Callable[[], firestore.Client]) -> None:
        self._client = client

    def available(self, *, store_id: str, product_ids: Sequence[str]) -> dict[str, int]:
        client = self._client()
        inventory = client.collection("stores").document(store_id).collection("inventory")
        refs = [inventory.document(pid) for pid in dict.fromkeys(product_ids)]
        levels = {pid: 0 for pid in product_ids}
        for snapshot in client.get_all(refs, field_paths=["on_hand", "reserved"]):
            if snapshot.exists:
                data = snapshot.to_dict() or {}
                levels[snapshot.id] = int(data.get("on_hand", 0)) - int(data.get("reserved", 0))
        return levels
