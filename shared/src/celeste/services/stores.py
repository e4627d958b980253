"""Store use cases: admins keep the store list; shoppers browse it and find the nearest stores."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence

from celeste.catalog.stores import (
    GeoPoint,
    NearbyStore,
    Store,
    StoreCreate,
    StoreFacts,
    StorePatch,
    nearby,
)
from celeste.kernel.clock import Clock, utcnow
from celeste.kernel.cursors import decode_cursor, encode_cursor, refused
from celeste.kernel.errors import Conflict, NotFound, ValidationFailed
from celeste.kernel.ids import new_id
from celeste.kernel.paging import Page
from celeste.kernel.versions import Versioned
from celeste.ports.catalog import StoreDirectory, StoreReferences, StoreRepository
from celeste.services.retry import REQUEST, Backoff
from celeste.services.versioned import versioned_write

log = logging.getLogger(__name__)

#: Most stores the chain may have: the near search reads them all and measures in memory.
MAX_STORES = 2000


def require_open_store(stores: StoreDirectory, store_id: str) -> StoreFacts:
    """The store's facts, or a 400 on ``store_id`` unless it exists and takes orders (orders,
    checkout, quotes)."""
    facts = stores.store_facts(store_id)
    if facts is None or not facts.active:
        reason = "does not exist" if facts is None else "is not open for orders"
        raise ValidationFailed.on("store_id", f"store {store_id} {reason}")
    return facts


class StoreService:
    """The stores resource's rules, over a ``StoreRepository``."""

    def __init__(
        self,
        *,
        repository: StoreRepository,
        references: StoreReferences,
        clock: Clock = utcnow,
        backoff: Backoff = REQUEST,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._backoff = backoff
        self._sleep = sleep
        self._repo = repository
        self._references = references
        self._clock = clock

    def get(self, store_id: str, *, include_inactive: bool) -> Versioned[Store]:
        """One store; an inactive one exists only for admins."""
        found = self._repo.get(store_id)
        if not found.value.active and not include_inactive:
            raise NotFound(f"no store {store_id}")
        return found

    def list(self, *, include_inactive: bool, limit: int, cursor: str | None) -> Page[Store]:
        """A page of stores by name, then id."""
        return self._repo.list(active_only=not include_inactive, limit=limit, cursor=cursor)

    def near(
        self,
        *,
        origin: GeoPoint,
        radius_km: float,
        include_inactive: bool,
        limit: int,
        cursor: str | None,
    ) -> Page[NearbyStore]:
        """A page of the stores within ``radius_km`` of ``origin``, nearest first.

        Reads every store (at most ``MAX_STORES``, which ``create`` enforces; the adapter serves
        the whole set from one cache entry, about 700 kB at the bound) and measures great-circle
        distances in memory. On a cache hit that costs no Firestore read; at 2000 stores it took
        about 25 ms here, mostly decoding and validating the cached set (the distances are 2 ms),
        and proportionally less for a smaller chain. Beyond that bound the path is a geohash
        field on each store with one range query per neighbouring cell, not a bigger scan.
        """
        after = _decode_near_cursor(cursor) if cursor else None
        stores = self._every(include_inactive=include_inactive)
        ranked = nearby(stores, origin, radius_km)
        if after is not None:
            ranked = [s for s in ranked if (s.distance_km, s.id) > after]
        items = ranked[:limit]
        next_cursor = None
        if len(ranked) > limit:
            next_cursor = _encode_near_cursor(items[-1].distance_km, items[-1].id)
        return Page(items, next_cursor)

    def create(self, request: StoreCreate) -> Versioned[Store]:
        """Add a store, while the chain is within ``MAX_STORES``."""
        if self._repo.count() >= MAX_STORES:
            raise Conflict(
                f"a chain may have at most {MAX_STORES} stores (the near search measures them "
                "all in memory); remove unused stores first"
            )
        now = self._clock()
        store = Store(id=new_id(), created_at=now, updated_at=now, **request.model_dump())
        return self._repo.create(store)

    def update(
        self, store_id: str, patch: StorePatch, *, expected_version: str | None
    ) -> Versioned[Store]:
        """Apply the fields sent (``If-Match`` honoured)."""
        changes = patch.changes()

        def write(current: Versioned[Store]) -> Versioned[Store]:
            updated = Store.model_validate(
                {**current.value.model_dump(), **changes, "updated_at": self._clock()}
            )
            return self._repo.replace(updated, expected_version=current.version)

        return versioned_write(
            lambda: self._repo.get(store_id),
            write,
            expected_version=expected_version,
            subject=f"store {store_id}",
            what=f"updating store {store_id}",
            backoff=self._backoff,
            sleep=self._sleep,
        )

    def delete(self, store_id: str, *, expected_version: str | None) -> None:
        """Remove a store that nothing refers to (``If-Match`` honoured); else ``Conflict``.

        A store with stock levels (even at zero: the ledger hangs under them) or with an order
        still under way stays; deactivate it instead (``active: false``). The checks are
        queries before the delete, which carries the version read: a level created or an order
        placed in the instant between them is not seen (docs/contract.md, "Delete of a
        referenced store", says what that leaves behind).
        """

        def write(current: Versioned[Store]) -> None:
            if self._references.holds_stock(store_id):
                raise Conflict(
                    f"store {store_id} still holds stock levels; deactivate it instead "
                    "(PATCH active=false keeps its inventory and ledger)"
                )
            if self._references.has_open_orders(store_id):
                raise Conflict(f"store {store_id} still has open orders")
            self._repo.delete(store_id, expected_version=current.version)

        versioned_write(
            lambda: self._repo.get(store_id),
            write,
            expected_version=expected_version,
            subject=f"store {store_id}",
            what=f"deleting store {store_id}",
            backoff=self._backoff,
            sleep=self._sleep,
        )

    def _every(self, *, include_inactive: bool) -> Sequence[Store]:
        stores = self._repo.every(active_only=not include_inactive, limit=MAX_STORES + 1)
        if len(stores) > MAX_STORES:  # only if concurrent creates raced past the check
            log.warning("more than %d stores: the near search sees the first", MAX_STORES)
        return stores[:MAX_STORES]


def _encode_near_cursor(distance: float, store_id: str) -> str:
    return encode_cursor(["near", distance, store_id])


def _decode_near_cursor(cursor: str) -> tuple[float, str]:
    tag, distance, store_id = decode_cursor(cursor, arity=3)
    if (
        tag != "near"
        or not isinstance(distance, int | float)
        or isinstance(distance, bool)
        or not math.isfinite(distance)
        or not isinstance(store_id, str)
    ):
        raise refused()
    return float(distance), store_id
