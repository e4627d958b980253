"""The ``auth`` function: public registration of an email/password account and its profile."""

from __future__ import annotations

from celeste.accounts import ProfileView, RegisterRequest
from celeste_functions.composition import services
from celeste_functions.http.router import Reply, RequestContext, Router
from celeste_functions.resources.common import profile_reply

router = Router("auth")


@router.post("/register", body=RegisterRequest, response=ProfileView, status=201, limit="register")
def register(ctx: RequestContext) -> Reply:
    """Public: create the account and its profile (default tier) → 201; a taken email → 409."""
    created = services.get().accounts.register(ctx.body(RegisterRequest))
    return profile_reply(created, status=201)
