"""The ``users`` function: admins list, read and manage every user's profile and account."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from celeste.accounts.profiles import AdminUserPatch, ProfileView, Role
from celeste.accounts.tiers import TierCode
from celeste_functions.composition import services
from celeste_functions.http.auth import Caller
from celeste_functions.http.router import Reply, Router
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
def list_users(query: UserListParams) -> Reply:
    """Admin: profiles, oldest first, optionally of one role and/or tier."""
    accounts = services.get().accounts
    page = accounts.list(role=query.role, tier=query.tier, limit=query.limit, cursor=query.cursor)
    return Reply(
        {
            "items": [accounts.view(p).model_dump(mode="json") for p in page.items],
            "next_cursor": page.next_cursor,
        }
    )


@router.get("/{uid}", query=_NoParams, response=ProfileView, auth="admin")
def get_user(uid: str) -> Reply:
    """Admin: one user's profile."""
    return profile_reply(services.get().accounts.get(uid))


@router.patch("/{uid}", body=AdminUserPatch, response=ProfileView, auth="admin", if_match=True)
def update_user(caller: Caller, uid: str, body: AdminUserPatch, if_match: str | None) -> Reply:
    """Admin: set ``role``, ``tier``, ``tier_locked``, ``disabled`` (``If-Match`` honoured).

    ``role`` also sets the user's ``role`` custom claim, which reaches their ID token on its
    next refresh (within the hour, or at once when they sign in again or force a refresh);
    until then their current token keeps the old role. ``disabled: true`` refuses their
    existing tokens at once (401). Setting ``tier`` does not lock it: send ``tier_locked: true``
    too, or the next delivery's re-evaluation may move them.
    """
    updated = services.get().accounts.update_user(
        uid, body, actor_uid=caller.uid, expected_version=if_match
    )
    return profile_reply(updated)
