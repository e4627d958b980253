"""Ports of the catalogue: categories, products (and what keeps a variant) and stores."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Protocol

from celeste.catalog.categories import Category
from celeste.catalog.products import Product
from celeste.catalog.stores import Store, StoreFacts
from celeste.kernel.events import Event
from celeste.kernel.paging import Page
from celeste.kernel.versions import Versioned


class CategoryRepository(Protocol):
    """Storage of categories; slug uniqueness is enforced atomically by the store."""

    def get(self, category_id: str) -> Versioned[Category]:
        """The category, or ``NotFound``."""
        ...

    def list(
        self,
        *,
        parent_id: str | None,
        root_only: bool,
        active_only: bool,
        limit: int,
        cursor: str | None,
    ) -> Page[Category]:
        """Categories by ``sort_order`` then id; ``parent_id``/``root_only`` filter by parent."""
        ...

    def create(self, category: Category) -> Versioned[Category]:
        """Store a new category; ``Conflict`` if its slug is taken. A parent is linked in the
        same commit (it must still exist, else ``PreconditionFailed``; its version moves)."""
        ...

    def replace(
        self,
        category: Category,
        *,
        previous_slug: str,
        expected_version: str | None,
        guard: Mapping[str, str] | None = None,
    ) -> Versioned[Category]:
        """Overwrite; ``Conflict`` on a taken slug, ``PreconditionFailed`` on a stale version.

        ``guard`` maps the ids of other categories the decision read (a move's new ancestors)
        to the versions read: the commit fails with ``PreconditionFailed`` if any of them
        changed or vanished, and moves each one's version (so concurrent moves serialise).
        """
        ...

    def delete(self, category_id: str, *, slug: str, expected_version: str | None) -> None:
        """Remove the category and free its slug; ``PreconditionFailed`` on a stale version."""
        ...

    def has_children(self, category_id: str) -> bool:
        """Whether any category names this one as parent."""
        ...

    def has_products(self, category_id: str) -> bool:
        """Whether any product is filed under this category."""
        ...


class ProductRepository(Protocol):
    """Storage of products; SKU uniqueness is enforced atomically by the store."""

    def get(self, product_id: str) -> Versioned[Product]:
        """The product, or ``NotFound``."""
        ...

    def get_many(self, product_ids: Sequence[str]) -> dict[str, Product]:
        """The products that exist among ``product_ids`` (one batched read)."""
        ...

    def page(
        self,
        *,
        category_ids: Sequence[str] | None,
        active_only: bool,
        limit: int,
        cursor: str | None,
    ) -> Page[Product]:
        """Products by case-folded name then id; ``category_ids`` (≤ 30) filters by category."""
        ...

    def scan(
        self, *, category_ids: Sequence[str] | None, active_only: bool, limit: int
    ) -> list[Product]:
        """Up to ``limit`` matching products by name (for filters computed in memory)."""
        ...

    def create(self, product: Product, *, event: Event) -> Versioned[Product]:
        """Store a new product and create ``event`` (``product.created``) in the same commit;
        ``Conflict`` if its SKU is taken. Its category is linked in the
        same commit (it must still exist, else ``PreconditionFailed``; its version moves), so a
        racing category delete either sees the product or makes this create re-check."""
        ...

    def replace(
        self,
        product: Product,
        *,
        previous_skus: Collection[str],
        expected_version: str | None,
        category_changed: bool = False,
        event: Event,
    ) -> Versioned[Product]:
        """Overwrite, creating ``event`` (the write's, ``catalog.events``) in the same commit
        (``Conflict`` if it exists: the revision was written already). The SKUs it no longer
        has (of ``previous_skus``) are freed and new ones claimed (``Conflict`` on a taken
        one), ``PreconditionFailed`` on a stale version. With ``category_changed`` the new
        category is linked as ``create`` links it."""
        ...

    def by_variant(self, variant_id: str) -> Product | None:
        """The product that sells variant ``variant_id`` (a product's own id names its only
        variant when it has no options), or ``None``."""
        ...


class VariantUses(Protocol):
    """What keeps a variant from being deleted."""

    def in_use(self, variant_id: str) -> str | None:
        """Why the variant may not go (e.g. ``"holds stock at store s1"``), or ``None``."""
        ...


class StoreReferences(Protocol):
    """What still refers to a store: its stock levels and its open orders."""

    def holds_stock(self, store_id: str) -> bool:
        """Whether any stock level (``stores/{id}/inventory``) exists at the store."""
        ...

    def has_open_orders(self, store_id: str) -> bool:
        """Whether an order at the store is still under way (``orders.OPEN``)."""
        ...


class StoreRepository(Protocol):
    """Storage of stores."""

    def get(self, store_id: str) -> Versioned[Store]:
        """The store, or ``NotFound``."""
        ...

    def list(self, *, active_only: bool, limit: int, cursor: str | None) -> Page[Store]:
        """Stores by ``name`` then id."""
        ...

    def every(self, *, active_only: bool, limit: int) -> Sequence[Store]:
        """Up to ``limit`` stores (the near search reads them all and measures in memory)."""
        ...

    def count(self) -> int:
        """How many stores exist, active or not."""
        ...

    def create(self, store: Store) -> Versioned[Store]:
        """Store a new store."""
        ...

    def replace(self, store: Store, *, expected_version: str | None) -> Versioned[Store]:
        """Overwrite; ``PreconditionFailed`` on a stale version or a vanished store."""
        ...

    def delete(self, store_id: str, *, expected_version: str | None) -> None:
        """Remove the store; ``PreconditionFailed`` on a stale version or a vanished store."""
        ...


class StoreDirectory(Protocol):
    """The facts orders, quotes and inventory need about a store."""

    def store_facts(self, store_id: str) -> StoreFacts | None:
        """Whether ``stores/{id}`` is active, offers pickup, and its country; ``None`` when
        there is no such store."""
        ...
