"""Firestore repository of products; SKUs are claimed in ``product_skus`` atomically, and each
write creates its event (``events/product-{id}-{revision}``, owned by ``adapters.events``) in
the same batch."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

from celeste.catalog.products import Product
from celeste.kernel.errors import NotFound
from celeste.kernel.events import Event
from celeste.kernel.paging import Page
from celeste.kernel.versions import Versioned
from celeste_functions.adapters.events import event_data, event_ref
from celeste_functions.adapters.firestore import (
    QueryShape,
    fields,
    keyset_page,
    precondition,
    read_query,
    version_of,
)

if TYPE_CHECKING:
    from google.cloud import firestore

    from celeste_functions.adapters.writer import Batch, FirestoreWriter

PRODUCTS = "products"
SKUS = "product_skus"
_ORDER = ("name_key", "__name__")
_SHAPES = {
    (False, False): QueryShape(PRODUCTS, order=_ORDER),
    (True, False): QueryShape(PRODUCTS, equals=("active",), order=_ORDER),
    (False, True): QueryShape(PRODUCTS, members=("category_id",), order=_ORDER),
    (True, True): QueryShape(PRODUCTS, equals=("active",), members=("category_id",), order=_ORDER),
}
IN_LIMIT = 30
#: Whether any product is filed under a category (categories asks before deleting one).
_FILED_UNDER = QueryShape(PRODUCTS, equals=("category_id",))
#: The product selling a variant (``array_contains`` on the derived ``variant_ids``).
_BY_VARIANT = QueryShape(PRODUCTS, contains=("variant_ids",))


def any_filed_under(client: firestore.Client, category_id: str) -> bool:
    """Whether any product names ``category_id`` as its category."""
    query = _FILED_UNDER.build(client.collection(PRODUCTS), equals={"category_id": category_id})
    return any(True for _ in query.limit(1).stream())


class FirestoreProducts:
    """``ProductRepository`` on Firestore."""

    def __init__(self, *, client: Callable[[], firestore.Client], writer: FirestoreWriter) -> None:
        self._client = client
        self._writer = writer

    def _col(self) -> firestore.CollectionReference:
        return self._client().collection(PRODUCTS)

    def get(self, product_id: str) -> Versioned[Product]:
        snapshot = self._col().document(product_id).get()
        if not snapshot.exists:
            raise NotFound(f"no product {product_id}")
        return Versioned(_product(snapshot.id, fields(snapshot)), version_of(snapshot))

    def get_many(self, product_ids: Sequence[str]) -> dict[str, Product]:
        refs = [self._col().document(pid) for pid in dict.fromkeys(product_ids)]
        found: dict[str, Product] = {}
        for snapshot in self._client().get_all(refs):
            if snapshot.exists:
                found[snapshot.id] = _product(snapshot.id, fields(snapshot))
        return found

    def _query(self, *, category_ids: Sequence[str] | None, active_only: bool) -> Any:
        shape = _SHAPES[(active_only, category_ids is not None)]
        equals = {"active": True} if active_only else {}
        members = {"category_id": list(category_ids)} if category_ids is not None else {}
        return shape.build(self._col(), equals=equals, members=members)

    def page(
        self,
        *,
        category_ids: Sequence[str] | None,
        active_only: bool,
        limit: int,
        cursor: str | None,
    ) -> Page[Product]:
        if category_ids is not None and len(category_ids) > IN_LIMIT:
            raise ValueError(f"at most {IN_LIMIT} categories in one page query")
        return keyset_page(
            self._query(category_ids=category_ids, active_only=active_only),
            collection=self._col(),
            order_field="name_key",
            limit=limit,
            cursor=cursor,
            parse=lambda s: _product(s.id, fields(s)),
            key=lambda p: p.name_key,
            value_type=str,
        )

    def scan(
        self, *, category_ids: Sequence[str] | None, active_only: bool, limit: int
    ) -> list[Product]:
        chunks: list[Sequence[str] | None] = [None]
        if category_ids is not None:
            ids = list(category_ids)
            chunks = [ids[i : i + IN_LIMIT] for i in range(0, len(ids), IN_LIMIT)] or [[]]
        found: list[Product] = []
        for chunk in chunks:
            if chunk is not None and not chunk:
                continue
            query = self._query(category_ids=chunk, active_only=active_only)
            found += [_product(s.id, fields(s)) for s in read_query(query.limit(limit))]
        found.sort(key=lambda p: (p.name_key, p.id))
        return found[:limit]

    def by_variant(self, variant_id: str) -> Product | None:
        own = self._col().document(variant_id).get()
        if own.exists:
            product = _product(own.id, fields(own))
            return product if variant_id in product.variant_ids else None
        query = _BY_VARIANT.build(self._col(), contains={"variant_ids": variant_id})
        for snapshot in read_query(query.limit(1)):
            return _product(snapshot.id, fields(snapshot))
        return None

    def create(self, product: Product, *, event: Event) -> Versioned[Product]:
        client = self._client()
        with self._writer.batch(conflict=_taken(product.skus)) as batch:
            for sku in sorted(product.skus):
                batch.create(client.collection(SKUS).document(sku), _sku_claim(product, sku))
            batch.create(self._col().document(product.id), _data(product))
            batch.create(event_ref(client, event.id), event_data(event))
            _link_category(batch, client, product.category_id)
        return self.get(product.id)

    def replace(
        self,
        product: Product,
        *,
        previous_skus: Collection[str],
        expected_version: str | None,
        category_changed: bool = False,
        event: Event,
    ) -> Versioned[Product]:
        client = self._client()
        option = precondition(client, expected_version)
        claimed = product.skus - set(previous_skus)
        # With no SKU to claim, a create that finds its document is the write's event: the
        # revision was written by a racing write, a lost race (re-read, decide again).
        with self._writer.batch(conflict=_taken(claimed) if claimed else None) as batch:
            if category_changed:
                _link_category(batch, client, product.category_id)
            skus = client.collection(SKUS)
            for sku in sorted(claimed):
                batch.create(skus.document(sku), _sku_claim(product, sku))
            for sku in sorted(set(previous_skus) - product.skus):
                batch.delete(skus.document(sku))
            batch.update(self._col().document(product.id), _data(product), option=option)
            batch.create(event_ref(client, event.id), event_data(event))
        return self.get(product.id)


def _taken(skus: Collection[str]) -> str:
    """The 409 of a batch claiming ``skus`` when one of them is claimed already."""
    if len(skus) == 1:
        return f"sku {next(iter(skus))!r} is taken"
    return "a sku of " + ", ".join(repr(s) for s in sorted(skus)) + " is taken"


def _sku_claim(product: Product, sku: str) -> dict[str, Any]:
    claim: dict[str, Any] = {"product_id": product.id}
    for variant in product.variants:
        if variant.sku == sku:
            claim["variant_id"] = variant.id
    return claim


def _data(product: Product) -> dict[str, Any]:
    # Derived fields for queries: the sort key, and the variant ids ``by_variant`` looks up.
    return {
        **product.model_dump(exclude={"id"}),
        "name_key": product.name_key,
        "variant_ids": product.variant_ids,
    }


def _product(product_id: str, data: dict[str, Any]) -> Product:
    data.pop("name_key", None)
    data.pop("variant_ids", None)
    return Product(id=product_id, **data)


def _link_category(batch: Batch, client: firestore.Client, category_id: str) -> None:
    # The categories adapter owns category documents (and imports this module for its
    # products-filed-under query), so its ``link`` write is imported when used.
    from celeste_functions.adapters.categories import link

    link(batch, client, category_id)
