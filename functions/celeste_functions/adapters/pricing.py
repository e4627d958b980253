"""Firestore repository of price lists (``price_lists/{id}``; each write creates its event,
``events/price_list-{id}-{revision}``, in the same batch), and the cached pricing snapshot
built from the owners of price lists, categories and tiers."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celeste.accounts.tiers import default_tier_code
from celeste.kernel.errors import NotFound
from celeste.kernel.events import Event
from celeste.kernel.versions import Versioned
from celeste.pricing.price_lists import MAX_PRICE_LISTS, PriceList
from celeste.pricing.quotes import PricingSnapshot
from celeste_functions.adapters.cache import Cache, Codec
from celeste_functions.adapters.categories import category_parents
from celeste_functions.adapters.events import event_data, event_ref
from celeste_functions.adapters.firestore import (
    precondition,
    version_of,
)
from celeste_functions.adapters.tiers import FirestoreTiers
from celeste_functions.adapters.writer import FirestoreWriter
from celeste_functions.cache_scopes import PRICING

if TYPE_CHECKING:
    from google.cloud import firestore

PRICE_LISTS = "price_lists"


class FirestorePriceLists:
    """``PriceListRepository`` on Firestore (rules stored as JSON-safe maps)."""

    def __init__(self, *, client: Callable[[], firestore.Client], writer: FirestoreWriter) -> None:
        self._client = client
        self._writer = writer

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

    def create(self, price_list: PriceList, *, event: Event) -> Versioned[PriceList]:
        client = self._client()
        with self._writer.batch() as batch:
            batch.create(self._col().document(price_list.id), _data(price_list))
            batch.create(event_ref(client, event.id), event_data(event))
        return self.get(price_list.id)

    def replace(
        self, price_list: PriceList, *, expected_version: str | None, event: Event
    ) -> Versioned[PriceList]:
        client = self._client()
        option = precondition(client, expected_version)
        with self._writer.batch() as batch:
            batch.update(self._col().document(price_list.id), _data(price_list), option=option)
            batch.create(event_ref(client, event.id), event_data(event))
        return self.get(price_list.id)

    def delete(self, price_list_id: str, *, expected_version: str | None, event: Event) -> None:
        client = self._client()
        option = precondition(client, expected_version, delete=True)
        with self._writer.batch() as batch:
            batch.delete(self._col().document(price_list_id), option=option)
            batch.create(event_ref(client, event.id), event_data(event))


def _data(price_list: PriceList) -> dict[str, Any]:
    # JSON mode keeps percentages exact (Decimal → string; Firestore rejects Decimal).
    return price_list.model_dump(mode="json", exclude={"id"})


def _price_list(price_list_id: str, data: dict[str, Any]) -> PriceList:
    return PriceList.model_validate({**data, "id": price_list_id})


class CachedPricingSource:
    """``PricingSource``: price lists + category tree + default tier, one cache entry.

    On a miss it costs one query per collection (lists ≤ 500, categories ≤ 5000, tiers ≤ 100:
    the default tier is ``celeste.accounts.tiers.default_tier_code`` of the whole ladder);
    on a hit, no Firestore read at all. The entry expires when the next list starts or ends.
    The last entry read is kept parsed in memory, so a hit validates nothing again; without
    Redis, the last snapshot built is kept for as long as the browsing epochs say it is current.
    ``strict`` snapshots (money) are looked up under epochs read now.
    """

    def __init__(
        self, *, client: Callable[[], firestore.Client], cache: Cache, ceiling_s: int
    ) -> None:
        self._client = client
        self._cache = cache
        # Read here only; their writes would retire scopes of this same cache.
        writer = FirestoreWriter(client=client, cache=cache)
        self._lists = FirestorePriceLists(client=client, writer=writer)
        self._tiers = FirestoreTiers(client=client, writer=writer)
        self._ceiling_s = ceiling_s
        self._parsed: tuple[bytes, PricingSnapshot] | None = None
        self._built: tuple[object, float, PricingSnapshot] | None = None

    def snapshot(self, *, strict: bool = False) -> PricingSnapshot:
        from celeste.kernel.clock import utcnow

        if self._cache.available() is None:
            return self._without_redis(strict=strict)
        lookup = self._cache.get_or_compute(
            scope=PRICING,
            key="snapshot",
            compute=self._load,
            ttl_s=lambda snap: snap.expires_in_s(now=utcnow(), ceiling_s=self._ceiling_s),
            strict=strict,
            codec=Codec(encode=_encode_snapshot, decode=self._decode),
        )
        return lookup.value

    def _decode(self, raw: bytes) -> PricingSnapshot:
        parsed = self._parsed
        if parsed is not None and parsed[0] == raw:
            return parsed[1]
        snap = PricingSnapshot.model_validate_json(raw)
        self._parsed = (raw, snap)
        return snap

    def _without_redis(self, *, strict: bool) -> PricingSnapshot:
        """No Redis (or the breaker open): reuse the snapshot built under the same epochs and
        still inside its validity window, else build it."""
        epochs = self._cache.epochs
        seen = None
        if epochs is not None:
            current = epochs.fresh() if strict else epochs.current()
            seen = None if current is None else current.get(PRICING, 0)
        built, now = self._built, time.monotonic()
        if seen is not None and built is not None and built[0] == seen and now < built[1]:
            return built[2]
        snap = self._load()
        if seen is not None:
            from celeste.kernel.clock import utcnow

            ttl = snap.expires_in_s(now=utcnow(), ceiling_s=self._ceiling_s)
            self._built = (seen, now + ttl, snap)
        return snap

    def _load(self) -> PricingSnapshot:
        client = self._client()
        ladder = [found.value for found in self._tiers.tier_set().tiers]
        return PricingSnapshot(
            price_lists=self._lists.all(),
            parents=category_parents(client),
            default_tier=default_tier_code(ladder),
        )


def _encode_snapshot(snap: PricingSnapshot) -> bytes:
    return snap.model_dump_json().encode()
