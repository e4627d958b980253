"""Unit tests of the pricing engine: rule eligibility, winner selection, rounding and validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from celeste.kernel.errors import ValidationFailed
from celeste.pricing.price_lists import MAX_QUANTITY, PricedProduct, PriceList, PriceRule
from celeste.pricing.quotes import PricedLine, next_price_boundary, price_line, quote

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)
SHOES = PricedProduct(
    product_id="p1", base_price=1000, currency="USD", category_path=("shoes", "apparel")
)


def rule(**fields: Any) -> PriceRule:
    """A rule with defaults: 10 % off everything."""
    return PriceRule(**{"scope": "all", "kind": "percentage", "value": 10, **fields})


def price_list(*rules: PriceRule, **fields: Any) -> PriceList:
    """A list with defaults: id L, priority 1, active, always valid, open to every tier."""
    return PriceList(**{"id": "L", "name": "List", "priority": 1, "rules": list(rules), **fields})


def price(
    *lists: PriceList,
    product: PricedProduct = SHOES,
    quantity: int = 1,
    tier: str = "BRONZE",
    now: datetime = NOW,
) -> PricedLine:
    return price_line(product=product, quantity=quantity, tier=tier, price_lists=lists, now=now)


# --- eligibility: each filter, with its edges ---------------------------------------------


@pytest.mark.parametrize(
    ("list_fields", "rule_fields", "quantity", "tier", "rejection"),
    [
        pytest.param({}, {}, 1, "BRONZE", None, id="plain rule applies"),
        pytest.param({"active": False}, {}, 1, "BRONZE", "inactive", id="inactive list"),
        pytest.param({"valid_from": NOW + TICK}, {}, 1, "BRONZE", "not_started", id="starts later"),
        pytest.param({"valid_from": NOW}, {}, 1, "BRONZE", None, id="starts exactly now"),
        pytest.param({"valid_until": NOW}, {}, 1, "BRONZE", "ended", id="ends exactly now"),
        pytest.param({"valid_until": NOW + TICK}, {}, 1, "BRONZE", None, id="ends just after now"),
        pytest.param({"valid_until": NOW - TICK}, {}, 1, "BRONZE", "ended", id="ended before now"),
        pytest.param(
            {"valid_from": NOW - TICK, "valid_until": NOW + TICK},
            {},
            1,
            "BRONZE",
            None,
            id="inside window",
        ),
        pytest.param({"tiers": ["GOLD"]}, {}, 1, "BRONZE", "tier", id="closed to tier"),
        pytest.param({"tiers": ["SILVER", "GOLD"]}, {}, 1, "GOLD", None, id="open to tier"),
        pytest.param({"tiers": []}, {}, 1, "ANYONE", None, id="empty tiers = everyone"),
        pytest.param({}, {"min_quantity": 5}, 4, "BRONZE", "quantity_band", id="below band"),
        pytest.param({}, {"min_quantity": 5}, 5, "BRONZE", None, id="band min inclusive"),
        pytest.param({}, {"max_quantity": 10}, 10, "BRONZE", None, id="band max inclusive"),
        pytest.param({}, {"max_quantity": 10}, 11, "BRONZE", "quantity_band", id="above band"),
        pytest.param({}, {"min_quantity": 3, "max_quantity": 3}, 3, "BRONZE", None, id="1-wide"),
        pytest.param({}, {"min_quantity": 9000}, MAX_QUANTITY, "BRONZE", None, id="open max"),
        pytest.param(
            {}, {"scope": "product", "target_id": "p1"}, 1, "BRONZE", None, id="product match"
        ),
        pytest.param(
            {}, {"scope": "product", "target_id": "p2"}, 1, "BRONZE", "scope", id="other product"
        ),
        pytest.param(
            {}, {"scope": "category", "target_id": "shoes"}, 1, "BRONZE", None, id="own category"
        ),
        pytest.param(
            {},
            {"scope": "category", "target_id": "apparel"},
            1,
            "BRONZE",
            None,
            id="ancestor category",
        ),
        pytest.param(
            {},
            {"scope": "category", "target_id": "food"},
            1,
            "BRONZE",
            "scope",
            id="unrelated category",
        ),
        pytest.param(
            {},
            {"scope": "category", "target_id": "p1"},
            1,
            "BRONZE",
            "scope",
            id="category rule never matches a product id",
        ),
    ],
)
def test_eligibility(
    list_fields: dict[str, Any],
    rule_fields: dict[str, Any],
    quantity: int,
    tier: str,
    rejection: str | None,
) -> None:
    line = price(price_list(rule(**rule_fields), **list_fields), quantity=quantity, tier=tier)
    if rejection is None:
        assert line.unit_final_price == 900
        assert line.applied_rule is not None
        assert [entry.won for entry in line.trace] == [True]
    else:
        assert line.unit_final_price == 1000
        assert line.applied_rule is None
        assert [entry.rejected for entry in line.trace] == [rejection]


def test_list_level_rejection_is_one_trace_entry_for_the_whole_list() -> None:
    line = price(price_list(rule(), rule(value=20), active=False))
    assert len(line.trace) == 1
    assert line.trace[0].rule_index is None
    assert line.trace[0].rejected == "inactive"


def test_category_rule_matches_through_every_ancestor() -> None:
    deep = PricedProduct(
        product_id="p9", base_price=100, currency="EUR", category_path=("c3", "c2", "c1", "root")
    )
    for category in deep.category_path:
        line = price(price_list(rule(scope="category", target_id=category)), product=deep)
        assert line.unit_final_price == 90, category


def test_product_without_category_is_reached_only_by_all_and_product_rules() -> None:
    bare = PricedProduct(product_id="p1", base_price=100, currency="USD")
    rules = [rule(scope="category", target_id="shoes", value=50), rule(value=10)]
    assert price(price_list(*rules), product=bare).unit_final_price == 90


# --- winner selection -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lists", "winner"),
    [
        pytest.param(
            [price_list(rule(value=10), rule(value=20), id="A")], ("A", 1), id="lowest price wins"
        ),
        pytest.param(
            [
                price_list(rule(kind="fixed", value=150), id="A"),
                price_list(rule(value=10), id="B", priority=0),
            ],
            ("A", 0),
            id="price beats priority",
        ),
        pytest.param(
            [price_list(rule(), id="A", priority=2), price_list(rule(), id="B", priority=1)],
            ("B", 0),
            id="tie: priority 1 beats 2",
        ),
        pytest.param(
            [price_list(rule(), id="A", priority=1), price_list(rule(), id="B", priority=0)],
            ("B", 0),
            id="tie: priority 0 beats 1",
        ),
        pytest.param(
            [
                price_list(rule(scope="product", target_id="p1"), id="A", priority=2),
                price_list(rule(), id="B", priority=1),
            ],
            ("B", 0),
            id="tie: priority beats specificity",
        ),
        pytest.param(
            [
                price_list(
                    rule(),
                    rule(scope="category", target_id="apparel"),
                    rule(scope="product", target_id="p1"),
                    id="A",
                )
            ],
            ("A", 2),
            id="tie: product beats category beats all",
        ),
        pytest.param(
            [
                price_list(rule(), id="A"),
                price_list(rule(scope="category", target_id="shoes"), id="B"),
            ],
            ("B", 0),
            id="tie: category beats all across lists",
        ),
        pytest.param(
            [
                price_list(rule(scope="category", target_id="shoes"), id="A"),
                price_list(rule(scope="product", target_id="p1"), id="B"),
            ],
            ("B", 0),
            id="tie: product beats category across lists",
        ),
        pytest.param(
            [price_list(rule(), id="B"), price_list(rule(), id="A")],
            ("A", 0),
            id="tie: lower list id",
        ),
        pytest.param(
            [price_list(rule(value=50), id="A"), price_list(rule(kind="fixed", value=500), id="B")],
            ("A", 0),
            id="tie across kinds: lower list id",
        ),
    ],
)
def test_winner(lists: list[PriceList], winner: tuple[str, int]) -> None:
    line = price(*lists)
    assert line.applied_rule is not None
    assert (line.applied_rule.price_list_id, line.applied_rule.rule_index) == winner
    assert [(e.price_list_id, e.rule_index) for e in line.trace if e.won] == [winner]


def test_discounts_do_not_stack() -> None:
    line = price(price_list(rule(value=10), id="A"), price_list(rule(value=20), id="B"))
    assert line.unit_final_price == 800


def test_no_candidate_means_base_price() -> None:
    line = price(quantity=3)
    assert (line.unit_final_price, line.line_total, line.line_discount) == (1000, 3000, 0)
    assert line.applied_rule is None
    assert line.trace == []


def test_applied_rule_describes_the_winner() -> None:
    line = price(price_list(rule(scope="category", target_id="shoes", value="12.5"), name="Sale"))
    assert line.applied_rule is not None
    assert line.applied_rule.model_dump() == {
        "price_list_id": "L",
        "price_list_name": "Sale",
        "rule_index": 0,
        "scope": "category",
        "kind": "percentage",
        "value": Decimal("12.5"),
    }


def test_trace_lists_candidates_best_first_then_rejections_by_list() -> None:
    lists = [
        price_list(rule(min_quantity=5), rule(value=5), rule(value=20), id="B"),
        price_list(rule(), id="A", active=False),
    ]
    trace = price(*lists).trace
    assert [(e.price_list_id, e.rule_index, e.won, e.rejected) for e in trace] == [
        ("B", 2, True, None),
        ("B", 1, False, None),
        ("A", None, False, "inactive"),
        ("B", 0, False, "quantity_band"),
    ]
    assert [(e.exact_unit_price, e.unit_price) for e in trace[:2]] == [
        (Decimal(800), 800),
        (Decimal(950), 950),
    ]


# --- money ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "kind", "value", "quantity", "unit_final", "line_total"),
    [
        pytest.param(5, "percentage", 50, 1, 2, 2, id="2.5 rounds to even 2"),
        pytest.param(7, "percentage", 50, 1, 4, 4, id="3.5 rounds to even 4"),
        pytest.param(15, "percentage", 10, 1, 14, 14, id="13.5 rounds to 14"),
        pytest.param(25, "percentage", 10, 1, 22, 22, id="22.5 rounds to 22"),
        pytest.param(5, "percentage", 50, 3, 2, 8, id="7.5 line rounds to 8, unit shows 2"),
        pytest.param(333, "percentage", 10, 3, 300, 899, id="299.7 x 3 = 899.1, rounded once"),
        pytest.param(1, "percentage", 50, 1, 0, 0, id="half a cent rounds to 0"),
        pytest.param(1, "percentage", 50, 3, 0, 2, id="1.5 cents rounds to 2"),
        pytest.param(999, "percentage", "12.5", 1, 874, 874, id="874.125"),
        pytest.param(300, "percentage", "33.333333", 1, 200, 200, id="six decimal places"),
        pytest.param(1000, "percentage", 100, 2, 0, 0, id="100 % is free"),
        pytest.param(1000, "fixed", 250, 4, 750, 3000, id="fixed"),
        pytest.param(1000, "fixed", 1000, 1, 0, 0, id="fixed equal to base"),
        pytest.param(1000, "fixed", 1500, 2, 0, 0, id="fixed above base clamps to 0"),
        pytest.param(0, "percentage", 10, 5, 0, 0, id="free product stays free"),
        pytest.param(1000, "fixed", 1, MAX_QUANTITY, 999, 9_990_000, id="max quantity"),
        pytest.param(
            10**12,
            "percentage",
            "0.000001",
            1,
            999_999_990_000,
            999_999_990_000,
            id="largest base, smallest percentage, exact",
        ),
    ],
)
def test_money(
    base: int, kind: str, value: Any, quantity: int, unit_final: int, line_total: int
) -> None:
    product = PricedProduct(product_id="p1", base_price=base, currency="USD")
    line = price(price_list(rule(kind=kind, value=value)), product=product, quantity=quantity)
    assert (line.unit_base_price, line.unit_final_price) == (base, unit_final)
    assert line.line_subtotal == base * quantity
    assert line.line_total == line_total
    assert line.line_discount == base * quantity - line_total


def test_line_echoes_product_quantity_currency_and_tier() -> None:
    line = price(quantity=2, tier="GOLD")
    assert (line.product_id, line.quantity, line.currency, line.tier) == ("p1", 2, "USD", "GOLD")


@pytest.mark.parametrize("quantity", [0, -1, MAX_QUANTITY + 1, True, 1.5, "2"])
def test_quantity_out_of_range_is_rejected(quantity: Any) -> None:
    with pytest.raises(ValidationFailed) as raised:
        price(quantity=quantity)
    assert [e.field for e in raised.value.errors] == ["quantity"]


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        price(now=datetime(2025, 6, 1, 12))


# --- quote ---------------------------------------------------------------------------------


def test_quote_totals_are_sums_of_lines() -> None:
    other = PricedProduct(product_id="p2", base_price=333, currency="USD", category_path=("food",))
    lists = [price_list(rule(scope="category", target_id="food"))]
    result = quote(lines=[(SHOES, 2), (other, 3)], tier="BRONZE", price_lists=lists, now=NOW)
    assert [line.line_total for line in result.lines] == [2000, 899]
    assert (result.currency, result.tier) == ("USD", "BRONZE")
    assert (result.subtotal, result.discount_total, result.total) == (2999, 100, 2899)


def test_quote_of_no_lines_is_zero() -> None:
    result = quote(lines=[], tier="BRONZE", price_lists=[], now=NOW)
    assert (result.currency, result.subtotal, result.discount_total, result.total) == (
        None,
        0,
        0,
        0,
    )


def test_a_shoppers_quote_names_only_the_lists_open_to_them_now() -> None:
    lists = [
        price_list(rule(value=10), id="OPEN"),
        price_list(rule(value=20, min_quantity=10), id="BAND"),  # open; its band is a hint
        price_list(rule(scope="product", target_id="p9"), id="OTHER"),  # open, other product
        price_list(rule(value=30), id="GOLD", tiers=["GOLD"]),
        price_list(rule(value=40), id="SOON", valid_from=NOW + TICK),
        price_list(rule(value=50), id="OVER", valid_until=NOW),
        price_list(rule(value=60), id="OFF", active=False),
    ]
    full = quote(lines=[(SHOES, 2)], tier="BRONZE", price_lists=lists, now=NOW)
    shown = full.for_shopper()
    assert {e.price_list_id for e in full.lines[0].trace} == {lst.id for lst in lists}
    assert [(e.price_list_id, e.rejected) for e in shown.lines[0].trace] == [
        ("OPEN", None),
        ("BAND", "quantity_band"),
        ("OTHER", "scope"),
    ]
    # Only what is shown changes: the money is the same.
    assert shown.lines[0].line_total == full.lines[0].line_total == 1800
    assert (shown.subtotal, shown.total) == (full.subtotal, full.total)


@pytest.mark.parametrize(
    ("on_hand", "quantity", "shown"),
    [(50, 3, 3), (3, 3, 3), (2, 3, 2), (0, 3, 0), (10_000, MAX_QUANTITY, MAX_QUANTITY)],
)
def test_a_shopper_sees_availability_only_up_to_the_quantity_asked(
    on_hand: int, quantity: int, shown: int
) -> None:
    full = quote(lines=[(SHOES, quantity)], tier="BRONZE", price_lists=[], now=NOW)
    at_store = full.at_store("lisbon", {"p1": on_hand})
    assert at_store.lines[0].available == on_hand
    assert at_store.for_shopper().lines[0].available == shown
    assert full.for_shopper().lines[0].available is None  # no store, no availability


def test_quote_rejects_mixed_currencies() -> None:
    euro = PricedProduct(product_id="p2", base_price=100, currency="EUR")
    with pytest.raises(ValidationFailed) as raised:
        quote(lines=[(SHOES, 1), (euro, 1)], tier="BRONZE", price_lists=[], now=NOW)
    assert [e.field for e in raised.value.errors] == ["lines[1].product_id"]


def test_quote_names_the_line_with_a_bad_quantity() -> None:
    with pytest.raises(ValidationFailed) as raised:
        quote(lines=[(SHOES, 1), (SHOES, 0)], tier="BRONZE", price_lists=[], now=NOW)
    assert [e.field for e in raised.value.errors] == ["lines[1].quantity"]


# --- next_price_boundary -------------------------------------------------------------------

HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("windows", "expected"),
    [
        pytest.param([], None, id="no lists"),
        pytest.param([{}], None, id="open window"),
        pytest.param([{"valid_from": NOW + HOUR}], NOW + HOUR, id="list starts"),
        pytest.param([{"valid_until": NOW + HOUR}], NOW + HOUR, id="list ends"),
        pytest.param([{"valid_from": NOW - HOUR}], None, id="started already"),
        pytest.param([{"valid_from": NOW}], None, id="starts exactly now is not after now"),
        pytest.param([{"valid_from": NOW + HOUR, "active": False}], None, id="inactive ignored"),
        pytest.param(
            [
                {"valid_from": NOW - HOUR, "valid_until": NOW + 3 * HOUR},
                {"valid_from": NOW + 2 * HOUR},
            ],
            NOW + 2 * HOUR,
            id="earliest among lists",
        ),
    ],
)
def test_next_price_boundary(windows: list[dict[str, Any]], expected: datetime | None) -> None:
    lists = [price_list(id=f"L{i}", **window) for i, window in enumerate(windows)]
    assert next_price_boundary(price_lists=lists, now=NOW) == expected


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "percentage", "value": 0}, "value"),
        ({"kind": "percentage", "value": -5}, "value"),
        ({"kind": "percentage", "value": "100.01"}, "value"),
        ({"kind": "percentage", "value": "NaN"}, "value"),
        ({"kind": "percentage", "value": float("nan")}, "value"),
        ({"kind": "percentage", "value": float("inf")}, "value"),
        ({"kind": "percentage", "value": "Infinity"}, "value"),
        ({"kind": "percentage", "value": "ten"}, "value"),
        ({"kind": "percentage", "value": True}, "value"),
        ({"kind": "percentage", "value": None}, "value"),
        ({"kind": "percentage", "value": "0.0000001"}, "value"),
        ({"kind": "fixed", "value": 0}, "value"),
        ({"kind": "fixed", "value": -1}, "value"),
        ({"kind": "fixed", "value": 1.5}, "value"),
        ({"kind": "fixed", "value": 10.0}, "value"),
        ({"kind": "fixed", "value": "10"}, "value"),
        ({"kind": "fixed", "value": True}, "value"),
        ({"kind": "fixed", "value": 10**12 + 1}, "value"),
        ({"kind": "discount"}, "kind"),
        ({"scope": "everything"}, "scope"),
        ({"scope": "category"}, "target_id"),
        ({"scope": "product"}, "target_id"),
        ({"scope": "product", "target_id": ""}, "target_id"),
        ({"scope": "all", "target_id": "p1"}, "target_id"),
        ({"min_quantity": 0}, "min_quantity"),
        ({"max_quantity": 0}, "max_quantity"),
        ({"min_quantity": 5, "max_quantity": 4}, "max_quantity"),
        ({"stack": True}, "stack"),
    ],
)
def test_invalid_rule(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        rule(**fields)
    assert [error["loc"] for error in raised.value.errors()] == [(field,)]


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (10, Decimal(10)),
        ("12.5", Decimal("12.5")),
        (12.5, Decimal("12.5")),
        (0.1, Decimal("0.1")),
        (Decimal("99.999999"), Decimal("99.999999")),
        (100, Decimal(100)),
    ],
)
def test_percentage_is_stored_as_decimal(value: Any, stored: Decimal) -> None:
    stored_value = rule(value=value).value
    assert isinstance(stored_value, Decimal)
    assert stored_value == stored


def test_fixed_is_stored_as_int() -> None:
    assert rule(kind="fixed", value=250).value == 250
    assert type(rule(kind="fixed", value=250).value) is int


def test_rule_round_trips_through_json() -> None:
    for original in [
        rule(value="12.5", min_quantity=2, max_quantity=9),
        rule(kind="fixed", value=7),
    ]:
        assert PriceRule.model_validate_json(original.model_dump_json()) == original


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"id": ""}, "id"),
        ({"priority": -1}, "priority"),
        ({"valid_from": datetime(2025, 1, 1)}, "valid_from"),
        ({"valid_until": datetime(2025, 1, 1)}, "valid_until"),
        ({"valid_from": NOW, "valid_until": NOW}, "valid_until"),
        ({"valid_from": NOW, "valid_until": NOW - TICK}, "valid_until"),
        ({"tiers": ["gold"]}, "tiers"),
        ({"rules": [rule()] * 201}, "rules"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_price_list(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        price_list(**fields)
    assert {error["loc"][0] for error in raised.value.errors()} == {field}


def test_price_list_limits_are_inclusive() -> None:
    assert len(price_list(*[rule()] * 200, name="x" * 200).rules) == 200


def test_price_list_window_is_stored_in_utc() -> None:
    paris = timezone(timedelta(hours=2))
    stored = price_list(valid_from=datetime(2025, 6, 1, 14, tzinfo=paris))
    assert stored.valid_from == NOW
    assert stored.valid_from is not None and stored.valid_from.tzinfo == UTC


def test_rules_are_required() -> None:
    with pytest.raises(ValidationError):
        PriceList(id="L", name="List", priority=1)  # type: ignore[call-arg]


# --- properties ----------------------------------------------------------------------------

PRODUCT_IDS = ["p1", "p2"]
CATEGORY_IDS = ["c1", "c2", "c3"]
TIER_CODES = ["BRONZE", "GOLD"]

percentages = st.decimals(min_value=Decimal("0.01"), max_value=100, places=2)


@st.composite
def rules(draw: st.DrawFn) -> PriceRule:
    scope = draw(st.sampled_from(["all", "category", "product"]))
    target = {
        "all": None,
        "category": draw(st.sampled_from(CATEGORY_IDS)),
        "product": draw(st.sampled_from(PRODUCT_IDS)),
    }[scope]
    kind = draw(st.sampled_from(["percentage", "fixed"]))
    value = draw(percentages if kind == "percentage" else st.integers(1, 3000))
    min_quantity = draw(st.sampled_from([1, 1, 2, 5, 10]))
    max_quantity = draw(st.none() | st.integers(min_quantity, min_quantity + 20))
    return PriceRule(
        scope=scope,
        target_id=target,
        kind=kind,
        value=value,
        min_quantity=min_quantity,
        max_quantity=max_quantity,
    )


@st.composite
def price_lists(draw: st.DrawFn) -> list[PriceList]:
    count = draw(st.integers(0, 4))
    lists = []
    for index in range(count):
        start = draw(st.sampled_from([None, None, -2, -1, 0, 1]))
        length = draw(st.integers(1, 4))
        lists.append(
            PriceList(
                id=f"L{index}",
                name=f"List {index}",
                priority=draw(st.integers(0, 2)),
                active=draw(st.sampled_from([True, True, True, False])),
                valid_from=None if start is None else NOW + start * HOUR,
                valid_until=None if start is None else NOW + (start + length) * HOUR,
                tiers=draw(st.lists(st.sampled_from(TIER_CODES), max_size=2, unique=True)),
                rules=draw(st.lists(rules(), max_size=6)),
            )
        )
    return lists


products = st.builds(
    PricedProduct,
    product_id=st.sampled_from(PRODUCT_IDS),
    base_price=st.integers(0, 2000) | st.integers(0, 10**9),
    currency=st.just("USD"),
    category_path=st.lists(st.sampled_from(CATEGORY_IDS), max_size=3, unique=True).map(tuple),
)
quantities = st.integers(1, 40) | st.integers(1, MAX_QUANTITY)
tiers = st.sampled_from(TIER_CODES)


@given(product=products, quantity=quantities, tier=tiers, lists=price_lists())
def test_prices_stay_between_zero_and_base(
    product: PricedProduct, quantity: int, tier: str, lists: list[PriceList]
) -> None:
    line = price(*lists, product=product, quantity=quantity, tier=tier)
    assert 0 <= line.unit_final_price <= product.base_price
    assert 0 <= line.line_total <= line.line_subtotal == product.base_price * quantity
    assert line.line_discount == line.line_subtotal - line.line_total >= 0
    candidates = [e for e in line.trace if e.rejected is None]
    assert sum(e.won for e in line.trace) == (1 if candidates else 0)
    for entry in candidates:
        assert entry.exact_unit_price is not None
        assert 0 <= entry.exact_unit_price <= product.base_price
        assert entry.unit_price is not None
        assert line.unit_final_price <= entry.unit_price


@given(
    product=products,
    tier=tiers,
    band_widths=st.lists(st.integers(1, 30), min_size=1, max_size=6),
    discounts=st.lists(percentages, min_size=7, max_size=7, unique=True).map(sorted),
    q1=quantities,
    q2=quantities,
)
def test_more_quantity_never_raises_the_unit_price_within_one_list(
    product: PricedProduct,
    tier: str,
    band_widths: list[int],
    discounts: list[Decimal],
    q1: int,
    q2: int,
) -> None:
    """Consecutive bands, the last one open, each with a bigger discount than the one before."""
    bands, low = [], 1
    for width in band_widths:
        bands.append((low, low + width - 1))
        low += width
    bands.append((low, None))
    staged = price_list(
        *[
            rule(value=discount, min_quantity=low, max_quantity=high)
            for (low, high), discount in zip(bands, discounts, strict=False)
        ]
    )
    smaller, larger = sorted((q1, q2))
    at_smaller = price(staged, product=product, quantity=smaller, tier=tier)
    at_larger = price(staged, product=product, quantity=larger, tier=tier)
    assert at_larger.unit_final_price <= at_smaller.unit_final_price


@given(
    product=products,
    quantity=quantities,
    tier=tiers,
    lists=price_lists(),
    data=st.data(),
)
def test_result_is_independent_of_list_and_rule_order(
    product: PricedProduct, quantity: int, tier: str, lists: list[PriceList], data: st.DataObject
) -> None:
    reference = price(*lists, product=product, quantity=quantity, tier=tier)

    reordered_lists = data.draw(st.permutations(lists))
    assert price(*reordered_lists, product=product, quantity=quantity, tier=tier) == reference

    reordered_rules = [
        pl.model_copy(update={"rules": data.draw(st.permutations(pl.rules))})
        for pl in reordered_lists
    ]
    shuffled = price(*reordered_rules, product=product, quantity=quantity, tier=tier)
    assert (shuffled.unit_final_price, shuffled.line_total) == (
        reference.unit_final_price,
        reference.line_total,
    )

    def winner(line: PricedLine) -> tuple[str, str] | None:
        rule = line.applied_rule
        return None if rule is None else (rule.price_list_id, rule.scope)

    assert winner(shuffled) == winner(reference)


@given(
    lines=st.lists(st.tuples(products, quantities), max_size=8),
    tier=tiers,
    lists=price_lists(),
)
def test_quote_total_is_the_sum_of_its_lines(
    lines: list[tuple[PricedProduct, int]], tier: str, lists: list[PriceList]
) -> None:
    result = quote(lines=lines, tier=tier, price_lists=lists, now=NOW)
    assert result.total == sum(line.line_total for line in result.lines)
    assert result.subtotal == sum(line.line_subtotal for line in result.lines)
    assert result.discount_total == result.subtotal - result.total
    assert [line.product_id for line in result.lines] == [p.product_id for p, _ in lines]
