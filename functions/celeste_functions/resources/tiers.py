"""The ``tiers`` function: the public tier ladder, kept valid by admins."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from celeste.accounts.tiers import Tier, TierCreate, TierPatch
from celeste.kernel.paging import page_of
from celeste_functions.cache_scopes import TIERS
from celeste_functions.composition import services
from celeste_functions.http.router import Reply, Router
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
def list_tiers(query: ListParams) -> Reply:
    """Public: the tiers by level, a page at a time (``limit``, ``cursor``)."""

    def compute() -> Reply:
        tiers = services.get().tiers.by_level()
        return Reply(page_body(page_of(tiers, limit=query.limit, cursor=query.cursor)))

    return cached_reply(
        scope=TIERS,
        key=f"list:{query.model_dump_json()}",
        compute=compute,
        bounded=page_family(query),  # offsets beyond the ladder are still valid cursors
    )


@router.get("/{code}", query=_NoParams, response=Tier)
def get_tier(code: str) -> Reply:
    """Public: one tier."""

    def compute() -> Reply:
        return resource_reply(services.get().tiers.get(code))

    return cached_reply(scope=TIERS, key=f"one:{code}", compute=compute)


@router.post("/", body=TierCreate, response=Tier, status=201, auth="admin")
def create_tier(body: TierCreate) -> Reply:
    """Admin: add a tier → 201 with ``Location``; ``is_default: true`` moves the default."""
    created = services.get().tiers.create(body)
    return resource_reply(created, status=201, location=f"tiers/{created.value.code}")


@router.patch("/{code}", body=TierPatch, response=Tier, auth="admin", if_match=True)
def update_tier(code: str, body: TierPatch, if_match: str | None) -> Reply:
    """Admin: change the fields sent (``If-Match`` honoured)."""
    updated = services.get().tiers.update(code, body, expected_version=if_match)
    return resource_reply(updated)


@router.delete("/{code}", status=204, auth="admin", if_match=True)
def delete_tier(code: str, if_match: str | None) -> Reply:
    """Admin: delete a tier that is not the default and that no user holds."""
    services.get().tiers.delete(code, expected_version=if_match)
    return Reply(status=204)
