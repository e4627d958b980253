"""Category use cases: create, change, delete and read the catalogue tree."""

from __future__ import annotations

import time
from collections.abc import Callable

from celeste.catalog.categories import Category, CategoryCreate, CategoryPatch, check_parent
from celeste.kernel.clock import Clock, utcnow
from celeste.kernel.errors import Conflict, NotFound, ValidationFailed
from celeste.kernel.ids import new_id
from celeste.kernel.paging import Page
from celeste.kernel.versions import Versioned
from celeste.ports.catalog import CategoryRepository
from celeste.services.retry import REQUEST, Backoff, optimistic
from celeste.services.versioned import versioned_write


class CategoryService:
    """The categories resource's rules, over a ``CategoryRepository``."""

    def __init__(
        self,
        *,
        repository: CategoryRepository,
        clock: Clock = utcnow,
        backoff: Backoff = REQUEST,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._backoff = backoff
        self._sleep = sleep
        self._repo = repository
        self._clock = clock

    def get(self, category_id: str, *, include_inactive: bool) -> Versioned[Category]:
        """One category; an inactive one exists only for admins."""
        found = self._repo.get(category_id)
        if not found.value.active and not include_inactive:
            raise NotFound(f"no category {category_id}")
        return found

    def list(
        self,
        *,
        parent_id: str | None,
        root_only: bool,
        include_inactive: bool,
        limit: int,
        cursor: str | None,
    ) -> Page[Category]:
        """A page of categories, optionally the children of one parent (or the roots)."""
        return self._repo.list(
            parent_id=parent_id,
            root_only=root_only,
            active_only=not include_inactive,
            limit=limit,
            cursor=cursor,
        )

    def create(self, request: CategoryCreate) -> Versioned[Category]:
        """Add a category under an existing parent.

        The store files it under the parent atomically (the parent must still exist at commit
        and its version moves), so a racing delete of the parent either sees the child (409) or
        makes this create fail and re-check (400).
        """
        category_id = new_id()
        now = self._clock()
        category = Category(id=category_id, created_at=now, updated_at=now, **request.model_dump())

        def attempt() -> Versioned[Category]:
            self._check_parent(category_id=category_id, parent_id=request.parent_id)
            return self._repo.create(category)

        return optimistic(
            attempt,
            backoff=self._backoff,
            what=f"creating category {category_id}",
            sleep=self._sleep,
        )

    def update(
        self, category_id: str, patch: CategoryPatch, *, expected_version: str | None
    ) -> Versioned[Category]:
        """Apply the fields sent; moving under a descendant (a cycle) is a conflict.

        A move is checked against the new parent's ancestors as read, and the write carries a
        version precondition on each of them (``guard``): two concurrent moves that would close
        a cycle between them cannot both commit, the loser re-reads and sees the cycle.
        """
        changes = patch.changes()

        def write(current: Versioned[Category]) -> Versioned[Category]:
            guard: dict[str, str] = {}
            if "parent_id" in changes and patch.parent_id != current.value.parent_id:
                guard = self._check_parent(category_id=category_id, parent_id=patch.parent_id)
            updated = current.value.model_copy(update={**changes, "updated_at": self._clock()})
            return self._repo.replace(
                updated,
                previous_slug=current.value.slug,
                expected_version=current.version,
                guard=guard,
            )

        return versioned_write(
            lambda: self._repo.get(category_id),
            write,
            expected_version=expected_version,
            subject=f"category {category_id}",
            what=f"updating category {category_id}",
            backoff=self._backoff,
            sleep=self._sleep,
        )

    def delete(self, category_id: str, *, expected_version: str | None) -> None:
        """Remove a category that nothing refers to any more."""

        def write(current: Versioned[Category]) -> None:
            if self._repo.has_children(category_id):
                raise Conflict(f"category {category_id} still has child categories")
            if self._repo.has_products(category_id):
                raise Conflict(f"category {category_id} still has products")
            self._repo.delete(
                category_id, slug=current.value.slug, expected_version=current.version
            )

        versioned_write(
            lambda: self._repo.get(category_id),
            write,
            expected_version=expected_version,
            subject=f"category {category_id}",
            what=f"deleting category {category_id}",
            backoff=self._backoff,
            sleep=self._sleep,
        )

    def _check_parent(self, *, category_id: str, parent_id: str | None) -> dict[str, str]:
        """Check the new parent; returns the version of every ancestor read (the guard)."""
        read: dict[str, str] = {}

        def parent_of(ancestor_id: str) -> str | None:
            found = self._repo.get(ancestor_id)
            read[ancestor_id] = found.version
            return found.value.parent_id

        try:
            check_parent(category_id=category_id, parent_id=parent_id, parent_of=parent_of)
        except NotFound:
            raise ValidationFailed.on("parent_id", f"no category {parent_id}") from None
        return read
