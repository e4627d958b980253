"""Reservation arithmetic: examples, the auditor, and properties over random operation sequences."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from celeste.inventory.stock import (
    Movement,
    StockLevel,
    adjust,
    audit,
    commit,
    release,
    replay,
    reserve,
    set_on_hand,
)
from celeste.kernel.errors import Conflict, ValidationFailed


def level(on_hand: int, reserved: int = 0, threshold: int = 0) -> StockLevel:
    return StockLevel(on_hand=on_hand, reserved=reserved, low_stock_threshold=threshold)


def applied(before: StockLevel, movement: Movement) -> tuple[int, int]:
    return before.on_hand + movement.delta_on_hand, before.reserved + movement.delta_reserved


# --- StockLevel -----------------------------------------------------------------------------


def test_available_is_on_hand_minus_reserved() -> None:
    assert level(10, 3).available == 7


@pytest.mark.parametrize(
    ("on_hand", "reserved", "threshold", "is_low"),
    [(10, 0, 5, False), (10, 5, 5, True), (10, 6, 5, True), (0, 0, 0, True), (1, 0, 0, False)],
)
def test_is_low_compares_available_with_threshold(
    on_hand: int, reserved: int, threshold: int, is_low: bool
) -> None:
    assert level(on_hand, reserved, threshold).is_low is is_low


@pytest.mark.parametrize(
    "fields",
    [
        {"on_hand": -1},
        {"on_hand": 1, "reserved": -1},
        {"on_hand": 1, "reserved": 2},
        {"on_hand": 1, "low_stock_threshold": -1},
        {"on_hand": True},
        {"on_hand": "3"},
        {"on_hand": 1, "available": 1},
    ],
)
def test_stock_level_rejects_broken_values(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        StockLevel.model_validate(fields)


def test_stock_level_is_frozen() -> None:
    with pytest.raises(ValidationError):
        level(1).on_hand = 2  # type: ignore[misc]


# --- reserve --------------------------------------------------------------------------------


def test_reserve_ok_changes_every_key_and_writes_one_movement_each() -> None:
    result = reserve(
        levels={"a": level(5), "b": level(3, 1)}, lines=[("a", 2), ("b", 2)], order_id="o1"
    )
    assert result.ok
    assert result.shortfalls == []
    assert result.levels == {"a": level(5, 2), "b": level(3, 3)}
    assert result.movements == {
        "a": Movement(
            kind="reserve",
            delta_on_hand=0,
            delta_reserved=2,
            reason="reserved for order",
            order_id="o1",
        ),
        "b": Movement(
            kind="reserve",
            delta_on_hand=0,
            delta_reserved=2,
            reason="reserved for order",
            order_id="o1",
        ),
    }


def test_reserve_keeps_the_threshold() -> None:
    result = reserve(levels={"a": level(5, 0, 4)}, lines=[("a", 1)], order_id="o1")
    assert result.levels["a"].low_stock_threshold == 4


def test_reserve_is_all_or_nothing() -> None:
    result = reserve(
        levels={"a": level(5), "b": level(3, 2)}, lines=[("a", 2), ("b", 2)], order_id="o1"
    )
    assert not result.ok
    assert result.levels == {}
    assert result.movements == {}
    assert [s.model_dump() for s in result.shortfalls] == [
        {"key": "b", "requested": 2, "available": 1}
    ]


def test_reserve_reports_every_short_line() -> None:
    result = reserve(levels={"a": level(1)}, lines=[("a", 2), ("missing", 1)], order_id="o1")
    assert [(s.key, s.requested, s.available) for s in result.shortfalls] == [
        ("a", 2, 1),
        ("missing", 1, 0),
    ]


def test_reserve_treats_a_missing_key_as_no_stock() -> None:
    result = reserve(levels={}, lines=[("x", 1)], order_id="o1")
    assert [(s.key, s.requested, s.available) for s in result.shortfalls] == [("x", 1, 0)]


def test_reserve_sums_duplicate_lines_before_checking() -> None:
    lines = [("a", 2), ("a", 3)]
    short = reserve(levels={"a": level(4)}, lines=lines, order_id="o1")
    assert [(s.key, s.requested, s.available) for s in short.shortfalls] == [("a", 5, 4)]

    enough = reserve(levels={"a": level(5)}, lines=lines, order_id="o1")
    assert enough.ok
    assert enough.levels == {"a": level(5, 5)}
    assert list(enough.movements) == ["a"]
    assert enough.movements["a"].delta_reserved == 5


def test_reserve_can_take_everything_available() -> None:
    assert reserve(levels={"a": level(3, 1)}, lines=[("a", 2)], order_id="o1").ok


@pytest.mark.parametrize("quantity", [0, -1])
def test_reserve_refuses_non_positive_quantities(quantity: int) -> None:
    with pytest.raises(ValidationFailed) as caught:
        reserve(levels={"a": level(5)}, lines=[("a", 1), ("a", quantity)], order_id="o1")
    assert caught.value.errors[0].field == "lines[1].quantity"


# --- release, commit, adjust, set -----------------------------------------------------------


def test_release_gives_back_reserved_units() -> None:
    after, movement = release(level=level(5, 3), quantity=2, order_id="o1")
    assert after == level(5, 1)
    assert (movement.kind, movement.delta_on_hand, movement.delta_reserved) == ("release", 0, -2)
    assert movement.order_id == "o1"


def test_commit_lowers_on_hand_and_reserved() -> None:
    after, movement = commit(level=level(5, 3), quantity=3, order_id="o1")
    assert after == level(2, 0)
    assert (movement.kind, movement.delta_on_hand, movement.delta_reserved) == ("commit", -3, -3)
    assert movement.order_id == "o1"


@pytest.mark.parametrize("operation", [release, commit])
def test_release_and_commit_cannot_exceed_reserved(
    operation: Callable[..., tuple[StockLevel, Movement]],
) -> None:
    with pytest.raises(Conflict):
        operation(level=level(5, 1), quantity=2, order_id="o1")


@pytest.mark.parametrize("operation", [release, commit])
def test_release_and_commit_refuse_non_positive_quantities(
    operation: Callable[..., tuple[StockLevel, Movement]],
) -> None:
    with pytest.raises(ValidationFailed):
        operation(level=level(5, 1), quantity=0, order_id="o1")


@pytest.mark.parametrize(
    ("before", "delta", "after"),
    [(level(5, 2), 3, level(8, 2)), (level(5, 2), -3, level(2, 2)), (level(5, 0), -5, level(0))],
)
def test_adjust_moves_on_hand_only(before: StockLevel, delta: int, after: StockLevel) -> None:
    new_level, movement = adjust(level=before, delta=delta, reason="count")
    assert new_level == after
    assert (movement.kind, movement.delta_on_hand, movement.delta_reserved) == ("adjust", delta, 0)
    assert (movement.reason, movement.order_id) == ("count", None)


@pytest.mark.parametrize(("before", "delta"), [(level(5, 2), -4), (level(5, 0), -6)])
def test_adjust_cannot_drop_below_reserved_or_zero(before: StockLevel, delta: int) -> None:
    with pytest.raises(Conflict):
        adjust(level=before, delta=delta, reason="breakage")


def test_adjust_refuses_zero() -> None:
    with pytest.raises(ValidationFailed):
        adjust(level=level(5), delta=0, reason="nothing")


def test_set_on_hand_records_the_difference() -> None:
    new_level, movement = set_on_hand(level=level(5, 2, 1), on_hand=9, reason="stocktake")
    assert new_level == level(9, 2, 1)
    assert (movement.kind, movement.delta_on_hand, movement.delta_reserved) == ("set", 4, 0)
    assert movement.reason == "stocktake"


def test_set_on_hand_may_change_the_threshold_alone() -> None:
    new_level, movement = set_on_hand(
        level=level(5, 2, 1), on_hand=5, low_stock_threshold=3, reason="policy"
    )
    assert new_level == level(5, 2, 3)
    assert movement.delta_on_hand == 0


def test_set_on_hand_below_reserved_conflicts() -> None:
    with pytest.raises(Conflict):
        set_on_hand(level=level(5, 3), on_hand=2, reason="stocktake")


@pytest.mark.parametrize(("on_hand", "threshold"), [(-1, None), (5, -1)])
def test_set_on_hand_refuses_negative_values(on_hand: int, threshold: int | None) -> None:
    with pytest.raises(ValidationFailed):
        set_on_hand(level=level(5), on_hand=on_hand, low_stock_threshold=threshold, reason="x")


# --- replay and audit -----------------------------------------------------------------------


def test_replay_sums_from_zero() -> None:
    ledger = [
        set_on_hand(level=level(0), on_hand=10, reason="initial")[1],
        reserve(levels={"k": level(10)}, lines=[("k", 4)], order_id="o1").movements["k"],
        commit(level=level(10, 4), quantity=3, order_id="o1")[1],
    ]
    assert replay(ledger) == (7, 1)
    assert replay([]) == (0, 0)


def _ledger() -> list[Movement]:
    first, set_movement = set_on_hand(level=level(0), on_hand=10, reason="initial")
    reservation = reserve(levels={"k": first}, lines=[("k", 4)], order_id="o1")
    return [set_movement, reservation.movements["k"]]


def test_audit_of_a_clean_level_is_empty() -> None:
    assert audit(key="k", level=level(10, 4), movements=_ledger(), reserved_by_open_orders=4) == []


def test_audit_reports_level_against_ledger() -> None:
    drifts = audit(key="k", level=level(11, 5), movements=_ledger(), reserved_by_open_orders=5)
    assert [(d.key, d.kind, d.expected, d.actual) for d in drifts] == [
        ("k", "on_hand_vs_ledger", 10, 11),
        ("k", "reserved_vs_ledger", 4, 5),
    ]


def test_audit_reports_reserved_against_open_orders() -> None:
    drifts = audit(key="k", level=level(10, 4), movements=_ledger(), reserved_by_open_orders=3)
    assert [(d.kind, d.expected, d.actual) for d in drifts] == [("reserved_vs_orders", 3, 4)]


@dataclass(frozen=True)
class StoredCounts:
    on_hand: int
    reserved: int


@pytest.mark.parametrize("counts", [StoredCounts(3, 5), StoredCounts(-1, 0), StoredCounts(2, -1)])
def test_audit_reports_a_broken_invariant(counts: StoredCounts) -> None:
    ledger = [
        Movement(kind="adjust", delta_on_hand=counts.on_hand, delta_reserved=0, reason="x"),
        Movement(kind="reserve", delta_on_hand=0, delta_reserved=counts.reserved, reason="x"),
    ]
    drifts = audit(key="k", level=counts, movements=ledger, reserved_by_open_orders=counts.reserved)
    assert [d.kind for d in drifts] == ["invariant"]


def test_audit_accepts_an_unvalidated_stock_level() -> None:
    broken = StockLevel.model_construct(on_hand=1, reserved=2, low_stock_threshold=0)
    drifts = audit(key="k", level=broken, movements=[], reserved_by_open_orders=2)
    assert [d.kind for d in drifts] == [
        "on_hand_vs_ledger",
        "reserved_vs_ledger",
        "invariant",
    ]


# --- properties -----------------------------------------------------------------------------

KEYS = ["a", "b", "c"]
keys = st.sampled_from(KEYS)
quantities = st.integers(min_value=1, max_value=8)

operations = st.one_of(
    st.tuples(st.just("reserve"), st.lists(st.tuples(keys, quantities), min_size=1, max_size=3)),
    st.tuples(st.just("release"), keys, st.integers(min_value=1, max_value=4)),
    st.tuples(st.just("commit"), keys, st.integers(min_value=1, max_value=4)),
    st.tuples(
        st.just("adjust"), keys, st.integers(min_value=-30, max_value=30).filter(lambda d: d != 0)
    ),
    st.tuples(st.just("set"), keys, st.integers(min_value=0, max_value=50)),
)


@given(
    st.lists(st.integers(min_value=0, max_value=40), min_size=len(KEYS), max_size=len(KEYS)),
    st.lists(operations, max_size=60),
)
def test_random_operations_keep_the_invariant_and_the_ledger(
    initial: list[int], ops: list[tuple[object, ...]]
) -> None:
    levels: dict[str, StockLevel] = {}
    ledgers: dict[str, list[Movement]] = {key: [] for key in KEYS}

    def record(key: str, before: StockLevel, after: StockLevel, movement: Movement) -> None:
        assert applied(before, movement) == (after.on_hand, after.reserved)
        levels[key] = after
        ledgers[key].append(movement)

    for key, on_hand in zip(KEYS, initial, strict=True):
        if on_hand:  # a key left at zero stays missing from ``levels``, as in a new store
            record(key, level(0), *set_on_hand(level=level(0), on_hand=on_hand, reason="initial"))

    for number, op in enumerate(ops):
        order_id = f"o{number}"
        if op[0] == "reserve":
            lines = op[1]
            assert isinstance(lines, list)
            result = reserve(levels=levels, lines=lines, order_id=order_id)
            for key, movement in result.movements.items():
                record(key, levels[key], result.levels[key], movement)
            continue
        name, target, amount = op
        assert isinstance(target, str) and isinstance(amount, int)
        before = levels.get(target, level(0))
        try:
            if name == "release":
                after, movement = release(level=before, quantity=amount, order_id=order_id)
            elif name == "commit":
                after, movement = commit(level=before, quantity=amount, order_id=order_id)
            elif name == "adjust":
                after, movement = adjust(level=before, delta=amount, reason="test")
            else:
                after, movement = set_on_hand(level=before, on_hand=amount, reason="test")
        except Conflict:
            continue
        record(target, before, after, movement)

    for key in KEYS:
        final = levels.get(key, level(0))
        assert 0 <= final.reserved <= final.on_hand
        assert replay(ledgers[key]) == (final.on_hand, final.reserved)
        assert (
            audit(
                key=key, level=final, movements=ledgers[key], reserved_by_open_orders=final.reserved
            )
            == []
        )


stock_levels = st.integers(min_value=0, max_value=30).flatmap(
    lambda on_hand: st.builds(
        StockLevel, on_hand=st.just(on_hand), reserved=st.integers(min_value=0, max_value=on_hand)
    )
)


@given(
    st.dictionaries(keys, stock_levels),
    st.lists(st.tuples(st.sampled_from([*KEYS, "d"]), quantities), min_size=1, max_size=8),
)
def test_reserve_changes_all_keys_or_none(
    levels: dict[str, StockLevel], lines: list[tuple[str, int]]
) -> None:
    wanted: dict[str, int] = {}
    for key, quantity in lines:
        wanted[key] = wanted.get(key, 0) + quantity
    available = {key: levels[key].available if key in levels else 0 for key in wanted}

    result = reserve(levels=levels, lines=lines, order_id="o1")

    short = {key for key in wanted if wanted[key] > available[key]}
    assert {s.key for s in result.shortfalls} == short
    assert all(s.requested == wanted[s.key] for s in result.shortfalls)
    assert all(s.available == available[s.key] for s in result.shortfalls)
    if short:
        assert not result.ok
        assert result.levels == {} and result.movements == {}
    else:
        assert result.ok
        assert set(result.levels) == set(result.movements) == set(wanted)
        for key, quantity in wanted.items():
            assert result.levels[key].on_hand == levels[key].on_hand
            assert result.levels[key].reserved == levels[key].reserved + quantity
            assert applied(levels[key], result.movements[key]) == (
                result.levels[key].on_hand,
                result.levels[key].reserved,
            )
