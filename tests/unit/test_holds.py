"""Hold caps: tables and a property (no sequence of accepted orders ever passes a cap)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from celeste.kernel.errors import Conflict
from celeste.orders.holds import HoldCaps, HoldLimitReached, check_hold_caps

CAPS = HoldCaps(max_open_orders=3, max_units_per_product=10)


@pytest.mark.parametrize(
    ("open_orders", "wanted", "refused"),
    [
        ({}, {"p": 10}, False),  # one order may take the whole per-product allowance
        ({}, {"p": 11}, True),
        ({"o1": {"p": 4}, "o2": {"p": 5}}, {"p": 1}, False),
        ({"o1": {"p": 4}, "o2": {"p": 5}}, {"p": 2}, True),
        ({"o1": {"p": 4}, "o2": {"q": 9}}, {"p": 6, "q": 1}, False),
        ({"o1": {"p": 1}, "o2": {"p": 1}}, {"r": 1}, False),  # the third order
        ({"o1": {"p": 1}, "o2": {"p": 1}, "o3": {"q": 1}}, {"r": 1}, True),  # a fourth
    ],
)
def test_caps_table(
    open_orders: dict[str, dict[str, int]], wanted: dict[str, int], refused: bool
) -> None:
    if refused:
        with pytest.raises(HoldLimitReached):
            check_hold_caps(open_orders=open_orders, wanted=wanted, caps=CAPS)
    else:
        check_hold_caps(open_orders=open_orders, wanted=wanted, caps=CAPS)


def test_a_refusal_is_a_conflict_that_says_what_to_do() -> None:
    with pytest.raises(Conflict, match="pay for or cancel"):
        check_hold_caps(open_orders={"a": {}, "b": {}, "c": {}}, wanted={"p": 1}, caps=CAPS)
    with pytest.raises(Conflict, match="you hold 9 and asked for 2"):
        check_hold_caps(open_orders={"a": {"p": 9}}, wanted={"p": 2}, caps=CAPS)


@given(
    orders=st.lists(
        st.dictionaries(st.sampled_from("pqr"), st.integers(1, 12), min_size=1), max_size=12
    ),
    closes=st.lists(st.booleans(), max_size=12),
)
def test_accepted_orders_never_pass_a_cap(orders: list[dict[str, int]], closes: list[bool]) -> None:
    open_orders: dict[str, dict[str, int]] = {}
    for i, wanted in enumerate(orders):
        try:
            check_hold_caps(open_orders=open_orders, wanted=wanted, caps=CAPS)
        except HoldLimitReached:
            continue
        open_orders[f"o{i}"] = wanted
        assert len(open_orders) <= CAPS.max_open_orders
        for product in "pqr":
            assert sum(o.get(product, 0) for o in open_orders.values()) <= 10
        if i < len(closes) and closes[i]:  # paid or cancelled: it holds nothing any more
            open_orders.pop(next(iter(open_orders)))


def test_the_caps_come_from_the_environment_with_the_domain_defaults() -> None:
    from celeste_functions.config import Settings

    project = {"GCLOUD_PROJECT": "demo-celeste"}
    assert Settings.from_env(project).hold_caps == HoldCaps() == HoldCaps(5, 20)
    changed = Settings.from_env(
        {**project, "CELESTE_HOLD_MAX_OPEN_ORDERS": "2", "CELESTE_HOLD_MAX_UNITS_PER_PRODUCT": "7"}
    ).hold_caps
    assert changed == HoldCaps(max_open_orders=2, max_units_per_product=7)
