"""Account use cases: register, the caller's own profile, and admins managing users."""

from __future__ import annotations

import time
from collections.abc import Callable

from celeste.accounts.profiles import (
    AdminUserPatch,
    Identity,
    LinkedRegisterRequest,
    NotificationPreferencesPatch,
    Profile,
    ProfilePatch,
    ProfileView,
    RegisterRequest,
    Role,
    fallback_display_name,
)
from celeste.accounts.tiers import default_tier_code
from celeste.kernel.clock import Clock, utcnow
from celeste.kernel.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from celeste.kernel.paging import Page
from celeste.kernel.versions import Versioned
from celeste.ports.accounts import IdentityProvider, ProfileRepository, TierLadder
from celeste.services.retry import REQUEST, Backoff, optimistic


class AccountService:
    """The ``auth``, ``me`` and ``users`` resources' rules, over profiles and an identity provider.

    The identity provider (Firebase Auth) owns credentials and the ``role`` custom claim, which is
    what authorisation reads (the token's claim while the account still holds it); the profile
    mirrors the role for display and filtering, and ``firestore.rules`` want it too.
    """

    def __init__(
        self,
        *,
        profiles: ProfileRepository,
        identity: IdentityProvider,
        tiers: TierLadder,
        clock: Clock = utcnow,
        backoff: Backoff = REQUEST,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._backoff = backoff
        self._sleep = sleep
        self._profiles = profiles
        self._tiers = tiers
        self._identity = identity
        self._clock = clock

    # --- registration and the caller's own profile -----------------------------------------

    def register(self, request: RegisterRequest) -> Versioned[Profile]:
        """Create the sign-in account, then its profile; if the profile cannot be written the
        account is deleted again (so no account is left without a profile) and the error raised.

        A duplicate email is a ``Conflict`` from the identity provider, before anything is written.
        """
        uid = self._identity.create_user(
            email=request.email, password=request.password, display_name=request.display_name
        )
        identity = Identity(uid=uid, email=request.email, display_name=request.display_name)
        try:
            return self._profiles.create(self._new_profile(identity))
        except Conflict:
            # The new user's own first GET /me won the race and made the profile: keep both.
            return self._profiles.get(uid)
        except BaseException as exc:
            try:
                self._identity.delete_user(uid)
            except Exception as cleanup:  # the profile error stays the one raised
                exc.add_note(f"compensation failed, account {uid} remains: {cleanup!r}")
            raise

    def register_linked(
        self, identity: Identity, request: LinkedRegisterRequest
    ) -> tuple[Versioned[Profile], bool]:
        """Registration for an account that already signs in with an email and password: a
        guest who linked them to their anonymous account (same uid, so their cart, wishlist and
        orders stay theirs). Does what ``register`` does for that uid: the display name on the
        sign-in account, and the profile with the default tier; a profile the guest already had
        (from ``GET /me``) gets the email and name instead. Returns it and whether it was made
        now. A caller whose token has no email (still anonymous) is a ``Conflict``.
        """
        if not identity.email:
            raise Conflict("this account has no email yet: link an email and password to it first")
        self._identity.set_display_name(identity.uid, request.display_name)
        named = Identity(
            uid=identity.uid,
            email=identity.email,
            display_name=request.display_name,
            role=identity.role,
        )
        try:
            return self._profiles.create(self._new_profile(named)), True
        except Conflict:
            pass  # the guest's profile: it becomes the account's
        changes: dict[str, object] = {"email": identity.email, "display_name": request.display_name}
        return self._update(identity.uid, changes, expected_version=None), False

    def me(self, identity: Identity) -> Versioned[Profile]:
        """The caller's profile, created on the first call for a user made outside ``register``.

        Create-if-absent: two racing first calls store one profile and both return it.
        """
        try:
            return self._profiles.get(identity.uid)
        except NotFound:
            pass
        try:
            return self._profiles.create(self._new_profile(identity))
        except Conflict:
            return self._profiles.get(identity.uid)

    def update_me(
        self, identity: Identity, patch: ProfilePatch, *, expected_version: str | None
    ) -> Versioned[Profile]:
        """Change the caller's display name, phone or addresses (the profile is made if absent)."""
        changes = patch.changes()
        self.me(identity)
        return self._update(identity.uid, changes, expected_version=expected_version)

    def view(self, profile: Profile) -> ProfileView:
        """The API's view of ``profile`` now (``orders_last_30_days`` counted at read time)."""
        return ProfileView.of(profile, now=self._clock())

    # --- admins ------------------------------------------------------------------------------

    def get(self, uid: str) -> Versioned[Profile]:
        """One user's profile, or ``NotFound``."""
        return self._profiles.get(uid)

    def list(
        self, *, role: Role | None, tier: str | None, limit: int, cursor: str | None
    ) -> Page[Profile]:
        """A page of profiles, oldest first, optionally of one role and/or tier."""
        return self._profiles.list(role=role, tier=tier, limit=limit, cursor=cursor)

    def update_user(
        self,
        uid: str,
        patch: AdminUserPatch,
        *,
        actor_uid: str | None,
        expected_version: str | None,
    ) -> Versioned[Profile]:
        """Set a user's role, tier, tier lock or disabled flag.

        The profile is written first, then the identity provider: ``role`` sets the custom claim;
        a promotion takes effect on the user's next ID token (a refresh, at most an hour, or
        signing in again), a demotion at once (a token is an admin's only while the account
        holds the claim, and the rules also read the profile); ``disabled`` disables the account
        and, when disabling, revokes its refresh tokens, so existing ID tokens are refused at
        once. Both are re-applied whenever the field is sent, so repeating a request heals a
        half-applied one. An admin cannot demote or disable themselves (``actor_uid``), so the
        last admin cannot lock everyone out.
        """
        changes = patch.changes()
        if actor_uid == uid and (changes.get("role") == "customer" or changes.get("disabled")):
            raise Conflict("admins cannot demote or disable themselves; ask another admin")
        tier = changes.get("tier")
        if isinstance(tier, str) and not self._tier_is_known(tier):
            raise ValidationFailed.on("tier", f"no tier {tier}")
        updated = self._update(uid, changes, expected_version=expected_version)
        if "role" in changes:
            self._identity.set_role_claim(uid, role=updated.value.role)
        if "disabled" in changes:
            self._identity.set_disabled(uid, disabled=updated.value.disabled)
        return updated

    def make_admin(self, email: str) -> Versioned[Profile]:
        """Promote the existing account with ``email`` to admin (the first-admin command).

        Makes the profile when the user never called the API, then sets role and claim.
        """
        identity = self._identity.find_by_email(email)
        self.me(identity)
        return self.update_user(
            identity.uid, AdminUserPatch(role="admin"), actor_uid=None, expected_version=None
        )

    # --- internals ---------------------------------------------------------------------------

    def default_tier_code(self) -> str:
        """The tier a new profile gets (``celeste.accounts.tiers.default_tier_code``:
        ``FALLBACK_TIER`` while no tier exists, so profiles can be made before tiers are seeded)."""
        return default_tier_code(self._tiers.all_tiers())

    def _tier_is_known(self, code: str) -> bool:
        tiers = self._tiers.all_tiers()
        return any(tier.code == code for tier in tiers) or code == default_tier_code(tiers)

    def _new_profile(self, identity: Identity) -> Profile:
        now = self._clock()
        return Profile(
            uid=identity.uid,
            email=identity.email,
            display_name=fallback_display_name(identity),
            role=identity.role,
            tier=self.default_tier_code(),
            created_at=now,
            updated_at=now,
        )

    def _update(
        self, uid: str, changes: dict[str, object], *, expected_version: str | None
    ) -> Versioned[Profile]:
        if not changes:
            return self._read_expecting(uid, expected_version)

        def attempt() -> Versioned[Profile]:
            current = self._read_expecting(uid, expected_version)
            merged = dict(changes)
            preferences = merged.get("notifications")
            if isinstance(preferences, NotificationPreferencesPatch):
                merged["notifications"] = preferences.applied_to(current.value.notifications)
            updated = Profile.model_validate(
                {**current.value.model_dump(), **merged, "updated_at": self._clock()}
            )
            fields = frozenset({*changes, "updated_at"})
            return self._profiles.update(updated, fields=fields, expected_version=current.version)

        return optimistic(
            attempt,
            backoff=self._backoff,
            what=f"updating the profile of {uid}",
            sleep=self._sleep,
            pinned=expected_version is not None,
        )

    def _read_expecting(self, uid: str, expected: str | None) -> Versioned[Profile]:
        current = self._profiles.get(uid)
        if expected is not None and expected != current.version:
            raise PreconditionFailed(f"the profile of {uid} changed since it was read")
        return current
