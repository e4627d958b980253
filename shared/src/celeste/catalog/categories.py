"""Categories: the catalogue tree, its fields and the rules that keep it a tree."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from celeste.kernel.errors import Conflict, ValidationFailed
from celeste.kernel.ids import DocId

#: Deepest allowed tree; it bounds every ancestor walk.
MAX_DEPTH = 16

Slug = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", min_length=1, max_length=100)
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=5000)]
SortOrder = Annotated[int, Field(ge=-1_000_000, le=1_000_000, strict=True)]


class CategoryCreate(BaseModel):
    """Body of ``POST /categories``."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    slug: Slug
    description: Description = ""
    parent_id: DocId | None = None
    sort_order: SortOrder = 0
    active: StrictBool = True


class CategoryPatch(BaseModel):
    """Body of ``PATCH /categories/{id}``: only fields sent change (``parent_id: null``: root)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    slug: Slug | None = None
    description: Description | None = None
    parent_id: DocId | None = None
    sort_order: SortOrder | None = None
    active: StrictBool | None = None

    def changes(self) -> dict[str, object]:
        """The fields the client sent, ``null`` only where ``null`` means something."""
        sent = self.model_dump(exclude_unset=True)
        for name in ("name", "slug", "description", "sort_order", "active"):
            if name in sent and sent[name] is None:
                raise ValidationFailed.on(name, "may not be null")
        return sent


class Category(BaseModel):
    """A stored category."""

    id: str
    name: str
    slug: str
    description: str = ""
    parent_id: str | None = None
    sort_order: int = 0
    active: bool = True
    created_at: datetime
    updated_at: datetime


def check_parent(
    *, category_id: str | None, parent_id: str | None, parent_of: Callable[[str], str | None]
) -> None:
    """Refuse a parent that would make ``category_id`` its own ancestor or the tree too deep.

    ``parent_of(id)`` returns the parent id of an existing category and raises ``NotFound`` for
    an unknown one; the caller turns that into a validation error on ``parent_id``.
    """
    if parent_id is None:
        return
    if parent_id == category_id:
        raise ValidationFailed.on("parent_id", "a category cannot be its own parent")
    depth = 1
    ancestor: str | None = parent_id
    while ancestor is not None:
        if ancestor == category_id:
            raise Conflict(f"moving under {parent_id} would create a cycle")
        depth += 1
        if depth > MAX_DEPTH:
            raise ValidationFailed.on("parent_id", f"the tree may be at most {MAX_DEPTH} deep")
        ancestor = parent_of(ancestor)


def ancestry(parents: Mapping[str, str | None], category_id: str) -> tuple[str, ...]:
    """``category_id`` followed by its ancestors, nearest first (stops at a broken link)."""
    path: list[str] = []
    current: str | None = category_id
    while current is not None and current not in path and len(path) < MAX_DEPTH:
        path.append(current)
        current = parents.get(current)
    return tuple(path)


def descendants(parents: Mapping[str, str | None], root: str) -> set[str]:
    """``root`` and every category below it."""
    children: dict[str | None, list[str]] = {}
    for child, parent in parents.items():
        children.setdefault(parent, []).append(child)
    found = {root}
    frontier = [root]
    while frontier:
        for child in children.get(frontier.pop(), []):
            if child not in found:
                found.add(child)
                frontier.append(child)
    return found
