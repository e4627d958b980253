"""The ``tiers`` function: the public tier ladder, kept valid by admins."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from celeste.paging import page_of
from celeste.tiers import Tier, TierCreate, TierPatch
from celeste_functions.cache_scopes import TIERS
from celeste_functions.composition import services
from celeste_functions.http.router import Reply, RequestContext, Router
from celeste_functions.resources.common import (
    ListParams,
    cached_reply,
    page_body,
    page_family,
    resource_reply,
)

router = Router("tiers")


class _NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@router.get("/", query=ListParams)
def list_tiers(ctx: RequestContext) -> Reply:
    """Public: the tiers by level, a page at a time (``limit``, ``cursor``)."""
    params = ctx.query(ListParams)

    def compute() -> Reply:
        tiers = services.get().tiers.by_level()
        return Reply(page_body(page_of(tiers, limit=params.limit, cursor=params.cursor)))

    return cached_reply(
        scope=TIERS,
        key=f"list:{params.model_dump_json()}",
        compute=compute,
        bounded=page_family(params),  # offsets beyond the ladder are still valid cursors
    )


@router.get("/{code}", query=_NoParams, response=Tier)
def get_tier(ctx: RequestContext, code: str) -> Reply:
    """Public: one tier."""
    ctx.query(_NoParams)

    def compute() -> Reply:
        return resource_reply(services.get().tiers.get(code))

    return cached_reply(scope=TIERS, key=f"one:{code}", compute=compute)


@router.post("/", body=TierCreate, response=Tier, status=201, auth="admin")
def create_tier(ctx: RequestContext) -> Reply:
    """Admin: add a tier → 201 with ``Location``; ``is_default: true`` moves the default."""
    ctx.require_admin()
    created = services.get().tiers.create(ctx.body(TierCreate))
    return resource_reply(created, status=201, location=f"tiers/{created.value.code}")


@router.patch("/{code}", body=TierPatch, response=Tier, auth="admin")
def update_tier(ctx: RequestContext, code: str) -> Reply:
    """Admin: change the fields sent (``If-Match`` honoured)."""
    ctx.require_admin()
    patch = ctx.body(TierPatch)
    updated = services.get().tiers.update(code, patch, expected_version=ctx.if_match)
    return resource_reply(updated)


@router.delete("/{code}", status=204, auth="admin")
def delete_tier(ctx: RequestContext, code: str) -> Reply:
    """Admin: delete a tier that is not the default and that no user holds."""
    ctx.require_admin()
    services.get().tiers.delete(code, expected_version=ctx.if_match)
    return Reply(status=204)
