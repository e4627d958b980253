"""Who is calling: Firebase ID tokens verified by firebase_admin; the role from the claim."""

from __future__ import annotations

from dataclasses import dataclass

from celeste.errors import Unauthenticated
from celeste_functions.clients import firebase_app
from celeste_functions.logs import get_logger

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
        """Whether the token carries the ``role: admin`` custom claim."""
        return self.role == "admin"


def authenticate(header: str | None) -> Caller | None:
    """The caller named by an ``Authorization: Bearer`` header, ``None`` without one.

    Verifies signature, expiry and audience, and (``check_revoked``) that the account is neither
    disabled nor signed out since the token was minted; with ``FIREBASE_AUTH_EMULATOR_HOST`` set,
    firebase_admin verifies Auth-emulator tokens instead.
    """
    if header is None or not header.strip():
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <Firebase ID token>'")
    from firebase_admin import auth

    try:
        claims = auth.verify_id_token(token.strip(), app=firebase_app.get(), check_revoked=True)
    except auth.UserDisabledError:
        raise Unauthenticated("this account is disabled") from None
    except (auth.RevokedIdTokenError, auth.ExpiredIdTokenError):
        raise Unauthenticated("the token has expired or was revoked: sign in again") from None
    except (ValueError, auth.InvalidIdTokenError, auth.CertificateFetchError) as exc:
        log.info("token rejected", extra={"fields": {"reason": type(exc).__name__}})
        raise Unauthenticated("the token is not a valid Firebase ID token") from None
    role = "admin" if claims.get("role") == "admin" else "customer"
    name = claims.get("name")
    return Caller(
        uid=str(claims["uid"]),
        email=claims.get("email"),
        role=role,
        name=name if isinstance(name, str) else None,
    )
