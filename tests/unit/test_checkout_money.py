"""Order money rules: code, shipping and tax on priced lines, as tables and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from celeste.pricing.order_money import (
    NO_TAX,
    CodeTerms,
    LineAmounts,
    ShippingTerms,
    TaxTerms,
    order_money,
    shipping_fee,
    tax_on,
)

TEN_PERCENT = TaxTerms(rate_bp=1000, inclusive=False)
VAT_20 = TaxTerms(rate_bp=2000, inclusive=True)


@pytest.mark.parametrize(
    ("amount", "tax", "expected"),
    [
        (3000, TEN_PERCENT, 300),
        (500, TEN_PERCENT, 50),
        (1200, VAT_20, 200),  # 20 % included in 1 200
        (5, TEN_PERCENT, 0),  # 0.5 -> 0 (half to even)
        (15, TEN_PERCENT, 2),  # 1.5 -> 2
        (25, TEN_PERCENT, 2),  # 2.5 -> 2
        (0, TEN_PERCENT, 0),
        (999, NO_TAX, 0),
        (1000, TaxTerms(rate_bp=10_000, inclusive=False), 1000),
        (1000, TaxTerms(rate_bp=10_000, inclusive=True), 500),
    ],
)
def test_tax_on_is_half_even(amount: int, tax: TaxTerms, expected: int) -> None:
    assert tax_on(amount, tax) == expected


@pytest.mark.parametrize(
    ("shipping", "goods", "expected"),
    [
        (None, 100, 0),
        (ShippingTerms(price=500), 100, 500),
        (ShippingTerms(price=500, free_over=5000), 4999, 500),
        (ShippingTerms(price=500, free_over=5000), 5000, 0),  # from the threshold on: free
        (ShippingTerms(price=500, free_over=0), 0, 0),
    ],
)
def test_shipping_fee_is_waived_from_free_over(
    shipping: ShippingTerms | None, goods: int, expected: int
) -> None:
    assert shipping_fee(shipping=shipping, goods_after_discounts=goods) == expected


def test_exclusive_tax_on_two_lines_and_shipping() -> None:
    money = order_money(
        lines=[LineAmounts(2000, 2000), LineAmounts(1000, 1000)],
        shipping=ShippingTerms(price=500),
        tax=TEN_PERCENT,
    )
    assert [line.tax for line in money.lines] == [200, 100]
    assert (money.subtotal, money.shipping_total, money.shipping_tax) == (3000, 500, 50)
    assert money.tax_total == 350
    assert money.total == 3000 + 500 + 350


def test_inclusive_tax_is_inside_the_total() -> None:
    money = order_money(lines=[LineAmounts(1200, 1200)], tax=VAT_20)
    assert (money.tax_total, money.total, money.tax_inclusive) == (200, 1200, True)


def test_free_shipping_compares_the_subtotal_after_discounts() -> None:
    shipping = ShippingTerms(price=500, free_over=3000)
    lines = [LineAmounts(3200, 3200)]
    assert order_money(lines=lines, shipping=shipping).shipping_total == 0
    # A 10 % code takes the goods to 2 880, under the threshold: shipping is charged.
    with_code = order_money(lines=lines, shipping=shipping, code=CodeTerms("percentage", 10))
    assert (with_code.code_discount, with_code.shipping_total) == (320, 500)


def test_code_stacks_on_price_list_prices() -> None:
    # A price list took 1 000 to 800; a 10 % code takes 80 more off the 800.
    money = order_money(lines=[LineAmounts(1000, 800)], code=CodeTerms("percentage", 10))
    assert (money.discount_total, money.code_discount, money.total) == (280, 80, 720)


@pytest.mark.parametrize(
    ("totals", "amount", "shares"),
    [
        ([500, 500], 101, [51, 50]),  # the leftover unit goes to the earlier of equal lines
        ([300, 100], 100, [75, 25]),
        ([1, 2, 3], 6, [1, 2, 3]),
        ([100], 250, [100]),  # never more than the order: total 0, not negative
        ([0, 100], 50, [0, 50]),
    ],
)
def test_fixed_code_is_spread_in_proportion(
    totals: list[int], amount: int, shares: list[int]
) -> None:
    money = order_money(lines=[LineAmounts(t, t) for t in totals], code=CodeTerms("fixed", amount))
    assert [line.code_discount for line in money.lines] == shares
    assert money.total == sum(totals) - sum(shares)


def test_tax_is_on_the_price_after_the_code() -> None:
    money = order_money(
        lines=[LineAmounts(1000, 1000)], code=CodeTerms("fixed", 500), tax=TEN_PERCENT
    )
    assert (money.lines[0].tax, money.total) == (50, 550)


def test_no_lines_cost_nothing() -> None:
    money = order_money(lines=[], shipping=None, tax=TEN_PERCENT)
    assert (money.subtotal, money.tax_total, money.total) == (0, 0, 0)


_amounts = st.integers(min_value=0, max_value=10**7)


@st.composite
def _lines(draw: st.DrawFn) -> list[LineAmounts]:
    out = []
    for _ in range(draw(st.integers(min_value=0, max_value=8))):
        subtotal = draw(_amounts)
        out.append(LineAmounts(subtotal, draw(st.integers(min_value=0, max_value=subtotal))))
    return out


_codes = (
    st.none()
    | st.builds(CodeTerms, st.just("percentage"), st.integers(1, 100))
    | st.builds(CodeTerms, st.just("fixed"), st.integers(1, 10**8))
)
_shipping = st.none() | st.builds(
    ShippingTerms, st.integers(0, 10**5), st.none() | st.integers(0, 10**7)
)
_tax = st.builds(TaxTerms, st.integers(0, 10_000), st.booleans())


@given(lines=_lines(), code=_codes, shipping=_shipping, tax=_tax)
def test_money_properties(
    lines: list[LineAmounts],
    code: CodeTerms | None,
    shipping: ShippingTerms | None,
    tax: TaxTerms,
) -> None:
    money = order_money(lines=lines, code=code, shipping=shipping, tax=tax)
    amounts = [
        money.subtotal,
        money.discount_total,
        money.code_discount,
        money.shipping_total,
        money.tax_total,
        money.total,
    ]
    assert all(isinstance(a, int) and a >= 0 for a in amounts)
    assert money.tax_total == sum(line.tax for line in money.lines) + money.shipping_tax
    for line, share in zip(lines, money.lines, strict=True):
        assert 0 <= share.code_discount <= line.total
    goods = money.subtotal - money.discount_total
    assert goods >= 0
    if tax.inclusive:
        assert money.total == goods + money.shipping_total
        assert money.tax_total <= money.total
    else:
        assert money.total == goods + money.shipping_total + money.tax_total
    if code is not None and code.kind == "fixed":
        assert money.code_discount == min(code.value, sum(line.total for line in lines))


@given(lines=_lines(), code=_codes, tax=_tax)
def test_a_code_never_raises_the_total(
    lines: list[LineAmounts], code: CodeTerms | None, tax: TaxTerms
) -> None:
    without = order_money(lines=lines, tax=tax)
    with_code = order_money(lines=lines, code=code, tax=tax)
    assert with_code.total <= without.total


def test_an_order_stored_before_shipping_and_tax_still_reads() -> None:
    from datetime import UTC, datetime

    from celeste.orders.order import Order

    now = datetime.now(UTC)
    line = {
        "product_id": "p1",
        "quantity": 2,
        "currency": "EUR",
        "unit_base_price": 500,
        "unit_final_price": 500,
        "line_subtotal": 1000,
        "line_discount": 0,
        "line_total": 1000,
    }
    old = Order.model_validate(
        {
            "id": "o1",
            "user_id": "u1",
            "store_id": "s1",
            "status": "confirmed",
            "lines": [line],
            "currency": "EUR",
            "tier": "BRONZE",
            "subtotal": 1000,
            "discount_total": 0,
            "total": 1000,
            "created_at": now,
            "updated_at": now,
        }
    )
    assert (old.shipping_total, old.tax_total, old.lines[0].tax) == (0, 0, 0)
    assert (old.discount_code, old.code_state) == (None, "none")
