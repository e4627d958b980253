"""Unit tests of customer tiers: the tier set, delivery stats, evaluation and progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from celeste.accounts.tiers import (
    DEMO_TIERS,
    FALLBACK_TIER,
    MAX_RECENT_DELIVERIES,
    RECENT_WINDOW,
    CustomerStats,
    RecentDelivery,
    Tier,
    TierRequirements,
    base_tier,
    default_tier,
    default_tier_code,
    evaluate_tier,
    orders_last_30_days,
    record_delivery,
    reverse_delivery,
    tier_progress,
    validate_tier_set,
)
from celeste.kernel.errors import Conflict, NotFound

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
TICK = timedelta(microseconds=1)


def tier(code: str, level: int, *, is_default: bool = False, **requirements: int) -> Tier:
    return Tier(
        code=code,
        name=code.title(),
        level=level,
        is_default=is_default,
        requirements=TierRequirements(**requirements),
    )


def stats(orders: int = 0, spend: int = 0, recent: int = 0) -> CustomerStats:
    """Stats with ``recent`` deliveries one day ago (counted in ``orders`` too)."""
    deliveries = [
        RecentDelivery(order_id=f"o{i}", delivered_at=NOW - DAY, amount=0) for i in range(recent)
    ]
    return CustomerStats(orders_count=orders, lifetime_spend=spend, recent_deliveries=deliveries)


# --- the tier set --------------------------------------------------------------------------


def test_demo_tiers_are_a_valid_set() -> None:
    validate_tier_set(DEMO_TIERS)
    assert [(t.code, t.level, t.is_default) for t in DEMO_TIERS] == [
        ("BRONZE", 1, True),
        ("SILVER", 2, False),
        ("GOLD", 3, False),
        ("PLATINUM", 4, False),
    ]
    assert [tuple(t.requirements.model_dump().values()) for t in DEMO_TIERS] == [
        (0, 0, "EUR", 0),
        (5, 10_000, "EUR", 1),
        (20, 50_000, "EUR", 2),
        (50, 200_000, "EUR", 5),
    ]


@pytest.mark.parametrize(
    ("tiers", "problem"),
    [
        pytest.param([], "exactly one tier must be the default; found 0", id="empty"),
        pytest.param([tier("A", 1), tier("B", 2)], "found 0", id="no default"),
        pytest.param(
            [tier("A", 1, is_default=True), tier("B", 2, is_default=True)],
            "found 2",
            id="two defaults",
        ),
        pytest.param(
            [tier("A", 1, is_default=True), tier("A", 2)], "codes must be unique", id="dup code"
        ),
        pytest.param(
            [tier("A", 1, is_default=True), tier("B", 1)], "levels must be unique", id="dup level"
        ),
    ],
)
def test_invalid_tier_set_is_a_conflict(tiers: list[Tier], problem: str) -> None:
    with pytest.raises(Conflict, match=problem):
        validate_tier_set(tiers)


def test_single_default_tier_is_a_valid_set() -> None:
    validate_tier_set([tier("ONLY", 0, is_default=True)])


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"code": "gold"}, "code"),
        ({"code": "1GOLD"}, "code"),
        ({"code": "GO-LD"}, "code"),
        ({"code": ""}, "code"),
        ({"code": "A" * 33}, "code"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"level": -1}, "level"),
        ({"level": 1001}, "level"),
        ({"benefits": ["x"] * 21}, "benefits"),
        ({"benefits": ["x" * 201]}, "benefits"),
        ({"requirements": {"min_orders": -1}}, "requirements"),
        ({"requirements": {"min_lifetime_spend": 1.5}}, "requirements"),
        ({"requirements": {"min_visits": 3}}, "requirements"),
        ({"colour": "gold"}, "colour"),
    ],
)
def test_invalid_tier(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Tier(**{"code": "GOLD", "name": "Gold", "level": 3, **fields})
    assert {error["loc"][0] for error in raised.value.errors()} == {field}


def test_tier_limits_are_inclusive() -> None:
    edge = Tier(code="A" * 32, name="x" * 100, level=1000, benefits=["b" * 200] * 20)
    assert (edge.level, len(edge.benefits), edge.is_default) == (1000, 20, False)
    assert edge.requirements == TierRequirements()
    assert Tier(code="A", name="A", level=0).code == "A"


# --- evaluation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("orders", "spend", "recent", "expected"),
    [
        (0, 0, 0, "BRONZE"),
        (5, 10_000, 1, "SILVER"),
        (4, 10_000, 1, "BRONZE"),
        (5, 9_999, 1, "BRONZE"),
        (5, 10_000, 0, "BRONZE"),
        (20, 50_000, 2, "GOLD"),
        (19, 10**9, 5, "SILVER"),
        (1000, 10**9, 1, "SILVER"),
        (50, 200_000, 5, "PLATINUM"),
        (50, 199_999, 5, "GOLD"),
        (50, 200_000, 4, "GOLD"),
    ],
)
def test_evaluate_tier(orders: int, spend: int, recent: int, expected: str) -> None:
    customer = stats(orders, spend, recent)
    assert evaluate_tier(tiers=DEMO_TIERS, stats=customer, now=NOW).code == expected
    reversed_tiers = list(reversed(DEMO_TIERS))
    assert evaluate_tier(tiers=reversed_tiers, stats=customer, now=NOW).code == expected


def test_old_deliveries_do_not_count_as_recent() -> None:
    customer = stats(5, 10_000, 1)
    assert evaluate_tier(tiers=DEMO_TIERS, stats=customer, now=NOW + 31 * DAY).code == "BRONZE"


def test_default_tier_is_the_fallback_even_when_its_own_requirements_are_unmet() -> None:
    tiers = [tier("NEW", 0, is_default=True, min_orders=1), tier("VIP", 5, min_orders=10)]
    assert evaluate_tier(tiers=tiers, stats=stats(), now=NOW).code == "NEW"


def test_a_lower_tier_can_be_the_highest_met() -> None:
    tiers = [
        tier("BASE", 0, is_default=True),
        tier("LOYAL", 1, min_orders=3),
        tier("BIG", 2, min_lifetime_spend=1000),
    ]
    assert evaluate_tier(tiers=tiers, stats=stats(orders=3), now=NOW).code == "LOYAL"


def test_no_default_and_nothing_met_falls_to_the_lowest_tier() -> None:
    tiers = [tier("VIP", 2, min_orders=1), tier("NEW", 1, min_orders=1)]
    assert evaluate_tier(tiers=tiers, stats=stats(), now=NOW).code == "NEW"


def test_an_empty_set_has_no_tier_to_evaluate() -> None:
    with pytest.raises(Conflict):
        evaluate_tier(tiers=[], stats=stats(), now=NOW)


@pytest.mark.parametrize(
    ("tiers", "expected"),
    [
        # The marked default wins, whatever its level.
        ([tier("LOW", 1), tier("MID", 2, is_default=True)], "MID"),
        (list(DEMO_TIERS), "BRONZE"),
        # A set edited outside the API with no default: the lowest level.
        ([tier("GOLD", 3), tier("IRON", 1), tier("SILVER", 2)], "IRON"),
        # No tiers at all: the fallback code, so profiles and prices work before seeding.
        ([], FALLBACK_TIER),
    ],
)
def test_the_one_default_tier_rule(tiers: list[Tier], expected: str) -> None:
    assert default_tier_code(tiers) == expected
    assert default_tier_code(list(reversed(tiers))) == expected
    base = base_tier(tiers)
    assert (base.code if base else FALLBACK_TIER) == expected
    if tiers:
        assert default_tier(tiers).code == expected
    else:
        with pytest.raises(Conflict):
            default_tier(tiers)


# --- progress ------------------------------------------------------------------------------


def progress_rows(current_code: str, customer: CustomerStats) -> list[tuple[str, int, int, int]]:
    progress = tier_progress(tiers=DEMO_TIERS, current_code=current_code, stats=customer, now=NOW)
    return [(r.name, r.current, r.required, r.percent) for r in progress.requirements]


def test_progress_towards_the_next_tier() -> None:
    customer = stats(2, 5_000, 1)
    progress = tier_progress(tiers=DEMO_TIERS, current_code="BRONZE", stats=customer, now=NOW)
    assert (progress.current.code, progress.next and progress.next.code) == ("BRONZE", "SILVER")
    assert progress_rows("BRONZE", customer) == [
        ("min_orders", 2, 5, 40),
        ("min_lifetime_spend", 5_000, 10_000, 50),
        ("min_orders_last_30_days", 1, 1, 100),
    ]


def test_progress_percent_is_floored_and_capped() -> None:
    assert progress_rows("SILVER", stats(19, 10**6, 0)) == [
        ("min_orders", 19, 20, 95),
        ("min_lifetime_spend", 10**6, 50_000, 100),
        ("min_orders_last_30_days", 0, 2, 0),
    ]
    assert progress_rows("GOLD", stats(49, 199_999, 4))[1] == (
        "min_lifetime_spend",
        199_999,
        200_000,
        99,
    )


def test_zero_requirement_is_fully_met() -> None:
    tiers = [tier("A", 1, is_default=True), tier("B", 2, min_orders=2)]
    progress = tier_progress(tiers=tiers, current_code="A", stats=stats(), now=NOW)
    assert [(r.name, r.percent) for r in progress.requirements] == [
        ("min_orders", 0),
        ("min_lifetime_spend", 100),
        ("min_orders_last_30_days", 100),
    ]


def test_progress_at_the_top_has_no_next_tier() -> None:
    progress = tier_progress(tiers=DEMO_TIERS, current_code="PLATINUM", stats=stats(), now=NOW)
    assert (progress.current.code, progress.next, progress.requirements) == ("PLATINUM", None, [])


def test_progress_of_a_locked_tier_points_above_it() -> None:
    progress = tier_progress(tiers=DEMO_TIERS, current_code="GOLD", stats=stats(), now=NOW)
    assert progress.next is not None and progress.next.code == "PLATINUM"


def test_progress_skips_level_gaps() -> None:
    tiers = [tier("A", 1, is_default=True), tier("C", 30), tier("B", 10)]
    progress = tier_progress(tiers=tiers, current_code="A", stats=stats(), now=NOW)
    assert progress.next is not None and progress.next.code == "B"


def test_progress_of_an_unknown_tier_is_not_found() -> None:
    with pytest.raises(NotFound):
        tier_progress(tiers=DEMO_TIERS, current_code="DIAMOND", stats=stats(), now=NOW)


# --- delivery stats ------------------------------------------------------------------------


def deliver(
    customer: CustomerStats, order_id: str, amount: int, *, at: datetime = NOW, now: datetime = NOW
) -> CustomerStats:
    return record_delivery(customer, order_id=order_id, amount=amount, delivered_at=at, now=now)


def refund(
    customer: CustomerStats, order_id: str, amount: int, *, at: datetime = NOW, now: datetime = NOW
) -> CustomerStats:
    return reverse_delivery(customer, order_id=order_id, amount=amount, delivered_at=at, now=now)


def totals(customer: CustomerStats, now: datetime = NOW) -> tuple[int, int, int]:
    return (
        customer.orders_count,
        customer.spend_in("EUR"),
        orders_last_30_days(customer, now=now),
    )


def test_record_delivery_counts_the_order() -> None:
    customer = deliver(deliver(CustomerStats(), "o1", 1500), "o2", 500)
    assert totals(customer) == (2, 2000, 2)
    assert [d.order_id for d in customer.recent_deliveries] == ["o1", "o2"]


def test_record_delivery_is_idempotent() -> None:
    once = deliver(CustomerStats(), "o1", 1500)
    assert deliver(once, "o1", 1500) == once
    assert deliver(once, "o1", 1500, now=NOW + DAY) == once


def test_a_late_event_for_an_old_delivery_counts_but_is_not_remembered() -> None:
    customer = deliver(CustomerStats(), "o1", 700, at=NOW - 40 * DAY)
    assert totals(customer) == (1, 700, 0)
    assert customer.recent_deliveries == []


def test_recording_forgets_deliveries_older_than_the_window() -> None:
    customer = deliver(CustomerStats(), "o1", 100, at=NOW)
    later = NOW + RECENT_WINDOW + DAY
    customer = deliver(customer, "o2", 100, at=later, now=later)
    assert [d.order_id for d in customer.recent_deliveries] == ["o2"]
    assert totals(customer, later) == (2, 200, 1)


@pytest.mark.parametrize(
    ("age", "counted"),
    [
        (timedelta(0), True),
        (DAY, True),
        (RECENT_WINDOW - TICK, True),
        (RECENT_WINDOW, True),
        (RECENT_WINDOW + TICK, False),
        (-DAY, True),
    ],
)
def test_thirty_day_window(age: timedelta, counted: bool) -> None:
    delivered_at = NOW - DAY
    customer = deliver(CustomerStats(), "o1", 100, at=delivered_at, now=delivered_at)
    assert orders_last_30_days(customer, now=delivered_at + age) == (1 if counted else 0)


def test_recent_deliveries_are_bounded_keeping_the_newest() -> None:
    full = CustomerStats(
        orders_count=MAX_RECENT_DELIVERIES,
        recent_deliveries=[
            RecentDelivery(order_id=f"o{i}", delivered_at=NOW - DAY + i * TICK, amount=1)
            for i in range(MAX_RECENT_DELIVERIES)
        ],
    )
    customer = deliver(full, "newest", 1)
    assert len(customer.recent_deliveries) == MAX_RECENT_DELIVERIES
    assert customer.recent_deliveries[0].order_id == "o1"
    assert customer.recent_deliveries[-1].order_id == "newest"
    assert customer.orders_count == MAX_RECENT_DELIVERIES + 1


def test_stats_reject_more_than_the_bound() -> None:
    too_many = [
        RecentDelivery(order_id=f"o{i}", delivered_at=NOW, amount=1)
        for i in range(MAX_RECENT_DELIVERIES + 1)
    ]
    with pytest.raises(ValidationError):
        CustomerStats(recent_deliveries=too_many)


def test_reverse_delivery_takes_the_order_back_out() -> None:
    customer = refund(deliver(deliver(CustomerStats(), "o1", 1500), "o2", 500), "o1", 1500)
    assert totals(customer) == (1, 500, 1)
    assert [(d.order_id, d.refunded) for d in customer.recent_deliveries] == [
        ("o1", True),
        ("o2", False),
    ]


def test_reverse_delivery_is_idempotent() -> None:
    once = refund(deliver(CustomerStats(), "o1", 1500), "o1", 1500)
    assert refund(once, "o1", 1500) == once
    assert deliver(once, "o1", 1500) == once


def test_reverse_delivery_never_goes_below_zero() -> None:
    customer = CustomerStats(orders_count=0, lifetime_spend=100)
    assert totals(refund(customer, "o1", 500, at=NOW - 60 * DAY)) == (0, 0, 0)


def test_reverse_of_a_forgotten_old_order_subtracts() -> None:
    customer = CustomerStats(orders_count=3, lifetime_spend=3000)
    assert totals(refund(customer, "o1", 1000, at=NOW - 60 * DAY)) == (2, 2000, 0)


def test_refund_before_its_delivery_event_commutes() -> None:
    """The refund event arrives first; the late delivery event then changes nothing."""
    start = deliver(CustomerStats(), "o0", 300)
    in_order = refund(deliver(start, "o1", 1000), "o1", 1000)
    out_of_order = deliver(refund(start, "o1", 1000), "o1", 1000)
    assert totals(out_of_order) == totals(in_order) == (1, 300, 1)


def test_refund_can_drop_the_tier() -> None:
    customer = stats(5, 10_000, 1)
    assert evaluate_tier(tiers=DEMO_TIERS, stats=customer, now=NOW).code == "SILVER"
    customer = refund(customer, "o0", 1)
    assert evaluate_tier(tiers=DEMO_TIERS, stats=customer, now=NOW).code == "BRONZE"


# --- properties ----------------------------------------------------------------------------

events = st.lists(
    st.tuples(
        st.sampled_from(["deliver", "refund"]),
        st.sampled_from(["o1", "o2", "o3"]),
        st.integers(0, 20),  # days ago
    ),
    max_size=12,
)
AMOUNTS = {"o1": 100, "o2": 2_000, "o3": 30_000}


def replay(customer: CustomerStats, history: list[tuple[str, str, int]]) -> CustomerStats:
    for kind, order_id, days_ago in history:
        step = deliver if kind == "deliver" else refund
        customer = step(customer, order_id, AMOUNTS[order_id], at=NOW - days_ago * DAY)
    return customer


@given(history=events)
def test_replaying_any_event_twice_changes_nothing(history: list[tuple[str, str, int]]) -> None:
    doubled = [event for event in history for _ in range(2)]
    assert totals(replay(CustomerStats(), doubled)) == totals(replay(CustomerStats(), history))


@given(history=events)
def test_stats_never_go_negative_and_recent_never_exceeds_orders(
    history: list[tuple[str, str, int]],
) -> None:
    customer = replay(CustomerStats(orders_count=1, lifetime_spend=50), history)
    orders, spend, recent = totals(customer)
    assert orders >= 0 and spend >= 0 and recent <= len(AMOUNTS)


@given(orders=st.integers(0, 100), spend=st.integers(0, 300_000), recent=st.integers(0, 8))
def test_evaluated_tier_is_the_highest_whose_requirements_are_met(
    orders: int, spend: int, recent: int
) -> None:
    customer = stats(orders, spend, recent)
    held = evaluate_tier(tiers=DEMO_TIERS, stats=customer, now=NOW)
    for candidate in DEMO_TIERS:
        r = candidate.requirements
        met = (
            orders >= r.min_orders
            and spend >= r.min_lifetime_spend
            and recent >= r.min_orders_last_30_days
        )
        if met:
            assert held.level >= candidate.level
    assert held.level == max(
        t.level
        for t in DEMO_TIERS
        if orders >= t.requirements.min_orders
        and spend >= t.requirements.min_lifetime_spend
        and recent >= t.requirements.min_orders_last_30_days
    )
