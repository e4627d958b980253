"""A customer's standing on the tier ladder: the tier they hold, the next, and how far along."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from celeste.accounts.tiers import (
    CustomerStats,
    RequirementProgress,
    Tier,
    base_tier,
    tier_progress,
)


class TierStanding(BaseModel):
    """What ``GET /me/tier`` answers.

    ``tier`` is the code on the profile (what pricing uses); ``current`` is that tier as the
    ladder defines it, ``null`` only when the ladder no longer holds that code. ``next`` is the
    tier one level up (``null`` at the top) and ``progress`` has one entry per requirement of
    ``next`` (empty at the top).
    """

    model_config = ConfigDict(frozen=True)

    tier: str
    tier_locked: bool
    current: Tier | None
    next: Tier | None
    progress: list[RequirementProgress]


def tier_standing(
    *,
    tiers: Sequence[Tier],
    tier: str,
    tier_locked: bool,
    stats: CustomerStats,
    now: datetime,
) -> TierStanding:
    """The standing of a customer holding ``tier`` with ``stats`` on the ladder ``tiers``.

    A code the ladder no longer holds (its tier was deleted after the profile got it) is
    measured from the default tier, the tier evaluation falls back to; an empty ladder has
    nothing to climb.
    """
    held = next((t for t in tiers if t.code == tier), None)
    base = held or base_tier(tiers)
    if base is None:
        return TierStanding(
            tier=tier, tier_locked=tier_locked, current=None, next=None, progress=[]
        )
    progress = tier_progress(tiers=tiers, current_code=base.code, stats=stats, now=now)
    return TierStanding(
        tier=tier,
        tier_locked=tier_locked,
        current=held,
        next=progress.next,
        progress=list(progress.requirements),
    )
