"""Ports of accounts: profiles, sign-in identities, tiers and the tier a customer holds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from celeste.accounts.profiles import Identity, Profile, Role
from celeste.accounts.tiers import Tier
from celeste.kernel.paging import Page
from celeste.kernel.versions import Versioned


class CustomerTiers(Protocol):
    """The tier a signed-in customer holds."""

    def tier_of(self, uid: str, *, strict: bool = False) -> str | None:
        """The tier code on the customer's profile, ``None`` without a profile (``strict``: read
        now; otherwise it may be up to the adapter's freshness window old)."""
        ...


class ProfileRepository(Protocol):
    """Storage of profiles (``users/{uid}``)."""

    def get(self, uid: str) -> Versioned[Profile]:
        """The profile, or ``NotFound``."""
        ...

    def create(self, profile: Profile) -> Versioned[Profile]:
        """Store a new profile atomically; ``Conflict`` if the uid already has one."""
        ...

    def update(
        self, profile: Profile, *, fields: frozenset[str], expected_version: str
    ) -> Versioned[Profile]:
        """Write only ``fields`` of ``profile``; ``PreconditionFailed`` on a stale version."""
        ...

    def list(
        self, *, role: Role | None, tier: str | None, limit: int, cursor: str | None
    ) -> Page[Profile]:
        """Profiles by ``created_at`` then uid, optionally of one role and/or tier."""
        ...


class TierLadder(Protocol):
    """The tier set as accounts, orders and standings read it (``TierService``, cached)."""

    def all_tiers(self) -> list[Tier]:
        """Every tier, by level."""
        ...


class IdentityProvider(Protocol):
    """The sign-in accounts (Firebase Auth): credentials, the ``role`` claim, disabling."""

    def create_user(self, *, email: str, password: str, display_name: str) -> str:
        """Create an email/password account and return its uid; ``Conflict`` on a taken email."""
        ...

    def delete_user(self, uid: str) -> None:
        """Delete the account; an account already gone is not an error."""
        ...

    def find_by_email(self, email: str) -> Identity:
        """The account with this email, or ``NotFound``."""
        ...

    def set_role_claim(self, uid: str, *, role: Role) -> None:
        """Set the ``role`` custom claim, keeping the account's other claims."""
        ...

    def set_disabled(self, uid: str, *, disabled: bool) -> None:
        """Disable or enable the account; disabling also revokes its refresh tokens."""
        ...

    def set_display_name(self, uid: str, display_name: str) -> None:
        """Set the account's display name (the ``name`` of its next ID tokens)."""
        ...


@dataclass(frozen=True)
class TierSet:
    """Every tier (by level) and the opaque revision of the set as a whole (``None`` before the
    set was first written through the repository)."""

    tiers: list[Versioned[Tier]]
    revision: str | None


class TierRepository(Protocol):
    """Storage of the tier set; every write is one atomic batch guarded by the set's revision."""

    def get(self, code: str) -> Versioned[Tier]:
        """The tier, or ``NotFound``."""
        ...

    def tier_set(self) -> TierSet:
        """Every tier, by level, with the set's revision read before the tiers (for writes)."""
        ...

    def tiers(self) -> list[Tier]:
        """Every tier, by level, for reading (an adapter may serve it from its cache)."""
        ...

    def save(
        self,
        *,
        revision: str | None,
        create: Sequence[Tier] = (),
        update: Sequence[Versioned[Tier]] = (),
        delete: Sequence[Versioned[Tier]] = (),
    ) -> None:
        """Apply all changes at once, or none: ``PreconditionFailed`` when the set's revision or
        an updated or deleted tier's version moved, ``Conflict`` when a created code exists.
        ``update`` and ``delete`` carry the version each tier was read at."""
        ...

    def is_held(self, code: str) -> bool:
        """Whether any user holds the tier."""
        ...
