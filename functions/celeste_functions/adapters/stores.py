"""Firestore repository of stores (``stores/{id}``; the location is a ``{lat, lng}`` map), and
the store check orders and inventory make."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from celeste.catalog.stores import Store, StoreFacts
from celeste.kernel.errors import NotFound
from celeste.kernel.paging import Page
from celeste.kernel.versions import Versioned
from celeste_functions.adapters.firestore import (
    QueryShape,
    count_of,
    keyset_page,
    precondition,
    version_of,
)

if TYPE_CHECKING:
    from google.cloud import firestore

    from celeste_functions.adapters.writer import FirestoreWriter

STORES = "stores"

_BY_NAME = QueryShape(STORES, order=("name", "__name__"))
_ACTIVE_BY_NAME = QueryShape(STORES, equals=("active",), order=("name", "__name__"))
_EVERY = QueryShape(STORES)
_EVERY_ACTIVE = QueryShape(STORES, equals=("active",))


class FirestoreStores:
    """``StoreRepository`` on Firestore."""

    def __init__(self, *, client: Callable[[], firestore.Client], writer: FirestoreWriter) -> None:
        self._client = client
        self._writer = writer

    def _col(self) -> firestore.CollectionReference:
        return self._client().collection(STORES)

    def get(self, store_id: str) -> Versioned[Store]:
        snapshot = self._col().document(store_id).get()
        if not snapshot.exists:
            raise NotFound(f"no store {store_id}")
        return Versioned(_store(snapshot.id, snapshot.to_dict() or {}), version_of(snapshot))

    def list(self, *, active_only: bool, limit: int, cursor: str | None) -> Page[Store]:
        if active_only:
            query = _ACTIVE_BY_NAME.build(self._col(), equals={"active": True})
        else:
            query = _BY_NAME.build(self._col())
        return keyset_page(
            query,
            collection=self._col(),
            order_field="name",
            limit=limit,
            cursor=cursor,
            parse=lambda s: _store(s.id, s.to_dict() or {}),
            key=lambda store: store.name,
            value_type=str,
        )

    def every(self, *, active_only: bool, limit: int) -> Sequence[Store]:
        if active_only:
            query = _EVERY_ACTIVE.build(self._col(), equals={"active": True})
        else:
            query = _EVERY.build(self._col())
        return [_store(s.id, s.to_dict() or {}) for s in query.limit(limit).stream()]

    def count(self) -> int:
        return count_of(self._col())

    def create(self, store: Store) -> Versioned[Store]:
        with self._writer.batch(conflict=f"store {store.id} already exists") as batch:
            batch.create(self._col().document(store.id), _data(store))
        return self.get(store.id)

    def replace(self, store: Store, *, expected_version: str | None) -> Versioned[Store]:
        client = self._client()
        option = precondition(client, expected_version)  # an update requires the document
        with self._writer.batch() as batch:
            batch.update(self._col().document(store.id), _data(store), option=option)
        return self.get(store.id)

    def delete(self, store_id: str, *, expected_version: str | None) -> None:
        client = self._client()
        option = precondition(client, expected_version, delete=True)
        with self._writer.batch() as batch:
            batch.delete(self._col().document(store_id), option=option)


class FirestoreStoreDirectory:
    """``StoreDirectory``: reads ``stores/{id}`` (its ``active`` and ``pickup`` flags and its
    country only)."""

    def __init__(self, *, client: Callable[[], firestore.Client]) -> None:
        self._client = client

    def store_facts(self, store_id: str) -> StoreFacts | None:
        snapshot = (
            self._client()
            .collection(STORES)
            .document(store_id)
            .get(["active", "pickup", "address.country"])
        )
        if not snapshot.exists:
            return None
        data = snapshot.to_dict() or {}
        return StoreFacts(
            active=data.get("active", True) is True,
            pickup=data.get("pickup", False) is True,
            country=str((data.get("address") or {}).get("country", "")),
        )


def _data(store: Store) -> dict[str, Any]:
    return store.model_dump(exclude={"id"})


def _store(store_id: str, data: dict[str, Any]) -> Store:
    return Store(id=store_id, **data)
