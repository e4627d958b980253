"""Customer tiers: the tier set's rules, a customer's delivery stats, and which tier they earn."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
)

from celeste.kernel.errors import Conflict, NotFound, ValidationFailed
from celeste.kernel.money import DEFAULT_CURRENCY, Currency, MinorUnits

#: A tier's code: upper case, as customers and admins see it (``GOLD``).
TierCode = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{0,31}$")]

#: How far back ``orders_last_30_days`` looks; deliveries older than this are forgotten.
RECENT_WINDOW = timedelta(days=30)

#: At most this many recent deliveries are remembered (the newest win), so the stats stay small.
MAX_RECENT_DELIVERIES = 1000

_Count = Annotated[int, Field(ge=0, le=10**9)]
_MAX_SPEND = 10**12

RequirementName = Literal["min_orders", "min_lifetime_spend", "min_orders_last_30_days"]


class TierRequirements(BaseModel):
    """What a customer's stats must reach to hold a tier; zero means no requirement.

    ``min_lifetime_spend`` counts delivered spend in ``currency`` only (amounts in other
    currencies are never converted or added); order counts count orders in every currency.
    A tier stored before ``currency`` existed reads as the shop's ``DEFAULT_CURRENCY``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_orders: _Count = 0
    min_lifetime_spend: MinorUnits = 0
    currency: Currency = DEFAULT_CURRENCY
    min_orders_last_30_days: _Count = 0


class Tier(BaseModel):
    """A customer tier: its code, rank (``level``), requirements and advertised benefits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: TierCode
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    level: int = Field(ge=0, le=1000)
    is_default: bool = False
    requirements: TierRequirements = Field(default_factory=TierRequirements)
    benefits: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=20
    )


class _StrictRequirements(TierRequirements):
    """``TierRequirements`` as clients send them: integers only (no ``"5"``, no ``true``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class TierCreate(Tier):
    """Body of ``POST /tiers``: a ``Tier``, validated strictly (``level: "3"`` is invalid)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    requirements: _StrictRequirements = Field(default_factory=_StrictRequirements)

    def tier(self) -> Tier:
        """The tier to store."""
        return Tier.model_validate(self.model_dump())


_PatchName = Annotated[str, StringConstraints(min_length=1, max_length=100)]
_PatchBenefit = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class TierPatch(BaseModel):
    """Body of ``PATCH /tiers/{code}``: only fields sent change. ``requirements`` are merged
    field by field; ``benefits`` replace the list; the code (the document id) never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: _PatchName | None = None
    level: Annotated[int, Field(ge=0, le=1000)] | None = None
    is_default: StrictBool | None = None
    requirements: _StrictRequirements | None = None
    benefits: list[_PatchBenefit] | None = Field(default=None, max_length=20)

    def apply(self, tier: Tier) -> Tier:
        """``tier`` with the sent fields changed; ``null`` is refused for every field."""
        sent = self.model_dump(exclude_unset=True)
        for name, value in sent.items():
            if value is None:
                raise ValidationFailed.on(name, "may not be null")
        if self.requirements is not None:
            merged = self.requirements.model_dump(exclude_unset=True)
            sent["requirements"] = tier.requirements.model_copy(update=merged)
        return Tier.model_validate({**tier.model_dump(), **sent})


def validate_tier_set(tiers: Sequence[Tier]) -> None:
    """Raise Conflict unless there is exactly one default tier and codes and levels are unique."""
    defaults = [tier.code for tier in tiers if tier.is_default]
    if len(defaults) != 1:
        raise Conflict(f"exactly one tier must be the default; found {len(defaults)}: {defaults}")
    codes = [tier.code for tier in tiers]
    if len(set(codes)) != len(codes):
        raise Conflict(f"tier codes must be unique: {_duplicates(codes)}")
    levels = [tier.level for tier in tiers]
    if len(set(levels)) != len(levels):
        raise Conflict(f"tier levels must be unique: {_duplicates(levels)}")


def _duplicates(values: Sequence[object]) -> list[str]:
    return sorted(str(value) for value, count in Counter(values).items() if count > 1)


#: Lifetime spend per currency (ISO 4217 code → minor units), never summed across currencies.
SpendByCurrency = dict[Currency, MinorUnits]


class RecentDelivery(BaseModel):
    """A delivered order remembered for the 30-day count; ``refunded`` once it was reversed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    order_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    delivered_at: AwareDatetime
    amount: MinorUnits
    refunded: bool = False


class CustomerStats(BaseModel):
    """A customer's delivered-order totals, plus the deliveries of the last 30 days.

    ``orders_count`` counts delivered orders in every currency; ``lifetime_spend`` is kept per
    currency. A profile stored before that holds one number, which reads as spend in the shop's
    ``DEFAULT_CURRENCY`` (the only currency such a total can be taken for).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    orders_count: _Count = 0
    lifetime_spend: SpendByCurrency = Field(default_factory=dict, max_length=200)
    recent_deliveries: list[RecentDelivery] = Field(
        default_factory=list, max_length=MAX_RECENT_DELIVERIES
    )

    @field_validator("lifetime_spend", mode="before")
    @classmethod
    def _stored_scalar(cls, value: object) -> object:
        """A scalar total (profiles stored before spend was per currency) reads as spend in
        ``DEFAULT_CURRENCY``; currencies at zero are left out."""
        if isinstance(value, int) and not isinstance(value, bool):
            value = {DEFAULT_CURRENCY: value}
        if isinstance(value, Mapping):
            return {k: v for k, v in value.items() if v != 0}
        return value

    def spend_in(self, currency: str) -> int:
        """Lifetime spend in ``currency`` (0 when the customer never spent in it)."""
        return self.lifetime_spend.get(currency, 0)


def _add_spend(spend: Mapping[str, int], currency: str, amount: int) -> dict[str, int]:
    """``spend`` with ``amount`` (negative to take back) added in ``currency`` only, kept
    within ``[0, _MAX_SPEND]``; a currency that falls to zero is left out."""
    total = min(max(spend.get(currency, 0) + amount, 0), _MAX_SPEND)
    others = {k: v for k, v in spend.items() if k != currency}
    return {**others, currency: total} if total else others


def _is_recent(moment: datetime, now: datetime) -> bool:
    return moment >= now - RECENT_WINDOW


def _remember(deliveries: Sequence[RecentDelivery], *, now: datetime) -> list[RecentDelivery]:
    """Keep the deliveries still inside the window, newest last, at most the cap."""
    kept = sorted((d for d in deliveries if _is_recent(d.delivered_at, now)), key=_delivery_order)
    return kept[-MAX_RECENT_DELIVERIES:]


def _delivery_order(delivery: RecentDelivery) -> tuple[datetime, str]:
    return delivery.delivered_at, delivery.order_id


def record_delivery(
    stats: CustomerStats,
    *,
    order_id: str,
    amount: int,
    delivered_at: datetime,
    now: datetime,
    currency: str = DEFAULT_CURRENCY,
) -> CustomerStats:
    """Count a delivered order (``amount`` in its ``currency``); an order already remembered
    changes nothing.

    Only the last 30 days of deliveries are remembered, so this guard catches a replayed event
    for a recent order only. The primary guard is the order's ``count`` marker
    (``celeste.orders.stats``).
    """
    if any(d.order_id == order_id for d in stats.recent_deliveries):
        return stats
    delivery = RecentDelivery(order_id=order_id, delivered_at=delivered_at, amount=amount)
    return CustomerStats(
        orders_count=stats.orders_count + 1,
        lifetime_spend=_add_spend(stats.lifetime_spend, currency, amount),
        recent_deliveries=_remember([*stats.recent_deliveries, delivery], now=now),
    )


def take_back_share(stats: CustomerStats, *, amount: int, currency: str) -> CustomerStats:
    """A partial refund of a counted order: ``amount`` leaves the spend in ``currency`` (never
    below zero); the order still counts as an order. Once per refund: the caller's marker."""
    return stats.model_copy(
        update={"lifetime_spend": _add_spend(stats.lifetime_spend, currency, -amount)}
    )


def reverse_delivery(
    stats: CustomerStats,
    *,
    order_id: str,
    amount: int,
    delivered_at: datetime,
    now: datetime,
    currency: str = DEFAULT_CURRENCY,
    counted: bool = False,
) -> CustomerStats:
    """Take a refunded order back out of the stats (``amount``: what is left of its spend in
    ``currency``), never below zero; a repeat changes nothing. ``counted``: the caller knows the
    order was counted (its marker exists), so it is subtracted even if not remembered.

    A recent order is marked refunded, so a second reversal is a no-op. A recent order not yet
    counted (its delivery event is late) is remembered as refunded without subtracting, so the
    late delivery then changes nothing: the two events commute. An order older than the window is
    no longer remembered; only the trigger's own guard on the order prevents a double refund.
    """
    remembered = next((d for d in stats.recent_deliveries if d.order_id == order_id), None)
    if remembered is not None and remembered.refunded:
        return stats
    if remembered is None and not counted and _is_recent(delivered_at, now):
        refunded = RecentDelivery(
            order_id=order_id, delivered_at=delivered_at, amount=amount, refunded=True
        )
        return stats.model_copy(
            update={"recent_deliveries": _remember([*stats.recent_deliveries, refunded], now=now)}
        )
    others = [d for d in stats.recent_deliveries if d.order_id != order_id]
    marked = [] if remembered is None else [remembered.model_copy(update={"refunded": True})]
    return CustomerStats(
        orders_count=max(stats.orders_count - 1, 0),
        lifetime_spend=_add_spend(stats.lifetime_spend, currency, -amount),
        recent_deliveries=_remember([*others, *marked], now=now),
    )


def orders_last_30_days(stats: CustomerStats, *, now: datetime) -> int:
    """How many delivered, unrefunded orders fall within the 30 days before ``now``."""
    return sum(
        1 for d in stats.recent_deliveries if not d.refunded and _is_recent(d.delivered_at, now)
    )


def _measures(
    stats: CustomerStats, requirements: TierRequirements, *, now: datetime
) -> dict[RequirementName, int]:
    """The customer's value for each requirement, keyed by the requirement's name (spend in
    the currency the requirement counts)."""
    return {
        "min_orders": stats.orders_count,
        "min_lifetime_spend": stats.spend_in(requirements.currency),
        "min_orders_last_30_days": orders_last_30_days(stats, now=now),
    }


def _required(requirements: TierRequirements) -> dict[RequirementName, int]:
    """Each requirement's threshold, keyed by the requirement's name."""
    return {
        "min_orders": requirements.min_orders,
        "min_lifetime_spend": requirements.min_lifetime_spend,
        "min_orders_last_30_days": requirements.min_orders_last_30_days,
    }


def _meets(tier: Tier, stats: CustomerStats, *, now: datetime) -> bool:
    measures = _measures(stats, tier.requirements, now=now)
    required = _required(tier.requirements)
    return all(measures[name] >= required[name] for name in measures)


#: The tier code everyone holds while the shop has configured no tiers at all (the demo set's
#: default), so profiles and prices work before tiers are seeded.
FALLBACK_TIER = "BRONZE"


def base_tier(tiers: Sequence[Tier]) -> Tier | None:
    """The one default-tier rule: the tier everyone holds until they earn another is the one
    marked ``is_default``; in a set without one (edited outside the API, which keeps exactly
    one) the lowest level; ``None`` for an empty set."""
    marked = next((tier for tier in tiers if tier.is_default), None)
    return marked or min(tiers, key=lambda tier: (tier.level, tier.code), default=None)


def default_tier(tiers: Sequence[Tier]) -> Tier:
    """The :func:`base_tier` of a set; ``Conflict`` when the set is empty."""
    base = base_tier(tiers)
    if base is None:
        raise Conflict("no default tier is configured")
    return base


def default_tier_code(tiers: Sequence[Tier]) -> str:
    """The code a new profile or an anonymous shopper gets: the :func:`base_tier`'s, or
    ``FALLBACK_TIER`` while no tier exists."""
    base = base_tier(tiers)
    return base.code if base is not None else FALLBACK_TIER


def evaluate_tier(*, tiers: Sequence[Tier], stats: CustomerStats, now: datetime) -> Tier:
    """The highest-level tier whose every requirement the stats meet, else the default tier
    (:func:`base_tier`); ``Conflict`` for an empty set."""
    earned = [tier for tier in tiers if _meets(tier, stats, now=now)]
    return max(earned, key=lambda tier: tier.level) if earned else default_tier(tiers)


class RequirementProgress(BaseModel):
    """How far a customer is along one requirement of the next tier; ``currency`` is the
    currency of ``current`` and ``required`` for ``min_lifetime_spend`` (``None`` for counts)."""

    model_config = ConfigDict(frozen=True)

    name: RequirementName
    current: int
    required: int
    percent: int = Field(ge=0, le=100)
    currency: str | None = None


class TierProgress(BaseModel):
    """The customer's tier, the next one up (None at the top), and progress towards it."""

    model_config = ConfigDict(frozen=True)

    current: Tier
    next: Tier | None
    requirements: list[RequirementProgress]


def _percent(current: int, required: int) -> int:
    return 100 if required <= 0 else min(100, current * 100 // required)


def tier_progress(
    *, tiers: Sequence[Tier], current_code: str, stats: CustomerStats, now: datetime
) -> TierProgress:
    """Progress from tier ``current_code`` towards the next level up; NotFound if it is unknown."""
    current = next((tier for tier in tiers if tier.code == current_code), None)
    if current is None:
        raise NotFound(f"tier {current_code} does not exist")
    higher = [tier for tier in tiers if tier.level > current.level]
    upcoming = min(higher, key=lambda tier: tier.level) if higher else None
    if upcoming is None:
        return TierProgress(current=current, next=None, requirements=[])
    measures = _measures(stats, upcoming.requirements, now=now)
    required = _required(upcoming.requirements)
    return TierProgress(
        current=current,
        next=upcoming,
        requirements=[
            RequirementProgress(
                name=name,
                current=value,
                required=required[name],
                percent=_percent(value, required[name]),
                currency=upcoming.requirements.currency if name == "min_lifetime_spend" else None,
            )
            for name, value in measures.items()
        ],
    )


def _demo_tier(code: str, level: int, orders: int, spend: int, recent: int) -> Tier:
    return Tier(
        code=code,
        name=code.title(),
        level=level,
        is_default=level == 1,
        requirements=TierRequirements(
            min_orders=orders,
            min_lifetime_spend=spend,
            currency=DEFAULT_CURRENCY,  # spend counted in the shop's currency, as the seed prices
            min_orders_last_30_days=recent,
        ),
    )


#: Seed tiers for the emulator and tests; BRONZE is the default.
DEMO_TIERS: tuple[Tier, ...] = (
    _demo_tier("BRONZE", 1, 0, 0, 0),
    _demo_tier("SILVER", 2, 5, 10_000, 1),
    _demo_tier("GOLD", 3, 20, 50_000, 2),
    _demo_tier("PLATINUM", 4, 50, 200_000, 5),
)
