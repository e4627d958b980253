"""The ``categories`` function: the public catalogue tree, edited by admins."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from celeste.catalog.categories import Category, CategoryCreate, CategoryPatch
from celeste.kernel.ids import ID_PATTERN
from celeste_functions.cache_scopes import CATEGORIES
from celeste_functions.composition import services
from celeste_functions.http.router import Reply, RequestContext, Router
from celeste_functions.resources.common import (
    PAGES,
    ListParams,
    cached_reply,
    page_body,
    page_family,
    resource_reply,
)

router = Router("categories")


class CategoryListParams(ListParams):
    """``?parent_id=`` filters by parent; an empty ``parent_id=`` lists the roots."""

    model_config = ConfigDict(extra="forbid")

    parent_id: Annotated[str, StringConstraints(pattern=f"({ID_PATTERN})|^$")] | None = None


class _NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@router.get("/", query=CategoryListParams)
def list_categories(ctx: RequestContext, query: CategoryListParams) -> Reply:
    """Public: categories by ``sort_order``; admins also see inactive ones."""
    admin = ctx.is_admin

    def compute() -> Reply:
        page = services.get().categories.list(
            parent_id=query.parent_id or None,
            root_only=query.parent_id == "",
            include_inactive=admin,
            limit=query.limit,
            cursor=query.cursor,
        )
        return Reply(page_body(page))

    key = f"list:{'admin' if admin else 'public'}:{query.model_dump_json()}"
    # Children of a parent: any id is a valid filter (an unknown one lists nothing).
    bounded = PAGES if query.parent_id else page_family(query)
    return cached_reply(scope=CATEGORIES, key=key, compute=compute, bounded=bounded)


@router.get("/{category_id}", query=_NoParams, response=Category)
def get_category(ctx: RequestContext, category_id: str) -> Reply:
    """Public: one category (an inactive one only for admins)."""
    admin = ctx.is_admin

    def compute() -> Reply:
        found = services.get().categories.get(category_id, include_inactive=admin)
        return resource_reply(found)

    key = f"one:{'admin' if admin else 'public'}:{category_id}"
    return cached_reply(scope=CATEGORIES, key=key, compute=compute)


@router.post("/", body=CategoryCreate, response=Category, status=201, auth="admin")
def create_category(body: CategoryCreate) -> Reply:
    """Admin: add a category → 201 with ``Location``."""
    created = services.get().categories.create(body)
    return resource_reply(created, status=201, location=f"categories/{created.value.id}")


@router.patch("/{category_id}", body=CategoryPatch, response=Category, auth="admin", if_match=True)
def update_category(category_id: str, body: CategoryPatch, if_match: str | None) -> Reply:
    """Admin: change the fields sent (``If-Match`` honoured)."""
    updated = services.get().categories.update(category_id, body, expected_version=if_match)
    return resource_reply(updated)


@router.delete("/{category_id}", status=204, auth="admin", if_match=True)
def delete_category(category_id: str, if_match: str | None) -> Reply:
    """Admin: delete a category with no children and no products (``If-Match`` honoured)."""
    services.get().categories.delete(category_id, expected_version=if_match)
    return Reply(status=204)
