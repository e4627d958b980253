"""In-memory implementations of the domain's ports, for fast unit tests (no I/O).

Each fake keeps the contract its protocol documents (and the Firestore adapter honours): atomic
uniqueness, a version that changes on every write, ``PreconditionFailed`` on a stale or vanished
version, cursor pagination in a stable order.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import threading
from collections.abc import Callable

from celeste.categories import Category
from celeste.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from celeste.ports import Page, Versioned

_versions = itertools.count(1)


def _next_version() -> str:
    """A version never handed out before in this process (so never reused after a delete)."""
    return str(next(_versions))


class InMemoryCategories:
    """``CategoryRepository`` in a dict; ``products`` maps product id -> category id.

    ``interleave(fn)`` runs ``fn`` just before the next write, standing in for a concurrent
    writer that wins the race between a service's read and its write.
    """

    def __init__(self, products: dict[str, str] | None = None) -> None:
        self.products: dict[str, str] = dict(products or {})
        self._rows: dict[str, Versioned[Category]] = {}
        self._slugs: dict[str, str] = {}
        self._lock = threading.Lock()
        self._interleaved: list[Callable[[], object]] = []
        self._interleaving = False

    # --- test helpers ------------------------------------------------------------------------

    def interleave(self, write: Callable[[], object]) -> None:
        """Run ``write`` right before the next write reaches this store (queued: one each)."""
        self._interleaved.append(write)

    def slug_owner(self, slug: str) -> str | None:
        """The id of the category holding ``slug``, if any."""
        return self._slugs.get(slug)

    def __len__(self) -> int:
        return len(self._rows)

    # --- CategoryRepository ------------------------------------------------------------------

    def get(self, category_id: str) -> Versioned[Category]:
        row = self._rows.get(category_id)
        if row is None:
            raise NotFound(f"no category {category_id}")
        return Versioned(row.value.model_copy(deep=True), row.version)

    def list(
        self,
        *,
        parent_id: str | None,
        root_only: bool,
        active_only: bool,
        limit: int,
        cursor: str | None,
    ) -> Page[Category]:
        rows = [row.value for row in self._rows.values()]
        if active_only:
            rows = [c for c in rows if c.active]
        if parent_id is not None or root_only:
            rows = [c for c in rows if c.parent_id == parent_id]
        rows.sort(key=_sort_key)
        if cursor:
            after = _decode_cursor(cursor)
            rows = [c for c in rows if _sort_key(c) > after]
        items = [c.model_copy(deep=True) for c in rows[:limit]]
        next_cursor = _encode_cursor(_sort_key(items[-1])) if len(rows) > limit else None
        return Page(items, next_cursor)

    def create(self, category: Category) -> Versioned[Category]:
        self._run_interleaved()
        with self._lock:
            if category.slug in self._slugs or category.id in self._rows:
                raise Conflict(f"slug {category.slug!r} is taken")
            self._slugs[category.slug] = category.id
            return self._store(category)

    def replace(
        self, category: Category, *, previous_slug: str, expected_version: str | None
    ) -> Versioned[Category]:
        self._run_interleaved()
        with self._lock:
            current = self._current(category.id, expected_version)
            if previous_slug != current.value.slug:
                raise AssertionError("previous_slug is not the stored slug")
            if category.slug != previous_slug:
                if category.slug in self._slugs:
                    raise Conflict(f"slug {category.slug!r} is taken")
                del self._slugs[previous_slug]
                self._slugs[category.slug] = category.id
            return self._store(category)

    def delete(self, category_id: str, *, slug: str, expected_version: str | None) -> None:
        self._run_interleaved()
        with self._lock:
            current = self._current(category_id, expected_version)
            if slug != current.value.slug:
                raise AssertionError("slug is not the stored slug")
            del self._rows[category_id]
            del self._slugs[slug]

    def has_children(self, category_id: str) -> bool:
        return any(row.value.parent_id == category_id for row in self._rows.values())

    def has_products(self, category_id: str) -> bool:
        return category_id in self.products.values()

    # --- internals ---------------------------------------------------------------------------

    def _current(self, category_id: str, expected_version: str | None) -> Versioned[Category]:
        # Like the adapter: a missing document or a stale version is a failed precondition.
        row = self._rows.get(category_id)
        if row is None:
            raise PreconditionFailed("the resource was deleted since it was read")
        if expected_version is not None and expected_version != row.version:
            raise PreconditionFailed("the resource changed since it was read")
        return row

    def _store(self, category: Category) -> Versioned[Category]:
        row = Versioned(category.model_copy(deep=True), _next_version())
        self._rows[category.id] = row
        return Versioned(row.value.model_copy(deep=True), row.version)

    def _run_interleaved(self) -> None:
        # One interleaved write per write of the code under test (not for its own writes).
        if self._interleaved and not self._interleaving:
            self._interleaving = True
            try:
                self._interleaved.pop(0)()
            finally:
                self._interleaving = False


def _sort_key(category: Category) -> tuple[int, str]:
    return (category.sort_order, category.id)


def _encode_cursor(key: tuple[int, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        sort_order, last_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed.on("cursor", "not a cursor this list returned") from None
    if not isinstance(sort_order, int) or not isinstance(last_id, str):
        raise ValidationFailed.on("cursor", "not a cursor this list returned")
    return (sort_order, last_id)
