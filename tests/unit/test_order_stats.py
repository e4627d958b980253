"""What an order owes its customer's stats (``celeste.orders.stats``), spend per currency and
tier requirements per currency (``celeste.accounts.tiers``), and the fulfilment's stats effect
over fakes: decided by the stored order, never by the event, each step once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from celeste.accounts.tiers import (
    CustomerStats,
    Tier,
    TierRequirements,
    evaluate_tier,
    record_delivery,
    tier_progress,
)
from celeste.orders.order import Order, StatusChange
from celeste.orders.payments import VOID_KEY, Payment, Refund, RefundRequest
from celeste.orders.stats import (
    COUNT_MARKER,
    REVERSE_MARKER,
    StatsStep,
    apply_steps,
    refund_marker,
    stats_steps,
)
from celeste.orders.status import OrderStatus
from tests.unit import test_checkout_service, test_payments
from tests.unit.test_payments import World

S = OrderStatus
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
DELIVERED = [S.CONFIRMED, S.PROCESSING, S.SHIPPED, S.DELIVERED]

world = test_payments.world  # the payments world (fixture) over fakes
shop = test_checkout_service.shop  # the checkout world with discount codes (fixture)


def _refund(key: str, amount: int, *, state: str = "succeeded") -> Refund:
    return Refund.model_validate(
        {"key": key, "amount": amount, "reason": "r", "state": state, "requested_at": NOW}
    )


def _order(
    *statuses: OrderStatus,
    total: int = 2_000,
    currency: str | None = "EUR",
    refunds: list[Refund] | None = None,
    order_id: str = "o1",
) -> Order:
    """An order whose history went pending → ``statuses``, paid ``total`` with ``refunds``."""
    steps = [S.PENDING, *statuses]
    history = [
        StatusChange(status=s, at=NOW + i * MINUTE, actor="admin") for i, s in enumerate(steps)
    ]
    payment = Payment(
        intent_id="pi_1",
        amount=total,
        currency=currency or "EUR",
        amount_received=total,
        refunds=refunds or [],
    )
    return Order(
        id=order_id,
        user_id="alice",
        store_id="store-1",
        status=steps[-1],
        lines=[],
        currency=currency,
        tier="BRONZE",
        subtotal=total,
        discount_total=0,
        total=total,
        history=history,
        payment=payment,
        created_at=NOW,
        updated_at=NOW,
    )


def _sync(
    stats: CustomerStats, order: Order, applied: dict[str, int | None]
) -> tuple[CustomerStats, list[StatsStep]]:
    """One run of the stats effect: the owed steps applied, their markers recorded."""
    steps = stats_steps(order, applied)
    for step in steps:
        applied[step.marker] = step.amount
    return apply_steps(stats, steps, order=order, now=NOW + 10 * MINUTE), steps


# --- what an order owes, from its own history ------------------------------------------------


@pytest.mark.parametrize(
    "statuses",
    [
        [S.CONFIRMED, S.CANCELLED],
        [S.CONFIRMED, S.EXPIRED],
        [S.REJECTED],
        [S.CONFIRMED, S.PROCESSING, S.SHIPPED],
        [S.CONFIRMED, S.PROCESSING, S.REFUNDED],
        [S.CONFIRMED, S.PROCESSING, S.SHIPPED, S.PARTIALLY_REFUNDED, S.REFUNDED],
    ],
    ids=lambda statuses: "-".join(statuses),
)
def test_an_order_never_delivered_owes_nothing(statuses: list[OrderStatus]) -> None:
    order = _order(*statuses, refunds=[_refund("k1", 500)])
    assert stats_steps(order, {}) == []


def test_a_delivered_order_is_counted_once_in_its_currency() -> None:
    order = _order(*DELIVERED, total=1_234, currency="USD")
    assert stats_steps(order, {}) == [StatsStep(COUNT_MARKER, "count", "USD", 1_234)]
    assert stats_steps(order, {COUNT_MARKER: 1_234}) == []


def test_each_succeeded_refund_takes_its_share_once_and_a_full_refund_the_rest() -> None:
    refunds = [_refund("k1", 500), _refund("k2", 300, state="pending")]
    partial = _order(*DELIVERED, S.PARTIALLY_REFUNDED, refunds=refunds)
    assert stats_steps(partial, {COUNT_MARKER: 2_000}) == [
        StatsStep(refund_marker("k1"), "refund", "EUR", 500)  # the pending one: not yet
    ]
    done = {COUNT_MARKER: 2_000, refund_marker("k1"): 500}
    assert stats_steps(partial, done) == []
    full = _order(
        *DELIVERED,
        S.PARTIALLY_REFUNDED,
        S.REFUNDED,
        refunds=[_refund("k1", 500), _refund("k2", 1_500)],
    )
    assert stats_steps(full, done) == [
        StatsStep(refund_marker("k2"), "refund", "EUR", 1_500),
        StatsStep(REVERSE_MARKER, "reverse", "EUR", 0),
    ]
    assert stats_steps(full, {**done, refund_marker("k2"): 1_500, REVERSE_MARKER: 0}) == []


def test_everything_owed_at_once_when_the_first_event_comes_late() -> None:
    full = _order(*DELIVERED, S.REFUNDED, refunds=[_refund("k1", 2_000)])
    assert [(s.marker, s.amount) for s in stats_steps(full, {})] == [
        (COUNT_MARKER, 2_000),
        (refund_marker("k1"), 2_000),
        (REVERSE_MARKER, 0),
    ]
    refunded_by_hand = _order(*DELIVERED, S.REFUNDED, refunds=[])  # no payment through Stripe
    assert [(s.marker, s.amount) for s in stats_steps(refunded_by_hand, {COUNT_MARKER: None})] == [
        (REVERSE_MARKER, 2_000)
    ]


def test_the_void_of_money_never_accepted_is_not_a_share() -> None:
    order = _order(*DELIVERED, refunds=[_refund(f"o1-{VOID_KEY}", 700)])
    assert stats_steps(order, {COUNT_MARKER: 2_000}) == []


def test_shares_never_exceed_what_was_counted() -> None:
    order = _order(*DELIVERED, S.REFUNDED, refunds=[_refund("k1", 1_500), _refund("k2", 1_500)])
    steps = stats_steps(order, {COUNT_MARKER: 2_000})
    assert [s.amount for s in steps] == [1_500, 500, 0]


def test_a_reversed_order_owes_nothing_more() -> None:
    """An order reversed before shares existed (its marker ``reverse``) is final."""
    order = _order(*DELIVERED, S.PARTIALLY_REFUNDED, S.REFUNDED, refunds=[_refund("k1", 500)])
    assert stats_steps(order, {COUNT_MARKER: None, REVERSE_MARKER: None}) == []


def test_an_order_without_a_currency_counts_in_the_shop_currency() -> None:
    order = _order(*DELIVERED, currency=None)
    assert stats_steps(order, {})[0].currency == "EUR"


@given(
    total=st.integers(1, 10_000),
    cuts=st.lists(st.integers(1, 10_000), max_size=4),
    full=st.booleans(),
    syncs=st.lists(st.booleans(), min_size=6, max_size=6),
)
def test_any_schedule_of_effects_ends_where_the_order_says(
    total: int, cuts: list[int], full: bool, syncs: list[bool]
) -> None:
    """Refunds land one by one (the last one, if ``full``, refunds the rest); the stats effect
    runs after any subset of them (``syncs``), each run maybe twice, and once at the end. The
    stats end at the order's own contribution: what is left of its spend, counted once, or
    nothing at all once refunded in full."""
    refunds: list[Refund] = []
    left = total
    for i, cut in enumerate(cuts):
        amount = min(cut, left - 1)
        if amount <= 0:
            break
        refunds.append(_refund(f"k{i}", amount))
        left -= amount
    if full:
        refunds.append(_refund("last", left))
    states = [_order(*DELIVERED, total=total)]
    for i in range(len(refunds)):
        final = full and i == len(refunds) - 1
        statuses = [*DELIVERED, S.PARTIALLY_REFUNDED, *([S.REFUNDED] if final else [])]
        states.append(_order(*statuses, total=total, refunds=refunds[: i + 1]))
    stats, applied = CustomerStats(), {}
    for state, run in zip(states, syncs, strict=False):
        if run:
            stats, _ = _sync(stats, state, applied)
            again, steps = _sync(stats, state, applied)
            assert steps == [] and again == stats
    stats, _ = _sync(stats, states[-1], applied)
    if full:
        assert (stats.orders_count, stats.lifetime_spend) == (0, {})
    else:
        assert (stats.orders_count, stats.lifetime_spend) == (1, {"EUR": left})


# --- spend per currency, tiers per currency --------------------------------------------------


def test_spend_is_kept_per_currency_never_summed() -> None:
    stats = CustomerStats()
    for order_id, amount, currency in [("a", 100, "USD"), ("b", 100, "JPY"), ("c", 50, "USD")]:
        stats = record_delivery(
            stats, order_id=order_id, amount=amount, currency=currency, delivered_at=NOW, now=NOW
        )
    assert stats.orders_count == 3
    assert stats.lifetime_spend == {"USD": 150, "JPY": 100}
    assert stats.spend_in("EUR") == 0


def test_a_stored_scalar_lifetime_spend_reads_as_the_shop_currency() -> None:
    legacy = CustomerStats.model_validate({"orders_count": 3, "lifetime_spend": 4_200})
    assert legacy.lifetime_spend == {"EUR": 4_200}
    assert CustomerStats.model_validate({"lifetime_spend": 0}).lifetime_spend == {}
    assert legacy.model_dump()["lifetime_spend"] == {"EUR": 4_200}  # written back as a map


def test_a_tier_counts_spend_in_its_own_currency_only() -> None:
    ladder = [
        Tier(code="BASE", name="Base", level=1, is_default=True),
        Tier(
            code="BIG_USD",
            name="Big",
            level=2,
            requirements=TierRequirements(min_lifetime_spend=150, currency="USD"),
        ),
    ]
    usd_and_yen = CustomerStats(orders_count=2, lifetime_spend={"USD": 100, "JPY": 100})
    assert evaluate_tier(tiers=ladder, stats=usd_and_yen, now=NOW).code == "BASE"
    usd = CustomerStats(orders_count=2, lifetime_spend={"USD": 150})
    assert evaluate_tier(tiers=ladder, stats=usd, now=NOW).code == "BIG_USD"
    progress = tier_progress(tiers=ladder, current_code="BASE", stats=usd_and_yen, now=NOW)
    spend = next(p for p in progress.requirements if p.name == "min_lifetime_spend")
    assert (spend.current, spend.required, spend.percent, spend.currency) == (100, 150, 66, "USD")


def test_a_tier_stored_without_a_currency_counts_the_shop_currency() -> None:
    stored = Tier.model_validate(
        {"code": "GOLD", "name": "Gold", "level": 3, "requirements": {"min_lifetime_spend": 10}}
    )
    assert stored.requirements.currency == "EUR"


# --- the fulfilment's stats effect over fakes ------------------------------------------------


def _spend(world: World) -> tuple[int, dict[str, int]]:
    standing = world.commerce.standing("alice")
    assert standing is not None
    return standing.value.stats.orders_count, dict(standing.value.stats.lifetime_spend)


def test_a_partial_refund_takes_its_share_back_once_and_a_full_refund_the_rest(
    world: World,
) -> None:
    world.commerce.add_customer("alice")
    oid = world.paid(quantity=4)  # 4 x 250
    for before, after in ((S.PROCESSING, S.SHIPPED), (S.SHIPPED, S.DELIVERED)):
        world.orders.set_status(oid, after, expected_version=None)
        world.effects(oid, before, after)
    assert _spend(world) == (1, {"EUR": 1_000})
    world.payments.refund(oid, RefundRequest(amount=250, reason="a"), idempotency_key="r1")
    for _ in range(3):  # redelivered
        world.effects(oid, S.DELIVERED, S.PARTIALLY_REFUNDED)
    assert _spend(world) == (1, {"EUR": 750})
    world.payments.refund(oid, RefundRequest(amount=600, reason="b"), idempotency_key="r2")
    for _ in range(2):  # a further partial refund keeps the status
        world.effects(oid, S.PARTIALLY_REFUNDED, S.PARTIALLY_REFUNDED)
    assert _spend(world) == (1, {"EUR": 150})
    world.payments.refund(oid, RefundRequest(reason="rest"), idempotency_key="r3")
    for _ in range(2):
        world.effects(oid, S.PARTIALLY_REFUNDED, S.REFUNDED)
    world.effects(oid, S.SHIPPED, S.DELIVERED)  # the delivery event, very late
    assert _spend(world) == (0, {})
    markers = {m for o, m in world.commerce.markers if o == oid}
    assert markers == {"count", "reverse"} | {m for m in markers if m.startswith("refund-")}
    assert len(markers) == 5


def test_forged_repeated_and_reordered_events_count_nothing_for_a_cancelled_order(
    shop: test_checkout_service.Shop,
) -> None:
    """Finding 12: a cancelled order (pending → confirmed → cancelled) gets events for moves
    that never happened, three times, out of order: stats, tier, stock and the code's uses stay
    what the order's own history says."""
    shop.commerce.add_customer("alice")
    shop.codes.add(test_checkout_service._code(usage_limit=5))
    order = test_checkout_service._placed_with_code(shop, "alice")
    assert shop.fulfilment.reserve(order.id) == "confirmed"
    shop.orders.cancel(order.id, uid="alice", is_admin=False, expected_version=None)
    forged = [
        (S.SHIPPED, S.DELIVERED),
        (S.CONFIRMED, S.CANCELLED),
        (S.DELIVERED, S.PARTIALLY_REFUNDED),
        (S.PROCESSING, S.SHIPPED),
        (S.DELIVERED, S.REFUNDED),
        (S.PENDING, S.CONFIRMED),
        (S.PARTIALLY_REFUNDED, S.PARTIALLY_REFUNDED),
    ]
    for before, after in reversed(forged * 3):
        shop.fulfilment.on_status_change(order.id, before=before, after=after)
    standing = shop.commerce.standing("alice")
    assert standing is not None
    assert (standing.value.stats.orders_count, standing.value.stats.lifetime_spend) == (0, {})
    assert standing.value.stats.recent_deliveries == [] and standing.value.tier == "BRONZE"
    assert {m for o, m in shop.commerce.markers if o == order.id} == set()
    tea = shop.commerce.level(test_checkout_service.STORE, "tea")
    assert (tea.on_hand, tea.reserved) == (100, 0)
    rows = [m.id for m in shop.commerce.ledger(test_checkout_service.STORE, "tea")]
    assert rows.count(f"{order.id}-release") == 1 and f"{order.id}-commit" not in rows
    assert shop.code("SAVE10").times_used == 0
    assert sorted(use.kind for use in shop.commerce.code_uses.values()) == ["return", "use"]
