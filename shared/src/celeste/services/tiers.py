"""Tier use cases: admins edit the tier set and keep it valid; everyone reads it, pricing too."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from celeste.accounts.tiers import Tier, TierCreate, TierPatch, default_tier, validate_tier_set
from celeste.kernel.errors import Conflict, NotFound, PreconditionFailed
from celeste.kernel.versions import Versioned
from celeste.ports.accounts import TierRepository, TierSet
from celeste.services.retry import REQUEST, Backoff, optimistic

T = TypeVar("T")

#: Most tiers the set may hold: every tier write and every pricing read handles all of them.
MAX_TIERS = 100


class _Raced(Exception):
    """Another write to the tier set committed between this write's read and its commit."""


class TierService:
    """The tiers resource's rules over a ``TierRepository``: the set always has exactly one
    default tier and unique levels, because every write validates the whole set it read and
    commits only if that set is still current (the repository's revision guard)."""

    def __init__(
        self,
        *,
        repository: TierRepository,
        backoff: Backoff = REQUEST,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._repo = repository
        self._backoff = backoff
        self._sleep = sleep

    # --- reads -------------------------------------------------------------------------------

    def by_level(self) -> list[Tier]:
        """Every tier by level, read from storage (the HTTP layer caches its reply)."""
        return [found.value for found in self._repo.tier_set().tiers]

    def get(self, code: str) -> Versioned[Tier]:
        """One tier, or ``NotFound``."""
        return self._repo.get(code)

    def all_tiers(self) -> list[Tier]:
        """Every tier by level, for reading: pricing and tier evaluation read this, and the
        adapter serves it from its cache (a warm cache costs them no Firestore read)."""
        return self._repo.tiers()

    def default_tier(self) -> Tier:
        """The tier everyone holds until they earn another; ``Conflict`` while none exists."""
        return default_tier(self.all_tiers())

    # --- writes ------------------------------------------------------------------------------

    def create(self, request: TierCreate) -> Versioned[Tier]:
        """Add a tier; ``is_default: true`` moves the default to it in the same write."""
        tier = request.tier()

        def attempt() -> Versioned[Tier]:
            current = self._repo.tier_set()
            if any(found.value.code == tier.code for found in current.tiers):
                raise Conflict(f"tier {tier.code} already exists")
            if len(current.tiers) >= MAX_TIERS:
                raise Conflict(f"the tier set may hold at most {MAX_TIERS} tiers")
            if not current.tiers and not tier.is_default:
                raise Conflict("the first tier must be the default: send is_default: true")
            demoted = _demote_default(current) if tier.is_default else []
            validate_tier_set(_with(current, [tier, *(found.value for found in demoted)]))
            self._save(revision=current.revision, create=[tier], update=demoted)
            return self._repo.get(tier.code)

        return self._settle(attempt, what=f"creating tier {tier.code}")

    def update(
        self, code: str, patch: TierPatch, *, expected_version: str | None
    ) -> Versioned[Tier]:
        """Apply the fields sent. ``is_default: true`` moves the default here (the old default
        loses it in the same write); taking the default away without giving it to another tier,
        or a level another tier has, is a ``Conflict``."""

        def attempt() -> Versioned[Tier]:
            current = self._repo.tier_set()
            found = _expecting(current, code, expected_version)
            updated = patch.apply(found.value)
            if found.value.is_default and not updated.is_default:
                raise Conflict(f"{code} is the default tier; make another tier the default instead")
            moving = updated.is_default and not found.value.is_default
            demoted = _demote_default(current) if moving else []
            validate_tier_set(_with(current, [updated, *(d.value for d in demoted)]))
            self._save(
                revision=current.revision, update=[Versioned(updated, found.version), *demoted]
            )
            return self._repo.get(code)

        return self._settle(attempt, what=f"writing tier {code}")

    def delete(self, code: str, *, expected_version: str | None) -> None:
        """Remove a tier nobody holds; the default tier cannot be removed (``Conflict``).

        The holders check is a query before the write: a user given this tier in the instant
        between the two keeps a code that no longer exists (only price lists open to everyone
        then apply to them) until an admin or the next tier evaluation moves them.
        """

        def attempt() -> None:
            current = self._repo.tier_set()
            found = _expecting(current, code, expected_version)
            if found.value.is_default:
                raise Conflict(f"{code} is the default tier; make another tier the default first")
            if self._repo.is_held(code):
                raise Conflict(f"users still hold tier {code}")
            self._save(revision=current.revision, delete=[found])

        self._settle(attempt, what=f"deleting tier {code}")

    def _settle(self, attempt: Callable[[], T], *, what: str) -> T:
        """Run ``attempt`` again on fresh data while other tier writes beat it to the commit.

        ``If-Match`` is checked against each fresh read, so a 412 always means *this* tier
        changed, never that another tier of the set did (only ``_Raced`` is retried).
        """
        return optimistic(
            attempt, backoff=self._backoff, what=what, sleep=self._sleep, lost=(_Raced,)
        )

    def _save(
        self,
        *,
        revision: str | None,
        create: Sequence[Tier] = (),
        update: Sequence[Versioned[Tier]] = (),
        delete: Sequence[Versioned[Tier]] = (),
    ) -> None:
        try:
            self._repo.save(revision=revision, create=create, update=update, delete=delete)
        except PreconditionFailed:
            raise _Raced from None


def _expecting(current: TierSet, code: str, expected: str | None) -> Versioned[Tier]:
    found = next((found for found in current.tiers if found.value.code == code), None)
    if found is None:
        raise NotFound(f"no tier {code}")
    if expected is not None and expected != found.version:
        raise PreconditionFailed(f"tier {code} changed since it was read")
    return found


def _demote_default(current: TierSet) -> list[Versioned[Tier]]:
    """The current default tier(s) with ``is_default`` cleared, at the versions read."""
    return [
        Versioned(found.value.model_copy(update={"is_default": False}), found.version)
        for found in current.tiers
        if found.value.is_default
    ]


def _with(current: TierSet, changed: Sequence[Tier]) -> list[Tier]:
    """The set as it would be with ``changed`` tiers replaced (by code) or added."""
    by_code = {found.value.code: found.value for found in current.tiers}
    by_code.update({tier.code: tier for tier in changed})
    return list(by_code.values())
