"""Who is calling: Firebase ID tokens verified by firebase_admin; the role from the claim,
as long as the account still holds it.

The token's signature, expiry and audience are checked locally, once per token per process:
the claims of a token verified here are reused until it expires (a verification is a function
of the token and the clock alone). Whether the
account still exists, is enabled, has not been signed out since the token was minted and still
holds the token's ``role`` claim needs Firebase Auth (a network call): ``strict`` checks ask it
every time (writes, and every route that requires a signed-in caller or an admin); public reads
reuse this process's answer for a uid for up to ``CELESTE_AUTH_CHECK_S`` seconds (default 5).
So a demoted admin's token is a customer's at once on writes and admin routes, and on public
reads within that window, exactly as a disabled account's token is refused. An Auth outage is a
503 with ``Retry-After``, never a 500 and never a pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celeste.kernel.errors import Forbidden, Unauthenticated, Unavailable, ValidationFailed
from celeste_functions.clients import firebase_app
from celeste_functions.config import settings
from celeste_functions.logs import get_logger
from celeste_functions.remembered import Remembered

log = get_logger("auth")


@dataclass(frozen=True)
class Caller:
    """A verified caller: uid, email, role (``admin`` or ``customer``) and the token's name."""

    uid: str
    email: str | None
    role: str
    name: str | None = None

    @property
    def is_admin(self) -> bool:
        """Whether the token carries the ``role: admin`` custom claim and the account still
        holds it."""
        return self.role == "admin"


@dataclass(frozen=True)
class _Account:
    disabled: bool
    tokens_valid_after_ms: int
    #: The role the account holds now (its ``role`` custom claim in Firebase Auth).
    role: str = "customer"
    #: No sign-in method on it: an anonymous Firebase account (a storefront guest).
    anonymous: bool = False


class AccountStates:
    """Recent answers of Firebase Auth about accounts, per uid, for up to ``window_s``
    (default: the ``CELESTE_AUTH_CHECK_S`` setting, read on first use)."""

    #: Most uids remembered per process (the oldest are forgotten first).
    MAX_REMEMBERED = 10_000

    def __init__(
        self,
        *,
        lookup: Callable[[str], _Account],
        window_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._window_s = window_s
        self._clock = clock
        self._seen: Remembered[str, tuple[float, _Account]] = Remembered(self.MAX_REMEMBERED)

    def check(self, claims: dict[str, Any], *, strict: bool) -> str:
        """The role the token's caller holds now: ``admin`` only when the token claims it and
        the account still holds it, else ``customer``. ``Unauthenticated`` when the token's
        account is gone, disabled or signed out since the token was issued; ``Unavailable``
        when Auth cannot say."""
        uid = str(claims["uid"])
        recent = None if strict else self._recent(uid)
        if (
            recent is not None
            and _refusal(recent, claims) is None
            and _role(recent, claims) == _claimed_role(claims)
        ):
            return _role(recent, claims)
        # Ask Auth: a strict check, no recent answer, or a recent answer that would refuse or
        # take the token's role away (both are always confirmed, so an account enabled or
        # promoted again is let in with its token's role at once).
        started = self._clock()
        account = self._lookup(uid)
        self._seen.put(uid, (started, account))
        refusal = _refusal(account, claims)
        if refusal is not None:
            raise Unauthenticated(refusal)
        return _role(account, claims)

    def _recent(self, uid: str) -> _Account | None:
        seen = self._seen.get(uid)
        window = settings().auth_check_s if self._window_s is None else self._window_s
        if seen is None or self._clock() - seen[0] >= window:
            return None
        return seen[1]


def _claimed_role(claims: dict[str, Any]) -> str:
    return "admin" if claims.get("role") == "admin" else "customer"


def _role(account: _Account, claims: dict[str, Any]) -> str:
    # The lesser of the token's role and the account's: a demotion takes the role away from
    # every token at once; a promotion reaches the user's next token (the claim it carries).
    return "admin" if _claimed_role(claims) == "admin" and account.role == "admin" else "customer"


def _refusal(account: _Account, claims: dict[str, Any]) -> str | None:
    if account.disabled:
        return "this account is disabled"
    if int(claims.get("iat", 0)) * 1000 < account.tokens_valid_after_ms:
        return "the token has expired or was revoked: sign in again"
    return None


def _firebase_account(uid: str) -> _Account:
    from firebase_admin import auth, exceptions

    try:
        user = auth.get_user(uid, app=firebase_app.get())
    except auth.UserNotFoundError:
        raise Unauthenticated("this account no longer exists") from None
    except (exceptions.FirebaseError, OSError) as exc:
        log.warning("auth unavailable", extra={"fields": {"error": type(exc).__name__}})
        raise Unavailable("the sign-in service is not answering; retry shortly", 2) from None
    role = "admin" if (user.custom_claims or {}).get("role") == "admin" else "customer"
    return _Account(
        disabled=bool(user.disabled),
        tokens_valid_after_ms=int(user.tokens_valid_after_timestamp),
        role=role,
        anonymous=not user.provider_data,
    )


#: This process's account states (tests may replace its lookup or clock).
accounts = AccountStates(lookup=_firebase_account)


class VerifiedTokens:
    """Claims of the ID tokens this process verified, each until its ``exp``: a signed-in
    request skips decoding and checking a signature it already checked (the account itself is
    still checked on every request, by :class:`AccountStates`)."""

    #: Most tokens remembered (about 1 KB each); the oldest are forgotten first.
    MAX_REMEMBERED = 4096

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._claims: Remembered[str, dict[str, Any]] = Remembered(self.MAX_REMEMBERED)

    def get(self, token: str) -> dict[str, Any] | None:
        """The claims of ``token`` if verified here and not expired, else ``None``."""
        claims = self._claims.get(token)
        if claims is None:
            return None
        if self._clock() >= claims["exp"]:
            self._claims.forget(token)
            return None
        return claims

    def remember(self, token: str, claims: dict[str, Any]) -> None:
        """Keep the claims of a token just verified (until its ``exp``)."""
        if isinstance(claims.get("exp"), int | float):
            self._claims.put(token, claims)


#: This process's verified tokens.
verified = VerifiedTokens()


def authenticate(header: str | None, *, strict: bool = False) -> Caller | None:
    """The caller named by an ``Authorization: Bearer`` header, ``None`` without one.

    Verifies signature, expiry and audience, then that the account exists, is enabled and was
    not signed out since the token was minted, and the role it still holds (``strict``: asking
    Firebase Auth now; otherwise possibly from its answer of the last few seconds). With
    ``FIREBASE_AUTH_EMULATOR_HOST`` set (``demo-`` projects only: see ``config``),
    firebase_admin verifies Auth-emulator tokens instead.
    """
    if header is None or not header.strip():
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <Firebase ID token>'")
    token = token.strip()
    claims = verified.get(token)
    if claims is None:
        claims = _verify(token)
        verified.remember(token, claims)
    role = accounts.check(claims, strict=strict)
    name = claims.get("name")
    return Caller(
        uid=str(claims["uid"]),
        email=claims.get("email"),
        role=role,
        name=name if isinstance(name, str) else None,
    )


def authenticate_guest(token: str, *, lookup: Callable[[str], _Account] = _firebase_account) -> str:
    """The uid of the guest (an anonymous Firebase account) whose ID token is ``token``, a
    second identity a signed-in caller proves (``POST /me/cart/merge``).

    The token is verified like any other (signature, expiry, audience) and must have been
    minted by an anonymous sign-in; Firebase Auth is then asked, now, that the account exists,
    is enabled, was not signed out since, and is still anonymous (no email or other sign-in
    method linked to it since: a guest who signed up is an account, not a guest). A token that
    is not a valid ID token of a current account is a 400 naming ``guest_token`` (the caller's
    own ``Authorization`` is fine); a valid token of an account that is not a guest is a 403.
    """
    claims = verified.get(token)
    try:
        if claims is None:
            claims = _verify(token)
        uid = str(claims["uid"])
        firebase = claims.get("firebase")
        provider = firebase.get("sign_in_provider") if isinstance(firebase, dict) else None
        if provider != "anonymous":
            raise Forbidden("guest_token is not a guest's: only an anonymous guest's cart merges")
        account = lookup(uid)
        # Asked first: linking a sign-in method may also revoke the guest's tokens (Firebase
        # moves validSince when a password is set), and which of the two a caller is told
        # must not hang on whether the link fell in the same second as the token.
        if not account.anonymous:
            raise Forbidden("guest_token is not a guest's: that account has signed up since")
        refusal = _refusal(account, claims)
        if refusal is not None:
            raise Unauthenticated(refusal)
    except Unauthenticated as exc:
        message = f"not a valid guest ID token: {exc.detail}"
        raise ValidationFailed.on("guest_token", message) from None
    return uid


def _verify(token: str) -> dict[str, Any]:
    """The claims of ``token``, verified by firebase_admin (signature, expiry, audience)."""
    from firebase_admin import auth

    try:
        return dict(auth.verify_id_token(token, app=firebase_app.get()))
    except auth.ExpiredIdTokenError:
        raise Unauthenticated("the token has expired or was revoked: sign in again") from None
    except auth.CertificateFetchError:
        log.warning("auth certificates unavailable")
        raise Unavailable("the sign-in service is not answering; retry shortly", 2) from None
    except (ValueError, auth.InvalidIdTokenError) as exc:
        log.info("token rejected", extra={"fields": {"reason": type(exc).__name__}})
        raise Unauthenticated("the token is not a valid Firebase ID token") from None
