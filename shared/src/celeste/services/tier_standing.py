"""The caller's standing on the tier ladder (``GET /me/tier``): their profile against the ladder."""

from __future__ import annotations

from celeste.accounts.profiles import Identity
from celeste.accounts.tier_standing import TierStanding, tier_standing
from celeste.kernel.clock import Clock, utcnow
from celeste.services.accounts import AccountService
from celeste.services.tiers import TierService


class TierStandingService:
    """Reads the caller's profile (made on the first call, as ``GET /me`` does) and the cached
    ladder, and measures the profile's stats against the next tier up."""

    def __init__(
        self, *, accounts: AccountService, tiers: TierService, clock: Clock = utcnow
    ) -> None:
        self._accounts = accounts
        self._tiers = tiers
        self._clock = clock

    def standing(self, identity: Identity) -> TierStanding:
        """The caller's tier, the next one and the progress towards it."""
        profile = self._accounts.me(identity).value
        return tier_standing(
            tiers=self._tiers.all_tiers(),
            tier=profile.tier,
            tier_locked=profile.tier_locked,
            stats=profile.stats,
            now=self._clock(),
        )
