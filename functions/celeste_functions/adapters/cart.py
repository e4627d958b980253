"""Carts and wishlists on Firestore: ``users/{uid}/cart`` and ``users/{uid}/wishlist``, one
document per variant, its id the variant id (the profile document itself belongs to
``accounts``). A product without options is its own one variant, so documents stored before
variants existed, keyed by product id and without ``variant_id``, read unchanged."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from celeste.cart.lines import CartLine, CartMerge, WishlistEntry
from celeste.kernel.errors import Contention
from celeste.kernel.paging import Page
from celeste.kernel.versions import Versioned
from celeste_functions.adapters.accounts import user_ref
from celeste_functions.adapters.firestore import (
    QueryShape,
    count_of,
    keyset_page,
    last_update_time,
    storage_errors,
    version_at,
    version_of,
)

if TYPE_CHECKING:
    from google.cloud import firestore

CART = "cart"
WISHLIST = "wishlist"

_CART_LINES = QueryShape(CART, order=("added_at", "__name__"))
_CART_ALL = QueryShape(CART)
_WISHLIST_NEWEST = QueryShape(WISHLIST, order=("added_at", "__name__"), descending=True)
_WISHLIST_ALL = QueryShape(WISHLIST)
_WISHLIST_OLDEST = QueryShape(WISHLIST, order=("added_at", "__name__"))

#: Deletes per batch when a cart is emptied (Firestore allows 500 writes in one commit).
_DELETE_BATCH = 500
#: Rounds of deletes before ``clear`` gives up on a cart that concurrent PUTs keep filling.
_CLEAR_ROUNDS = 10


class _VariantDocuments:
    """A per-customer subcollection keyed by variant id."""

    def __init__(self, *, client: Callable[[], firestore.Client], name: str) -> None:
        self._client = client
        self._name = name

    def _col(self, uid: str) -> firestore.CollectionReference:
        col: firestore.CollectionReference = user_ref(self._client(), uid).collection(self._name)
        return col

    def _count(self, uid: str, shape: QueryShape) -> int:
        with storage_errors():
            return count_of(shape.build(self._col(uid)))

    def _create(self, uid: str, variant_id: str, data: dict[str, Any]) -> str:
        with storage_errors(conflict=f"variant {variant_id} is already in the {self._name}"):
            result = self._col(uid).document(variant_id).create(data)
        return version_at(result.update_time)

    def remove(self, uid: str, variant_id: str, *, expected_version: str | None = None) -> None:
        document = self._col(uid).document(variant_id)
        with storage_errors():
            if expected_version is None:
                document.delete()
            else:
                client = self._client()
                option = client.write_option(last_update_time=last_update_time(expected_version))
                document.delete(option=option)


class FirestoreCart(_VariantDocuments):
    """``CartRepository`` on Firestore: ``users/{uid}/cart/{variant_id}``."""

    def __init__(self, *, client: Callable[[], firestore.Client]) -> None:
        super().__init__(client=client, name=CART)

    def lines(self, uid: str, *, limit: int) -> list[CartLine]:
        query = _CART_LINES.build(self._col(uid)).limit(limit)
        return [_line(s.id, s.to_dict() or {}) for s in query.stream()]

    def count(self, uid: str) -> int:
        return self._count(uid, _CART_ALL)

    def versioned_lines(self, uid: str, *, limit: int) -> list[Versioned[CartLine]]:
        query = _CART_LINES.build(self._col(uid)).limit(limit)
        return [Versioned(_line(s.id, s.to_dict() or {}), version_of(s)) for s in query.stream()]

    def create(self, uid: str, line: CartLine) -> str:
        return self._create(uid, line.variant_id, line.model_dump())

    def set_quantity(
        self, uid: str, variant_id: str, *, quantity: int, updated_at: datetime
    ) -> CartLine | None:
        from google.api_core import exceptions as gexc

        document = self._col(uid).document(variant_id)
        with storage_errors():
            try:
                document.update({"quantity": quantity, "updated_at": updated_at})
            except gexc.NotFound:
                return None
        # The update names only its own fields; read back when the line was first added and
        # whose variant it is.
        snapshot = document.get(field_paths=["added_at", "product_id"])
        stored = (snapshot.to_dict() or {}) if snapshot.exists else {}
        return CartLine(
            product_id=stored.get("product_id") or variant_id,
            variant_id=variant_id,
            quantity=quantity,
            added_at=stored.get("added_at") or updated_at,
            updated_at=updated_at,
        )

    def clear(self, uid: str) -> None:
        client = self._client()
        for _ in range(_CLEAR_ROUNDS):
            query = _CART_ALL.build(self._col(uid)).select([]).limit(_DELETE_BATCH)
            snapshots = list(query.stream())
            if not snapshots:
                return
            batch = client.batch()
            for snapshot in snapshots:
                batch.delete(snapshot.reference)
            with storage_errors():
                batch.commit()
        raise Contention("the cart kept filling while it was emptied", retry_after_s=1)


class FirestoreWishlist(_VariantDocuments):
    """``WishlistRepository`` on Firestore: ``users/{uid}/wishlist/{variant_id}``."""

    def __init__(self, *, client: Callable[[], firestore.Client]) -> None:
        super().__init__(client=client, name=WISHLIST)

    def page(self, uid: str, *, limit: int, cursor: str | None) -> Page[WishlistEntry]:
        return keyset_page(
            _WISHLIST_NEWEST.build(self._col(uid)),
            collection=self._col(uid),
            order_field="added_at",
            limit=limit,
            cursor=cursor,
            parse=lambda s: _entry(s.id, s.to_dict() or {}),
            key=lambda entry: entry.added_at,
            value_type=datetime,
        )

    def get(self, uid: str, variant_id: str) -> WishlistEntry | None:
        snapshot = self._col(uid).document(variant_id).get()
        return _entry(snapshot.id, snapshot.to_dict() or {}) if snapshot.exists else None

    def count(self, uid: str) -> int:
        return self._count(uid, _WISHLIST_ALL)

    def create(self, uid: str, entry: WishlistEntry) -> str:
        return self._create(uid, entry.variant_id, entry.model_dump())

    def versioned_entries(self, uid: str, *, limit: int) -> list[Versioned[WishlistEntry]]:
        query = _WISHLIST_OLDEST.build(self._col(uid)).limit(limit)
        return [Versioned(_entry(s.id, s.to_dict() or {}), version_of(s)) for s in query.stream()]

    def listed(self, uid: str, variant_ids: Sequence[str]) -> set[str]:
        refs = [self._col(uid).document(variant_id) for variant_id in set(variant_ids)]
        if not refs:
            return set()
        return {s.id for s in self._client().get_all(refs, field_paths=["added_at"]) if s.exists}


class FirestoreCartMerges:
    """``CartMerges`` on Firestore: a guest's cart lines and wishlist entries moved into an
    account's in one batch (creates require absence, updates and deletes the version read)."""

    def __init__(self, *, client: Callable[[], firestore.Client]) -> None:
        self._client = client

    def commit(self, merge: CartMerge) -> None:
        client = self._client()
        batch = client.batch()

        def since(version: str) -> Any:
            return client.write_option(last_update_time=last_update_time(version))

        def doc(uid: str, name: str, variant_id: str) -> Any:
            return user_ref(client, uid).collection(name).document(variant_id)

        for line in merge.add_lines:
            batch.create(doc(merge.uid, CART, line.variant_id), line.model_dump())
        for line, version in merge.raise_lines:
            changed = {"quantity": line.quantity, "updated_at": line.updated_at}
            batch.update(doc(merge.uid, CART, line.variant_id), changed, option=since(version))
        for variant_id, version in merge.take_lines:
            batch.delete(doc(merge.guest_uid, CART, variant_id), option=since(version))
        for entry in merge.add_entries:
            batch.create(doc(merge.uid, WISHLIST, entry.variant_id), entry.model_dump())
        for variant_id, version in merge.take_entries:
            batch.delete(doc(merge.guest_uid, WISHLIST, variant_id), option=since(version))
        with storage_errors(conflict=None):
            batch.commit()


def cart_line_ref(client: Any, uid: str, variant_id: str) -> Any:
    """The document of one cart line (the order writer deletes it at checkout)."""
    return user_ref(client, uid).collection(CART).document(variant_id)


def _keyed(doc_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """A stored line's or entry's fields: the document id is its variant's; one stored before
    variants existed is keyed by its product, the one implicit variant (``product_id`` there is
    the document id too)."""
    return {**data, "product_id": data.get("product_id") or doc_id, "variant_id": doc_id}


def _line(doc_id: str, data: dict[str, Any]) -> CartLine:
    return CartLine.model_validate(_keyed(doc_id, data))


def _entry(doc_id: str, data: dict[str, Any]) -> WishlistEntry:
    return WishlistEntry.model_validate(_keyed(doc_id, data))
