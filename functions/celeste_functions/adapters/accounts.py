"""Accounts on Firebase: ``users/{uid}`` in Firestore (its one owner: profiles, the tier and
standing other services read, the stats the delivery effect writes) and sign-in accounts in Auth."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import TYPE_CHECKING, Any

from celeste.accounts.profiles import Identity, Profile, Role
from celeste.kernel.errors import Conflict, Contention, NotFound, ValidationFailed
from celeste.kernel.paging import Page
from celeste.kernel.versions import Versioned
from celeste.orders.order import CustomerStanding
from celeste.writes import UpdateCustomer
from celeste_functions.adapters.firestore import (
    QueryShape,
    keyset_page,
    last_update_time,
    storage_errors,
    version_at,
    version_of,
)
from celeste_functions.remembered import Remembered

if TYPE_CHECKING:
    import firebase_admin
    from google.cloud import firestore

USERS = "users"

_ALL = QueryShape(USERS, order=("created_at", "__name__"))
_BY_ROLE = QueryShape(USERS, equals=("role",), order=("created_at", "__name__"))
_BY_TIER = QueryShape(USERS, equals=("tier",), order=("created_at", "__name__"))
_BY_ROLE_AND_TIER = QueryShape(USERS, equals=("role", "tier"), order=("created_at", "__name__"))
#: Whether anyone holds a tier (the tiers repository asks before deleting one).
_HOLDERS = QueryShape(USERS, equals=("tier",))


def user_ref(client: firestore.Client, uid: str) -> firestore.DocumentReference:
    """The profile document of a user (carts and wishlists live under it)."""
    return client.collection(USERS).document(uid)


def holds_tier(client: firestore.Client, code: str) -> bool:
    """Whether any profile holds the tier ``code``."""
    query = _HOLDERS.build(client.collection(USERS), equals={"tier": code})
    return any(True for _ in query.limit(1).stream())


def standing_update(write: UpdateCustomer) -> dict[str, Any]:
    """The fields of ``users/{uid}`` an ``UpdateCustomer`` write sets (stats, maybe the tier)."""
    data: dict[str, Any] = {"stats": write.stats.model_dump(), "updated_at": write.at}
    if write.tier is not None:
        data["tier"] = write.tier
    return data


class FirestoreProfiles:
    """``ProfileRepository`` on Firestore."""

    def __init__(self, *, client: Callable[[], firestore.Client]) -> None:
        self._client = client

    def _col(self) -> firestore.CollectionReference:
        return self._client().collection(USERS)

    def get(self, uid: str) -> Versioned[Profile]:
        snapshot = self._col().document(uid).get()
        if not snapshot.exists:
            raise NotFound(f"no user {uid}")
        return Versioned(_profile(snapshot.id, snapshot.to_dict() or {}), version_of(snapshot))

    def create(self, profile: Profile) -> Versioned[Profile]:
        with storage_errors(conflict=f"user {profile.uid} already has a profile"):
            written = self._col().document(profile.uid).create(_data(profile))
        # The profile as written, at the version the create gave it: no read back.
        return Versioned(profile, version_at(written.update_time))

    def update(
        self, profile: Profile, *, fields: frozenset[str], expected_version: str
    ) -> Versioned[Profile]:
        client = self._client()
        data = profile.model_dump(include=set(fields), exclude={"uid"})
        option = client.write_option(last_update_time=last_update_time(expected_version))
        with storage_errors():
            self._col().document(profile.uid).update(data, option=option)
        return self.get(profile.uid)

    def list(
        self, *, role: Role | None, tier: str | None, limit: int, cursor: str | None
    ) -> Page[Profile]:
        equals: dict[str, Any] = {}
        if role is not None:
            equals["role"] = role
        if tier is not None:
            equals["tier"] = tier
        shape = {
            (): _ALL,
            ("role",): _BY_ROLE,
            ("tier",): _BY_TIER,
            ("role", "tier"): _BY_ROLE_AND_TIER,
        }[tuple(sorted(equals))]
        return keyset_page(
            shape.build(self._col(), equals=equals),
            collection=self._col(),
            order_field="created_at",
            limit=limit,
            cursor=cursor,
            parse=lambda s: _profile(s.id, s.to_dict() or {}),
            key=lambda profile: profile.created_at,
            value_type=datetime,
        )


class FirestoreCustomers:
    """``CustomerTiers`` and ``CustomerStandings``: the parts of ``users/{uid}`` pricing and the
    delivery effect read (only those fields are fetched).

    A browsing ``tier_of`` (not ``strict``) may reuse a tier read for the same uid less than
    ``window_s`` ago in this process (signed-in catalogue reads then cost no profile read);
    ``strict`` reads (quotes, orders, carts) always read the profile.
    """

    #: Most uids whose tier is remembered per process (the oldest are forgotten first).
    MAX_REMEMBERED = 10_000

    def __init__(
        self,
        *,
        client: Callable[[], firestore.Client],
        window_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._window_s = window_s
        self._clock = clock
        self._seen: Remembered[str, tuple[float, str | None]] = Remembered(self.MAX_REMEMBERED)

    def tier_of(self, uid: str, *, strict: bool = False) -> str | None:
        if not strict and self._window_s > 0:
            seen = self._seen.get(uid)
            if seen is not None and self._clock() - seen[0] < self._window_s:
                return seen[1]
        started = self._clock()
        snapshot = user_ref(self._client(), uid).get(["tier"])
        found = (snapshot.to_dict() or {}).get("tier") if snapshot.exists else None
        tier = str(found) if found else None
        if self._window_s > 0:
            self._seen.put(uid, (started, tier))
        return tier

    def standing(self, uid: str) -> Versioned[CustomerStanding] | None:
        snapshot = user_ref(self._client(), uid).get(["stats", "tier", "tier_locked"])
        if not snapshot.exists:
            return None
        data = {k: v for k, v in (snapshot.to_dict() or {}).items() if v is not None}
        return Versioned(
            CustomerStanding.model_validate({**data, "uid": uid}), version_of(snapshot)
        )


def _data(profile: Profile) -> dict[str, Any]:
    return profile.model_dump(exclude={"uid"})


def _profile(uid: str, data: dict[str, Any]) -> Profile:
    return Profile.model_validate({**data, "uid": uid})


class FirebaseIdentity:
    """``IdentityProvider`` on Firebase Auth (the Auth emulator when its host is set)."""

    def __init__(self, *, app: Callable[[], firebase_admin.App]) -> None:
        self._app = app

    def create_user(self, *, email: str, password: str, display_name: str) -> str:
        from firebase_admin import auth

        with _auth_errors():
            try:
                user = auth.create_user(
                    email=email, password=password, display_name=display_name, app=self._app()
                )
            except auth.EmailAlreadyExistsError:
                raise Conflict(f"an account with email {email} already exists") from None
        return str(user.uid)

    def delete_user(self, uid: str) -> None:
        from firebase_admin import auth

        with _auth_errors(), suppress(auth.UserNotFoundError):
            auth.delete_user(uid, app=self._app())

    def find_by_email(self, email: str) -> Identity:
        from firebase_admin import auth

        with _auth_errors():
            try:
                user = auth.get_user_by_email(email, app=self._app())
            except auth.UserNotFoundError:
                raise NotFound(f"no account with email {email}") from None
        claims = user.custom_claims or {}
        role: Role = "admin" if claims.get("role") == "admin" else "customer"
        return Identity(uid=user.uid, email=user.email, display_name=user.display_name, role=role)

    def set_role_claim(self, uid: str, *, role: Role) -> None:
        # Read-modify-write of the claims: other claims survive; two admins changing the same
        # user's claims in the same instant could lose one (claims change rarely, by hand).
        from firebase_admin import auth

        app = self._app()
        with _auth_errors():
            try:
                claims = dict(auth.get_user(uid, app=app).custom_claims or {})
                claims["role"] = role
                auth.set_custom_user_claims(uid, claims, app=app)
            except auth.UserNotFoundError:
                raise NotFound(f"no account {uid}") from None

    def set_disabled(self, uid: str, *, disabled: bool) -> None:
        from firebase_admin import auth

        app = self._app()
        with _auth_errors():
            try:
                auth.update_user(uid, disabled=disabled, app=app)
                if disabled:
                    # ID tokens minted before now fail verify_id_token(check_revoked=True).
                    auth.revoke_refresh_tokens(uid, app=app)
            except auth.UserNotFoundError:
                raise NotFound(f"no account {uid}") from None

    def set_display_name(self, uid: str, display_name: str) -> None:
        from firebase_admin import auth

        with _auth_errors():
            try:
                auth.update_user(uid, display_name=display_name, app=self._app())
            except auth.UserNotFoundError:
                raise NotFound(f"no account {uid}") from None


@contextmanager
def _auth_errors() -> Iterator[None]:
    """Translate Firebase Auth's failures into domain errors (input refused, busy)."""
    from firebase_admin import exceptions

    try:
        yield
    except ValueError as exc:  # firebase_admin's own argument checks
        raise _refused(str(exc)) from None
    except exceptions.InvalidArgumentError as exc:  # the Auth service refused an argument
        raise _refused(str(exc)) from None
    except (
        exceptions.ResourceExhaustedError,
        exceptions.UnavailableError,
        exceptions.DeadlineExceededError,
    ):
        raise Contention("the sign-in service is busy; retry shortly", retry_after_s=2) from None


def _refused(message: str) -> ValidationFailed:
    lowered = message.lower()
    for name in ("email", "password", "display_name"):
        if name.replace("_", " ") in lowered or name.replace("_", "") in lowered:
            return ValidationFailed.on(name, f"the sign-in service refused this {name}")
    return ValidationFailed("the sign-in service refused the request")
