"""Firestore repository of categories; slugs are claimed in ``category_slugs`` atomically.

Anything filed under a category (a child, a product) *links* it in the same commit: an update
that requires the category to exist and increments its ``revision``, so its version moves. A
delete carries the version it read, so a delete racing a link either sees the new child or
product (409) or makes the link fail (the linker re-checks: 400). Moves also guard every
ancestor they read the same way, so two moves cannot close a cycle between them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from celeste.catalog.categories import Category
from celeste.kernel.errors import NotFound
from celeste.kernel.paging import Page
from celeste.kernel.versions import Versioned
from celeste_functions.adapters.firestore import (
    QueryShape,
    keyset_page,
    precondition,
    version_of,
)
from celeste_functions.adapters.products import any_filed_under

if TYPE_CHECKING:
    from google.cloud import firestore

    from celeste_functions.adapters.writer import Batch, FirestoreWriter

CATEGORIES = "categories"
SLUGS = "category_slugs"

_ALL = QueryShape(CATEGORIES, order=("sort_order", "__name__"))
_ACTIVE = QueryShape(CATEGORIES, equals=("active",), order=("sort_order", "__name__"))
_BY_PARENT = QueryShape(CATEGORIES, equals=("parent_id",), order=("sort_order", "__name__"))
_ACTIVE_BY_PARENT = QueryShape(
    CATEGORIES, equals=("active", "parent_id"), order=("sort_order", "__name__")
)
_CHILD = QueryShape(CATEGORIES, equals=("parent_id",))
#: The whole tree as ``{id: parent_id}`` (the pricing snapshot holds all of it).
_TREE = QueryShape(CATEGORIES)
#: Categories are a small tree; the snapshot holds all of them.
MAX_CATEGORIES = 5000


def category_parents(client: firestore.Client) -> dict[str, str | None]:
    """Every category's parent id (``None`` for a root), reading only ``parent_id``."""
    query = _TREE.build(client.collection(CATEGORIES)).select(["parent_id"])
    return {
        s.id: (s.to_dict() or {}).get("parent_id") for s in query.limit(MAX_CATEGORIES).stream()
    }


class FirestoreCategories:
    """``CategoryRepository`` on Firestore."""

    def __init__(self, *, client: Callable[[], firestore.Client], writer: FirestoreWriter) -> None:
        self._client = client
        self._writer = writer

    def _col(self, name: str = CATEGORIES) -> firestore.CollectionReference:
        return self._client().collection(name)

    def get(self, category_id: str) -> Versioned[Category]:
        snapshot = self._col().document(category_id).get()
        if not snapshot.exists:
            raise NotFound(f"no category {category_id}")
        return Versioned(_category(snapshot.id, snapshot.to_dict() or {}), version_of(snapshot))

    def list(
        self,
        *,
        parent_id: str | None,
        root_only: bool,
        active_only: bool,
        limit: int,
        cursor: str | None,
    ) -> Page[Category]:
        equals: dict[str, Any] = {}
        if active_only:
            equals["active"] = True
        if parent_id is not None or root_only:
            equals["parent_id"] = parent_id
        shape = {
            (): _ALL,
            ("active",): _ACTIVE,
            ("parent_id",): _BY_PARENT,
            ("active", "parent_id"): _ACTIVE_BY_PARENT,
        }[tuple(sorted(equals))]
        return keyset_page(
            shape.build(self._col(), equals=equals),
            collection=self._col(),
            order_field="sort_order",
            limit=limit,
            cursor=cursor,
            parse=lambda s: _category(s.id, s.to_dict() or {}),
            key=lambda c: c.sort_order,
            value_type=int,
        )

    def create(self, category: Category) -> Versioned[Category]:
        client = self._client()
        with self._writer.batch(conflict=f"slug {category.slug!r} is taken") as batch:
            slug = client.collection(SLUGS).document(category.slug)
            batch.create(slug, {"category_id": category.id})
            batch.create(self._col().document(category.id), _data(category))
            if category.parent_id is not None:
                link(batch, client, category.parent_id)
        return self.get(category.id)

    def replace(
        self,
        category: Category,
        *,
        previous_slug: str,
        expected_version: str | None,
        guard: Mapping[str, str] | None = None,
    ) -> Versioned[Category]:
        client = self._client()
        ref = self._col().document(category.id)
        option = precondition(client, expected_version)
        with self._writer.batch(conflict=f"slug {category.slug!r} is taken") as batch:
            for ancestor_id, version in sorted((guard or {}).items()):
                link(batch, client, ancestor_id, expected_version=version)
            if category.slug != previous_slug:
                slugs = client.collection(SLUGS)
                batch.create(slugs.document(category.slug), {"category_id": category.id})
                batch.delete(slugs.document(previous_slug))
            batch.update(ref, _data(category), option=option)
        return self.get(category.id)

    def delete(self, category_id: str, *, slug: str, expected_version: str | None) -> None:
        client = self._client()
        option = precondition(client, expected_version, delete=True)
        with self._writer.batch() as batch:
            batch.delete(self._col().document(category_id), option=option)
            batch.delete(client.collection(SLUGS).document(slug))

    def has_children(self, category_id: str) -> bool:
        query = _CHILD.build(self._col(), equals={"parent_id": category_id})
        return any(True for _ in query.limit(1).stream())

    def has_products(self, category_id: str) -> bool:
        return any_filed_under(self._client(), category_id)


def link(
    batch: Batch,
    client: firestore.Client,
    category_id: str,
    *,
    expected_version: str | None = None,
) -> None:
    """Add to ``batch`` the write that files something under ``category_id``: it fails the
    commit when the category is gone (or, with ``expected_version``, changed) and moves its
    version. Products use it too: this module is the one writer of ``categories``."""
    from google.cloud import firestore as fs

    ref = client.collection(CATEGORIES).document(category_id)
    batch.update(ref, {"revision": fs.Increment(1)}, option=precondition(client, expected_version))


def _data(category: Category) -> dict[str, Any]:
    return category.model_dump(exclude={"id"})


def _category(category_id: str, data: dict[str, Any]) -> Category:
    data.pop("revision", None)
    return Category(id=category_id, **data)
