"""Firestore repository of stock: ``stores/{store_id}/inventory/{variant_id}`` and its ledger
``.../movements/{movement_id}``, including the availability the catalogue shows."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from celeste.inventory.records import MovementRecord, StockRecord
from celeste.kernel.cursors import decode_cursor, encode_cursor, refused
from celeste.kernel.errors import NotFound
from celeste.kernel.ids import is_valid_id
from celeste.kernel.paging import Page
from celeste.kernel.versions import Versioned
from celeste_functions.adapters.firestore import (
    QueryShape,
    document_path,
    keyset_page,
    version_of,
)
from celeste_functions.adapters.stores import STORES

if TYPE_CHECKING:
    from google.cloud import firestore

INVENTORY = "inventory"
MOVEMENTS = "movements"

_ID_ORDER = ("__name__",)
#: With a store: a query on that store's ``inventory`` (single-field indexes serve equalities).
_AT_STORE = {
    filters: QueryShape(INVENTORY, equals=filters, order=_ID_ORDER)
    for filters in [(), ("product_id",), ("low_stock",), ("product_id", "low_stock")]
}
#: Across stores: a collection-group query (each filter needs a COLLECTION_GROUP field index).
_ACROSS_STORES = {
    filters: QueryShape(INVENTORY, equals=filters, order=_ID_ORDER, group=True)
    for filters in [(), ("product_id",), ("low_stock",), ("product_id", "low_stock")]
}
#: Every store's level of one variant (a COLLECTION_GROUP field index on ``variant_id``).
_OF_VARIANT = QueryShape(INVENTORY, equals=("variant_id",), group=True)
_LEDGER = QueryShape(MOVEMENTS, order=("at", "__name__"), descending=True)


def level_ref(client: firestore.Client, store_id: str, variant_id: str) -> Any:
    """The level document of a variant at a store (a product without options: its own id)."""
    return client.collection(STORES).document(store_id).collection(INVENTORY).document(variant_id)


def movement_ref(client: firestore.Client, row: MovementRecord) -> Any:
    """The ledger document of a movement."""
    return level_ref(client, row.store_id, row.variant_id).collection(MOVEMENTS).document(row.id)


def level_data(record: StockRecord) -> dict[str, Any]:
    """A level as stored: ``available`` and ``low_stock`` are kept for queries."""
    return {
        **record.model_dump(),
        "available": record.available,
        "low_stock": record.low_stock,
    }


def movement_data(row: MovementRecord) -> dict[str, Any]:
    """A ledger row as stored (the id is the document id)."""
    return row.model_dump(exclude={"id"})


def _record(snapshot: Any) -> StockRecord:
    data = snapshot.to_dict() or {}
    _, store_id, _, variant_id = document_path(snapshot).split("/")  # stores/S/inventory/V
    # Levels written before variants are keyed by (and name) their product: its one variant.
    product_id = data.get("product_id", variant_id)
    return StockRecord.model_validate(
        {**data, "store_id": store_id, "product_id": product_id, "variant_id": variant_id}
    )


def _movement(snapshot: Any) -> MovementRecord:
    data = snapshot.to_dict() or {}
    _, store_id, _, variant_id, _, row_id = document_path(snapshot).split("/")
    product_id = data.get("product_id", variant_id)
    return MovementRecord.model_validate(
        {
            **data,
            "id": row_id,
            "product_id": product_id,
            "variant_id": variant_id,
            "store_id": store_id,
        }
    )


class FirestoreInventory:
    """``InventoryStore`` and ``StockReader`` on Firestore."""

    def __init__(self, *, client: Callable[[], firestore.Client]) -> None:
        self._client = client

    def levels(self, *, store_id: str, keys: Sequence[str]) -> dict[str, Versioned[StockRecord]]:
        client = self._client()
        refs = [level_ref(client, store_id, key) for key in dict.fromkeys(keys)]
        return {
            snapshot.id: Versioned(_record(snapshot), version_of(snapshot))
            for snapshot in client.get_all(refs)
            if snapshot.exists
        }

    def available(self, *, store_id: str, keys: Sequence[str]) -> dict[str, int]:
        found = self.levels(store_id=store_id, keys=keys)
        return {key: found[key].value.available if key in found else 0 for key in keys}

    def stocked_at(self, variant_id: str) -> str | None:
        """A store that holds or reserves units of ``variant_id``, or ``None`` (one query over
        every store's levels of it: a product's variants have a level per store at most)."""
        query = _OF_VARIANT.build(
            self._client().collection_group(INVENTORY), equals={"variant_id": variant_id}
        )
        for record in (_record(s) for s in query.stream()):
            if record.on_hand or record.reserved:
                return record.store_id
        return None

    def has_levels(self, store_id: str) -> bool:
        """Whether any level exists at ``store_id`` (one document read at most)."""
        client = self._client()
        levels = client.collection(STORES).document(store_id).collection(INVENTORY)
        return any(True for _ in levels.limit(1).stream())

    def get(self, *, store_id: str, variant_id: str) -> Versioned[StockRecord]:
        snapshot = level_ref(self._client(), store_id, variant_id).get()
        if not snapshot.exists:
            raise NotFound(f"no stock of {variant_id} at store {store_id}")
        return Versioned(_record(snapshot), version_of(snapshot))

    def page(
        self,
        *,
        store_id: str | None,
        product_id: str | None,
        low_stock: bool | None,
        limit: int,
        cursor: str | None,
    ) -> Page[StockRecord]:
        client = self._client()
        equals: dict[str, Any] = {}
        if product_id is not None:
            equals["product_id"] = product_id
        if low_stock is not None:
            equals["low_stock"] = low_stock
        filters = tuple(name for name in ("product_id", "low_stock") if name in equals)
        if store_id is not None:
            base = client.collection(STORES).document(store_id).collection(INVENTORY)
            query = _AT_STORE[filters].build(base, equals=equals)
        else:
            query = _ACROSS_STORES[filters].build(client.collection_group(INVENTORY), equals=equals)
        if cursor:
            last_store, last_variant = _decode_level_cursor(cursor)
            query = query.start_after({"__name__": level_ref(client, last_store, last_variant)})
        snapshots = list(query.limit(limit + 1).stream())
        items = [_record(s) for s in snapshots[:limit]]
        next_cursor = None
        if len(snapshots) > limit:
            next_cursor = encode_cursor([items[-1].store_id, items[-1].variant_id])
        return Page(items, next_cursor)

    def movements(
        self, *, store_id: str, variant_id: str, limit: int, cursor: str | None
    ) -> Page[MovementRecord]:
        client = self._client()
        ledger = level_ref(client, store_id, variant_id).collection(MOVEMENTS)
        return keyset_page(
            _LEDGER.build(ledger),
            collection=ledger,
            order_field="at",
            limit=limit,
            cursor=cursor,
            parse=_movement,
            key=lambda movement: movement.at,
            value_type=datetime,
        )

    def every_level(self) -> Iterator[StockRecord]:
        for snapshot in self._client().collection_group(INVENTORY).stream():
            yield _record(snapshot)

    def every_movement(self) -> Iterator[MovementRecord]:
        for snapshot in self._client().collection_group(MOVEMENTS).stream():
            yield _movement(snapshot)


def _decode_level_cursor(cursor: str) -> tuple[str, str]:
    store_id, variant_id = decode_cursor(cursor, arity=2)
    if not all(isinstance(v, str) and is_valid_id(v) for v in (store_id, variant_id)):
        raise refused()
    return str(store_id), str(variant_id)
