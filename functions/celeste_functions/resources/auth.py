"""The ``auth`` function: registration of an email/password account and its profile (public),
or of a guest's anonymous account once the client linked an email and password to it."""

from __future__ import annotations

from celeste.accounts.profiles import LinkedRegisterRequest, ProfileView, RegisterRequest
from celeste_functions.composition import services
from celeste_functions.http.auth import Caller
from celeste_functions.http.router import Reply, Router
from celeste_functions.resources.common import profile_reply
from celeste_functions.resources.me import identity_of

router = Router("auth")


@router.post("/register", body=RegisterRequest, response=ProfileView, status=201, limit="register")
def register(body: RegisterRequest) -> Reply:
    """Public: create the account and its profile (default tier) → 201; a taken email → 409."""
    created = services.get().accounts.register(body)
    return profile_reply(created, status=201)


@router.post(
    "/register/linked",
    body=LinkedRegisterRequest,
    response=ProfileView,
    status=201,
    auth="user",
    limit="register",
)
def register_linked(caller: Caller, body: LinkedRegisterRequest) -> Reply:
    """Signed in: a guest linked an email and password to their anonymous account (the client
    SDK's ``linkWithCredential``, same uid, so cart and wishlist stay); make its profile as
    ``/register`` does → 201, or make the guest's existing profile the account's → 200. A
    caller whose token has no email yet → 409."""
    profile, created = services.get().accounts.register_linked(identity_of(caller), body)
    return profile_reply(profile, status=201 if created else 200)
