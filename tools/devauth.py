"""Firebase Auth emulator helpers for tests and seeding: users, passwords, claims, ID tokens.

Standard library only. Talks to ``FIREBASE_AUTH_EMULATOR_HOST`` with the emulator's documented
REST API (the same endpoints the client SDKs use), so tokens are real emulator-signed ID tokens.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

API_KEY = "demo-key"  # the emulator accepts any key


@dataclass(frozen=True)
class SignedIn:
    """A signed-in emulator user and a fresh ID token."""

    uid: str
    email: str
    id_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        """``Authorization`` header carrying this user's token."""
        return {"Authorization": f"Bearer {self.id_token}"}


class AuthEmulator:
    """REST client of the Auth emulator at ``host`` (default: ``FIREBASE_AUTH_EMULATOR_HOST``)."""

    def __init__(self, host: str | None = None, project: str | None = None) -> None:
        self.host = host or os.environ["FIREBASE_AUTH_EMULATOR_HOST"]
        self.project = project or os.environ.get("GCLOUD_PROJECT", "demo-celeste")

    def _call(
        self,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        method: str = "POST",
        admin: bool = False,
    ) -> dict[str, Any]:
        url = f"http://{self.host}/{path}"
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if admin:
            headers["Authorization"] = "Bearer owner"  # the emulator's admin credential
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"auth emulator {path}: {exc.code} {exc.read()[:300]!r}") from None
        return json.loads(raw) if raw else {}

    def sign_up(self, email: str, password: str) -> SignedIn:
        """Create an email/password user and sign it in."""
        out = self._call(
            f"identitytoolkit.googleapis.com/v1/accounts:signUp?key={API_KEY}",
            {"email": email, "password": password, "returnSecureToken": True},
        )
        return SignedIn(out["localId"], email, out["idToken"], out["refreshToken"])

    def sign_in_anonymously(self) -> SignedIn:
        """A new anonymous user (the client SDKs' ``signInAnonymously``): no email, a real
        token whose ``firebase.sign_in_provider`` is ``anonymous``."""
        out = self._call(
            f"identitytoolkit.googleapis.com/v1/accounts:signUp?key={API_KEY}",
            {"returnSecureToken": True},
        )
        return SignedIn(out["localId"], "", out["idToken"], out["refreshToken"])

    def link_email(self, guest: SignedIn, email: str, password: str) -> SignedIn:
        """Link an email and password to an anonymous user (the client SDKs'
        ``linkWithCredential(EmailAuthProvider.credential(...))``): the same uid, a fresh token."""
        out = self._call(
            f"identitytoolkit.googleapis.com/v1/accounts:update?key={API_KEY}",
            {
                "idToken": guest.id_token,
                "email": email,
                "password": password,
                "returnSecureToken": True,
            },
        )
        return SignedIn(out["localId"], email, out["idToken"], out["refreshToken"])

    def sign_in(self, email: str, password: str) -> SignedIn:
        """Sign an existing user in: a fresh token carrying its current custom claims."""
        out = self._call(
            f"identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key={API_KEY}",
            {"email": email, "password": password, "returnSecureToken": True},
        )
        return SignedIn(out["localId"], email, out["idToken"], out["refreshToken"])

    def user(self, email: str, password: str, *, role: str | None = None) -> SignedIn:
        """Sign in as ``email``, creating it first if needed, with ``role`` as custom claim."""
        try:
            signed = self.sign_in(email, password)
        except RuntimeError:
            signed = self.sign_up(email, password)
        if role is not None:
            self.set_claims(signed.uid, {"role": role})
            signed = self.sign_in(email, password)
        return signed

    def set_claims(self, uid: str, claims: dict[str, Any]) -> None:
        """Replace a user's custom claims (next token carries them)."""
        self._call(
            f"identitytoolkit.googleapis.com/v1/projects/{self.project}/accounts:update",
            {"localId": uid, "customAttributes": json.dumps(claims)},
            admin=True,
        )

    def disable(self, uid: str, disabled: bool = True) -> None:
        """Disable (or enable) an account."""
        self._call(
            f"identitytoolkit.googleapis.com/v1/projects/{self.project}/accounts:update",
            {"localId": uid, "disableUser": disabled},
            admin=True,
        )

    def clear(self) -> None:
        """Delete every account in the emulator project."""
        self._call(f"emulator/v1/projects/{self.project}/accounts", method="DELETE")
