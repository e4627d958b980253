"""The ``users`` function: admins list, read and manage every user's profile and account."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from celeste.accounts import AdminUserPatch, ProfileView, Role
from celeste.tiers import TierCode
from celeste_functions.composition import services
from celeste_functions.http.router import Reply, RequestContext, Router
from celeste_functions.resources.common import ListParams, profile_reply

router = Router("users")


class UserListParams(ListParams):
    """``?role=`` and ``?tier=`` filter the list."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    tier: TierCode | None = None


class _NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@router.get("/", query=UserListParams, auth="admin")
def list_users(ctx: RequestContext) -> Reply:
    """Admin: profiles, oldest first, optionally of one role and/or tier."""
    ctx.require_admin()
    params = ctx.query(UserListParams)
    accounts = services.get().accounts
    page = accounts.list(
        role=params.role, tier=params.tier, limit=params.limit, cursor=params.cursor
    )
    return Reply(
        {
            "items": [accounts.view(p).model_dump(mode="json") for p in page.items],
            "next_cursor": page.next_cursor,
        }
    )


@router.get("/{uid}", query=_NoParams, response=ProfileView, auth="admin")
def get_user(ctx: RequestContext, uid: str) -> Reply:
    """Admin: one user's profile."""
    ctx.require_admin()
    ctx.query(_NoParams)
    return profile_reply(services.get().accounts.get(uid))


@router.patch("/{uid}", body=AdminUserPatch, response=ProfileView, auth="admin")
def update_user(ctx: RequestContext, uid: str) -> Reply:
    """Admin: set ``role``, ``tier``, ``tier_locked``, ``disabled`` (``If-Match`` honoured).

    ``role`` also sets the user's ``role`` custom claim, which reaches their ID token on its
    next refresh (within the hour, or at once when they sign in again or force a refresh);
    until then their current token keeps the old role. ``disabled: true`` refuses their
    existing tokens at once (401). Setting ``tier`` does not lock it: send ``tier_locked: true``
    too, or the next delivery's re-evaluation may move them.
    """
    caller = ctx.require_admin()
    patch = ctx.body(AdminUserPatch)
    updated = services.get().accounts.update_user(
        uid, patch, actor_uid=caller.uid, expected_version=ctx.if_match
    )
    return profile_reply(updated)
