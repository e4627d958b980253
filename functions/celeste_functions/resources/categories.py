"""The ``categories`` function: the public catalogue tree, edited by admins."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from celeste.categories import Category, CategoryCreate, CategoryPatch
from celeste.ids import ID_PATTERN
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
def list_categories(ctx: RequestContext) -> Reply:
    """Public: categories by ``sort_order``; admins also see inactive ones."""
    params = ctx.query(CategoryListParams)
    admin = ctx.is_admin

    def compute() -> Reply:
        page = services.get().categories.list(
            parent_id=params.parent_id or None,
            root_only=params.parent_id == "",
            include_inactive=admin,
            limit=params.limit,
            cursor=params.cursor,
        )
        return Reply(page_body(page))

    key = f"list:{'admin' if admin else 'public'}:{params.model_dump_json()}"
    # Children of a parent: any id is a valid filter (an unknown one lists nothing).
    bounded = PAGES if params.parent_id else page_family(params)
    return cached_reply(scope=CATEGORIES, key=key, compute=compute, bounded=bounded)


@router.get("/{category_id}", query=_NoParams, response=Category)
def get_category(ctx: RequestContext, category_id: str) -> Reply:
    """Public: one category (an inactive one only for admins)."""
    ctx.query(_NoParams)
    admin = ctx.is_admin

    def compute() -> Reply:
        found = services.get().categories.get(category_id, include_inactive=admin)
        return resource_reply(found)

    key = f"one:{'admin' if admin else 'public'}:{category_id}"
    return cached_reply(scope=CATEGORIES, key=key, compute=compute)


@router.post("/", body=CategoryCreate, response=Category, status=201, auth="admin")
def create_category(ctx: RequestContext) -> Reply:
    """Admin: add a category → 201 with ``Location``."""
    ctx.require_admin()
    created = services.get().categories.create(ctx.body(CategoryCreate))
    return resource_reply(created, status=201, location=f"categories/{created.value.id}")


@router.patch("/{category_id}", body=CategoryPatch, response=Category, auth="admin")
def update_category(ctx: RequestContext, category_id: str) -> Reply:
    """Admin: change the fields sent (``If-Match`` honoured)."""
    ctx.require_admin()
    patch = ctx.body(CategoryPatch)
    updated = services.get().categories.update(category_id, patch, expected_version=ctx.if_match)
    return resource_reply(updated)


@router.delete("/{category_id}", status=204, auth="admin")
def delete_category(ctx: RequestContext, category_id: str) -> Reply:
    """Admin: delete a category with no children and no products (``If-Match`` honoured)."""
    ctx.require_admin()
    services.get().categories.delete(category_id, expected_version=ctx.if_match)
    return Reply(status=204)
