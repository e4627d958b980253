"""Order rules: the transition matrix, cancel rules, stock and stats effects, holds, requests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal, get_args

import pytest
from pydantic import ValidationError

from celeste.kernel.errors import Conflict, Forbidden
from celeste.orders.order import Order, StatusChange
from celeste.orders.requests import OrderRequest, idempotency_fingerprint
from celeste.orders.status import (
    ADMIN_SETTABLE,
    COMMITS_STOCK,
    DEFAULT_HOLD,
    HOLDS_STOCK,
    RELEASES_STOCK,
    STOCK_IN,
    TRANSITIONS,
    Actor,
    OrderStatus,
    hold_expires_at,
    is_expired,
    stats_effect,
    stock_effect,
    transition,
)

S = OrderStatus
ACTORS: tuple[Actor, ...] = get_args(Actor)

# Who may make each legal move, written out from the documented state machine (docs/api.md)
# rather than read from the module.
# "owner" is a customer who owns the order; a customer who does not is never allowed.
EXPECTED_MOVES: dict[tuple[OrderStatus, OrderStatus], set[str]] = {
    (S.PENDING, S.CONFIRMED): {"system"},
    (S.PENDING, S.REJECTED): {"system"},
    (S.PENDING, S.CANCELLED): {"owner", "admin"},
    # ``system``: a zero total is paid at once without a payment provider.
    (S.CONFIRMED, S.PROCESSING): {"admin", "stripe", "system"},
    (S.CONFIRMED, S.EXPIRED): {"system"},
    (S.CONFIRMED, S.CANCELLED): {"owner", "admin"},
    (S.PROCESSING, S.SHIPPED): {"admin"},
    (S.PROCESSING, S.CANCELLED): {"admin"},
    (S.SHIPPED, S.DELIVERED): {"admin"},
    # Refunds through Stripe: partial (and more partial) or full, once the order was paid; by
    # ``stripe`` when made in the Stripe dashboard and recorded from its webhook.
    (S.DELIVERED, S.REFUNDED): {"admin", "stripe"},
    (S.PROCESSING, S.PARTIALLY_REFUNDED): {"admin", "stripe"},
    (S.PROCESSING, S.REFUNDED): {"admin", "stripe"},
    (S.SHIPPED, S.PARTIALLY_REFUNDED): {"admin", "stripe"},
    (S.SHIPPED, S.REFUNDED): {"admin", "stripe"},
    (S.DELIVERED, S.PARTIALLY_REFUNDED): {"admin", "stripe"},
    (S.PARTIALLY_REFUNDED, S.PARTIALLY_REFUNDED): {"admin", "stripe"},
    (S.PARTIALLY_REFUNDED, S.REFUNDED): {"admin", "stripe"},
}

Outcome = Literal["ok", "conflict", "forbidden"]


def expected_outcome(
    current: OrderStatus, target: OrderStatus, actor: Actor, is_owner: bool
) -> Outcome:
    allowed = EXPECTED_MOVES.get((current, target))
    if allowed is None:
        return "conflict"
    who = "owner" if actor == "customer" and is_owner else actor
    return "ok" if who in allowed else "forbidden"


MATRIX = list(itertools.product(S, S, ACTORS, [True, False]))


def test_matrix_covers_every_status_pair_actor_and_ownership() -> None:
    assert len(MATRIX) == 10 * 10 * 4 * 2


def test_module_table_matches_the_expected_moves() -> None:
    assert set(TRANSITIONS) == set(EXPECTED_MOVES)


@pytest.mark.parametrize(("current", "target", "actor", "is_owner"), MATRIX)
def test_transition_matrix(
    current: OrderStatus, target: OrderStatus, actor: Actor, is_owner: bool
) -> None:
    outcome = expected_outcome(current, target, actor, is_owner)
    if outcome == "ok":
        result = transition(current=current, target=target, actor=actor, is_owner=is_owner)
        assert result is target
    elif outcome == "forbidden":
        with pytest.raises(Forbidden):
            transition(current=current, target=target, actor=actor, is_owner=is_owner)
    else:
        with pytest.raises(Conflict) as caught:
            transition(current=current, target=target, actor=actor, is_owner=is_owner)
        assert str(current) in caught.value.detail and str(target) in caught.value.detail


@pytest.mark.parametrize(
    ("current", "actor", "is_owner", "outcome"),
    [
        (S.PENDING, "customer", True, "ok"),
        (S.CONFIRMED, "customer", True, "ok"),
        (S.PROCESSING, "customer", True, "forbidden"),
        (S.SHIPPED, "customer", True, "conflict"),
        (S.PENDING, "customer", False, "forbidden"),
        (S.CONFIRMED, "customer", False, "forbidden"),
        (S.PENDING, "admin", False, "ok"),
        (S.CONFIRMED, "admin", False, "ok"),
        (S.PROCESSING, "admin", False, "ok"),
        (S.SHIPPED, "admin", False, "conflict"),
        (S.DELIVERED, "admin", False, "conflict"),
        (S.CANCELLED, "admin", False, "conflict"),
        (S.PENDING, "system", False, "forbidden"),
    ],
)
def test_cancel_rules(current: OrderStatus, actor: Actor, is_owner: bool, outcome: str) -> None:
    errors = {"forbidden": Forbidden, "conflict": Conflict}
    if outcome == "ok":
        assert transition(current=current, target=S.CANCELLED, actor=actor, is_owner=is_owner) is (
            S.CANCELLED
        )
    else:
        with pytest.raises(errors[outcome]):
            transition(current=current, target=S.CANCELLED, actor=actor, is_owner=is_owner)


def test_only_the_system_confirms_rejects_and_expires() -> None:
    for (current, target), actors in TRANSITIONS.items():
        if target in {S.CONFIRMED, S.REJECTED, S.EXPIRED}:
            assert actors == {"system"}, (current, target)


def test_admin_settable_statuses_are_exactly_the_admin_targets() -> None:
    admin_targets = {target for (_, target), actors in TRANSITIONS.items() if "admin" in actors}
    # partially_refunded is reached only through POST /orders/{id}/refund (money moves).
    assert admin_targets - {S.PARTIALLY_REFUNDED} == ADMIN_SETTABLE
    assert {str(s) for s in ADMIN_SETTABLE} == {
        "processing",
        "shipped",
        "delivered",
        "cancelled",
        "refunded",
    }


def test_status_values() -> None:
    assert [str(s) for s in S] == [
        "pending",
        "confirmed",
        "rejected",
        "processing",
        "shipped",
        "delivered",
        "cancelled",
        "expired",
        "partially_refunded",
        "refunded",
    ]


# --- effects --------------------------------------------------------------------------------

EXPECTED_STOCK_EFFECTS = {
    (S.PENDING, S.CONFIRMED): "reserve",
    (S.CONFIRMED, S.CANCELLED): "release",
    (S.CONFIRMED, S.EXPIRED): "release",
    (S.PROCESSING, S.CANCELLED): "release",
    (S.PROCESSING, S.SHIPPED): "commit",
    (S.PROCESSING, S.PARTIALLY_REFUNDED): "commit",
    (S.PROCESSING, S.REFUNDED): "commit",
}
EXPECTED_STATS_EFFECTS = {
    (S.SHIPPED, S.DELIVERED): "count",
    (S.DELIVERED, S.PARTIALLY_REFUNDED): "refund",
    (S.PARTIALLY_REFUNDED, S.PARTIALLY_REFUNDED): "refund",
    (S.DELIVERED, S.REFUNDED): "reverse",
    (S.PARTIALLY_REFUNDED, S.REFUNDED): "reverse",
}
PAIRS = list(itertools.product(S, S))


@pytest.mark.parametrize(("before", "after"), PAIRS)
def test_stock_effect(before: OrderStatus, after: OrderStatus) -> None:
    assert stock_effect(before=before, after=after) == EXPECTED_STOCK_EFFECTS.get((before, after))


@pytest.mark.parametrize(("before", "after"), PAIRS)
def test_stats_effect(before: OrderStatus, after: OrderStatus) -> None:
    assert stats_effect(before=before, after=after) == EXPECTED_STATS_EFFECTS.get((before, after))


def test_holds_stock() -> None:
    assert {S.CONFIRMED, S.PROCESSING} == HOLDS_STOCK


@pytest.mark.parametrize(("before", "after"), list(TRANSITIONS))
def test_stock_effect_follows_holds_stock(before: OrderStatus, after: OrderStatus) -> None:
    held_before, held_after = before in HOLDS_STOCK, after in HOLDS_STOCK
    if not held_before and held_after:
        expected = "reserve"
    elif held_before and not held_after:
        # Shipping, or a refund (final for fulfilment; restock puts back what returns).
        shipped_out = {S.SHIPPED, S.PARTIALLY_REFUNDED, S.REFUNDED}
        expected = "commit" if after in shipped_out else "release"
    else:
        expected = None
    assert stock_effect(before=before, after=after) == expected


@pytest.mark.parametrize("before", [S.PENDING])
@pytest.mark.parametrize("after", [S.CANCELLED, S.REJECTED])
def test_nothing_to_release_when_nothing_was_held(before: OrderStatus, after: OrderStatus) -> None:
    assert stock_effect(before=before, after=after) is None


# --- holds ----------------------------------------------------------------------------------

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def test_hold_expires_after_the_default_hold_in_utc() -> None:
    assert timedelta(minutes=15) == DEFAULT_HOLD
    assert hold_expires_at(confirmed_at=T0) == T0 + DEFAULT_HOLD
    paris = T0.astimezone(timezone(timedelta(hours=1)))
    expires = hold_expires_at(confirmed_at=paris, hold=timedelta(minutes=5))
    assert expires == T0 + timedelta(minutes=5)
    assert expires.utcoffset() == timedelta(0)


def test_hold_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError):
        hold_expires_at(confirmed_at=datetime(2025, 1, 1), hold=DEFAULT_HOLD)
    with pytest.raises(ValueError):
        is_expired(status=S.CONFIRMED, hold_expires_at=T0, now=datetime(2025, 1, 1))


@pytest.mark.parametrize(
    ("status", "now", "expired"),
    [
        (S.CONFIRMED, T0 - timedelta(seconds=1), False),
        (S.CONFIRMED, T0, True),
        (S.CONFIRMED, T0 + timedelta(hours=1), True),
        (S.PROCESSING, T0 + timedelta(hours=1), False),
        (S.PENDING, T0 + timedelta(hours=1), False),
        (S.CANCELLED, T0 + timedelta(hours=1), False),
    ],
)
def test_is_expired(status: OrderStatus, now: datetime, expired: bool) -> None:
    assert is_expired(status=status, hold_expires_at=T0, now=now) is expired


def test_is_expired_without_a_hold_is_false() -> None:
    assert is_expired(status=S.CONFIRMED, hold_expires_at=None, now=T0) is False


# --- order requests -------------------------------------------------------------------------

ADDRESS = {
    "name": "Ada",
    "line1": "1 Main St",
    "city": "Paris",
    "postal_code": "75001",
    "country": "FR",
}


def body(**changes: object) -> dict[str, object]:
    return {"store_id": "s1", "lines": [{"product_id": "p1", "quantity": 2}], **changes}


def test_valid_request() -> None:
    request = OrderRequest.model_validate(body(shipping_address=ADDRESS))
    assert request.lines[0].quantity == 2
    assert request.shipping_address is not None and request.shipping_address.city == "Paris"


@pytest.mark.parametrize(
    "data",
    [
        body(lines=[{"product_id": "p1", "quantity": 2, "unit_price": 1}]),
        body(total=100),
        body(status="confirmed"),
        body(lines=[]),
        body(lines=[{"product_id": f"p{i}", "quantity": 1} for i in range(101)]),
        body(lines=[{"product_id": "p1", "quantity": 0}]),
        body(lines=[{"product_id": "p1", "quantity": 1001}]),
        body(lines=[{"product_id": "p1", "quantity": "2"}]),
        body(lines=[{"product_id": "p1", "quantity": 1.5}]),
        body(lines=[{"product_id": "p1", "quantity": True}]),
        body(lines=[{"product_id": "a/b", "quantity": 1}]),
        body(lines=[{"product_id": "", "quantity": 1}]),
        body(lines=[{"product_id": "x" * 129, "quantity": 1}]),
        body(lines=[{"product_id": "..", "quantity": 1}]),
        body(lines=[{"product_id": "__id__", "quantity": 1}]),
        body(lines=[{"product_id": "p 1", "quantity": 1}]),
        body(store_id="a/b"),
        {"lines": [{"product_id": "p1", "quantity": 1}]},
        body(shipping_address={**ADDRESS, "country": "France"}),
        body(shipping_address={**ADDRESS, "line1": "x" * 201}),
        body(shipping_address={**ADDRESS, "city": ""}),
        body(shipping_address={**ADDRESS, "floor": "3"}),
    ],
)
def test_invalid_requests_are_rejected(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        OrderRequest.model_validate(data)


def test_limits_are_inclusive() -> None:
    lines = [{"product_id": "x" * 128, "quantity": 1000}] + [
        {"product_id": f"p{i}", "quantity": 1} for i in range(99)
    ]
    assert len(OrderRequest.model_validate(body(lines=lines)).lines) == 100


def test_fingerprint_is_stable_across_key_order_and_parsing() -> None:
    one = OrderRequest.model_validate(body(shipping_address=ADDRESS))
    reordered = OrderRequest.model_validate_json(
        '{"shipping_address": {"country": "FR", "postal_code": "75001", "city": "Paris",'
        ' "line1": "1 Main St", "name": "Ada"},'
        ' "lines": [{"quantity": 2, "product_id": "p1"}], "store_id": "s1"}'
    )
    fingerprint = idempotency_fingerprint(one)
    assert fingerprint == idempotency_fingerprint(reordered)
    assert len(fingerprint) == 64 and int(fingerprint, 16) >= 0


def test_fingerprint_treats_absent_and_null_address_alike() -> None:
    absent = OrderRequest.model_validate(body())
    null = OrderRequest.model_validate(body(shipping_address=None))
    assert idempotency_fingerprint(absent) == idempotency_fingerprint(null)


@pytest.mark.parametrize(
    "other",
    [
        body(store_id="s2"),
        body(lines=[{"product_id": "p1", "quantity": 3}]),
        body(lines=[{"product_id": "p2", "quantity": 2}]),
        body(lines=[{"product_id": "p1", "quantity": 1}, {"product_id": "p1", "quantity": 1}]),
        body(shipping_address=ADDRESS),
    ],
)
def test_fingerprint_differs_for_another_body(other: dict[str, object]) -> None:
    base = idempotency_fingerprint(OrderRequest.model_validate(body()))
    assert idempotency_fingerprint(OrderRequest.model_validate(other)) != base


# --- the order's own machine: Order.move --------------------------------------------------


def _order(status: OrderStatus, *, stock_state: str = "none") -> Order:
    return Order.model_validate(
        {
            "id": "o1",
            "user_id": "alice",
            "store_id": "s1",
            "status": status,
            "lines": [],
            "currency": "EUR",
            "tier": "BRONZE",
            "subtotal": 0,
            "discount_total": 0,
            "total": 0,
            "stock_state": stock_state,
            "hold_expires_at": T0 if status is S.CONFIRMED else None,
            "created_at": T0,
            "updated_at": T0,
        }
    )


@pytest.mark.parametrize(("current", "target", "actor", "is_owner"), MATRIX)
def test_move_enforces_the_machine_and_returns_its_effects(
    current: OrderStatus, target: OrderStatus, actor: Actor, is_owner: bool
) -> None:
    order = _order(current)
    outcome = expected_outcome(current, target, actor, is_owner)
    later = T0 + timedelta(minutes=1)
    if outcome == "ok":
        moved = order.move(target, actor=actor, at=later, is_owner=is_owner)
        assert moved.order.status is target and moved.order.updated_at == later
        assert moved.order.history[-1] == StatusChange(status=target, at=later, actor=actor)
        assert moved.stock == EXPECTED_STOCK_EFFECTS.get((current, target))
        assert moved.stats == EXPECTED_STATS_EFFECTS.get((current, target))
        assert order.status is current  # the order is immutable: a new one is returned
        if target is not S.CONFIRMED:
            assert moved.order.hold_expires_at is None
        assert moved.order.stock_state == ("held" if moved.stock == "reserve" else "none")
    else:
        with pytest.raises(Forbidden if outcome == "forbidden" else Conflict):
            order.move(target, actor=actor, at=later, is_owner=is_owner)


def test_the_stock_sets_come_from_the_one_stock_table() -> None:
    assert set(STOCK_IN) == set(S)
    assert {S.CONFIRMED, S.PROCESSING} == HOLDS_STOCK
    assert {S.CANCELLED, S.EXPIRED} == RELEASES_STOCK
    assert {S.SHIPPED, S.DELIVERED, S.PARTIALLY_REFUNDED, S.REFUNDED} == COMMITS_STOCK
    assert not (HOLDS_STOCK & RELEASES_STOCK) and not (RELEASES_STOCK & COMMITS_STOCK)


@pytest.mark.parametrize("status", list(S))
@pytest.mark.parametrize("state", ["none", "held", "released", "committed"])
def test_stock_target_follows_the_stock_table(status: OrderStatus, state: str) -> None:
    target = _order(status, stock_state=state).stock_target()
    expected = STOCK_IN[status] if state == "held" and STOCK_IN[status] != "held" else None
    assert target == expected


def test_a_move_cannot_be_overridden_by_its_caller() -> None:
    order = _order(S.PENDING)
    for field in ("status", "history", "updated_at"):
        with pytest.raises(ValueError, match=field):
            order.move(S.CANCELLED, actor="customer", at=T0, is_owner=True, **{field: S.SHIPPED})
    assert order.status is S.PENDING
