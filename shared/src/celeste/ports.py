"""Ports: what the services need from storage, as protocols the adapters (or fakes) implement."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from celeste.categories import Category

T = TypeVar("T")


@dataclass(frozen=True)
class Versioned(Generic[T]):
    """A stored value and its opaque version, served as the ``ETag``."""

    value: T
    version: str


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list and the opaque cursor of the next page (``None`` at the end)."""

    items: list[T]
    next_cursor: str | None


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
        """Store a new category; ``Conflict`` if its slug is taken."""
        ...

    def replace(
        self, category: Category, *, previous_slug: str, expected_version: str | None
    ) -> Versioned[Category]:
        """Overwrite; ``Conflict`` on a taken slug, ``PreconditionFailed`` on a stale version."""
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
