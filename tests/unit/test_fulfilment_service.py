"""One set of money rules for every order: ``POST /orders`` is priced exactly as checkout is
(shipping, tax, codes), by fulfilment (delivery or pickup), one line per product."""

from __future__ import annotations

from typing import Any

import pytest

from celeste.accounts.profiles import Identity
from celeste.catalog.stores import StoreFacts
from celeste.kernel.errors import ValidationFailed
from celeste.orders.fulfilment import destination
from celeste.orders.order import Order
from celeste.orders.requests import OrderLineRequest, OrderRequest, distinct_lines
from celeste.pricing.tax import TaxRate
from tests.unit.test_checkout_service import (
    ADDRESS,
    NOW,
    STORE,
    US_ADDRESS,
    Shop,
    _code,
    make_shop,
)

#: A store in Spain where customers collect their orders.
PICKUP_STORE = "store-madrid"


@pytest.fixture
def shop() -> Shop:
    shop = make_shop()
    shop.commerce.stores[PICKUP_STORE] = StoreFacts(active=True, pickup=True, country="ES")
    shop.commerce.stock(PICKUP_STORE, "tea", 100)
    shop.rates.put(
        TaxRate(country="ES", rate_bp=2100, inclusive=True, updated_at=NOW), expected_version=None
    )
    return shop


def _order(shop: Shop, *lines: tuple[str, int], uid: str = "alice", **terms: Any) -> Order:
    body: dict[str, Any] = {"store_id": STORE, "shipping_address": ADDRESS, **terms}
    request = OrderRequest(
        **body, lines=[OrderLineRequest(product_id=p, quantity=q) for p, q in lines]
    )
    placed = shop.orders.place(request, identity=Identity(uid, None), idempotency_key=None)
    return placed.order.value


def _field(raised: pytest.ExceptionInfo[ValidationFailed]) -> list[str]:
    return [error.field for error in raised.value.errors]


def test_an_order_by_api_costs_what_checkout_charges_for_the_same_lines(shop: Shop) -> None:
    shop.add_to_cart("alice", "tea", 1)
    shop.add_to_cart("alice", "mug", 1)
    quote = shop.quote(shipping_method="express", discount_code=None)
    order = _order(shop, ("tea", 1), ("mug", 1), shipping_method="express")
    money = ("subtotal", "discount_total", "shipping_total", "tax_total", "total")
    assert [getattr(order, m) for m in money] == [getattr(quote, m) for m in money]
    assert (order.shipping_total, order.tax_total, order.total) == (1500, 450, 4950)
    assert order.fulfilment == "delivery" and order.shipping_address == ADDRESS


def test_a_delivery_must_choose_a_method_where_the_shop_ships_and_name_an_address(
    shop: Shop,
) -> None:
    with pytest.raises(ValidationFailed) as no_method:
        _order(shop, ("tea", 1))
    assert _field(no_method) == ["shipping_method"]
    assert "standard" in str(no_method.value.errors[0].message)
    with pytest.raises(ValidationFailed) as no_address:
        _order(shop, ("tea", 1), shipping_address=None, shipping_method="standard")
    assert _field(no_address) == ["shipping_address"]
    with pytest.raises(ValidationFailed) as elsewhere:
        _order(shop, ("tea", 1), shipping_address=US_ADDRESS, shipping_method="express")
    assert _field(elsewhere) == ["shipping_method"]
    assert not shop.commerce.orders


def test_a_delivery_where_no_method_serves_is_charged_no_shipping_but_its_tax(
    shop: Shop,
) -> None:
    for method in shop.methods.all():
        shop.methods.delete(method.code, expected_version=shop.methods.get(method.code).version)
    order = _order(shop, ("tea", 1))
    assert (order.shipping_total, order.tax_total, order.total) == (0, 200, 2200)


def test_the_code_applies_to_an_order_by_api_as_at_checkout(shop: Shop) -> None:
    shop.codes.add(_code("SAVE10"))
    order = _order(shop, ("tea", 1), shipping_method="standard", discount_code="SAVE10")
    assert order.discount_code is not None and order.discount_code.amount == 200
    assert (order.discount_total, order.shipping_total, order.tax_total) == (200, 500, 230)


def test_a_pickup_pays_no_shipping_and_the_store_countrys_tax(shop: Shop) -> None:
    order = _order(
        shop, ("tea", 2), store_id=PICKUP_STORE, fulfilment="pickup", shipping_address=None
    )
    assert order.fulfilment == "pickup" and order.shipping_address is None
    assert order.shipping_method is None and order.shipping_total == 0
    # 21 % inclusive (Spain) on 4000: the part of the total that is tax.
    assert (order.tax_rate_bp, order.tax_inclusive, order.tax_total, order.total) == (
        2100,
        True,
        694,
        4000,
    )


def test_a_pickup_checkout_is_priced_the_same_way(shop: Shop) -> None:
    shop.add_to_cart("alice", "tea", 2)
    quote = shop.quote(store_id=PICKUP_STORE, fulfilment="pickup", shipping_address=None)
    assert (quote.fulfilment, quote.shipping_total, quote.tax_total, quote.total) == (
        "pickup",
        0,
        694,
        4000,
    )
    assert quote.shipping_methods == []
    order = shop.checkout(store_id=PICKUP_STORE, fulfilment="pickup", shipping_address=None)
    assert (order.fulfilment, order.total) == ("pickup", 4000)


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"store_id": STORE, "shipping_address": None}, "fulfilment"),  # no pickup there
        ({"store_id": PICKUP_STORE}, "shipping_address"),  # an address would not be used
        (
            {"store_id": PICKUP_STORE, "shipping_address": None, "shipping_method": "standard"},
            "shipping_method",
        ),
    ],
)
def test_a_pickup_that_cannot_be_is_a_400_naming_the_field(
    shop: Shop, terms: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        _order(shop, ("tea", 1), **{"fulfilment": "pickup", **terms})
    assert _field(refused) == [field]
    assert not shop.commerce.orders


def test_one_line_per_product_repeated_lines_are_named_and_nothing_is_written(
    shop: Shop,
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        _order(shop, ("tea", 1), ("mug", 1), ("tea", 2), ("mug", 1), shipping_method="standard")
    assert _field(refused) == ["lines[2].product_id", "lines[3].product_id"]
    assert "line 0" in refused.value.errors[0].message
    assert not shop.commerce.orders


def test_distinct_lines_accepts_distinct_products() -> None:
    distinct_lines(
        [OrderLineRequest(product_id="a", quantity=1), OrderLineRequest(product_id="b", quantity=5)]
    )


def test_destination_follows_the_fulfilment() -> None:
    store = StoreFacts(active=True, pickup=True, country="ES")
    delivery = OrderRequest(
        store_id="s", shipping_address=ADDRESS, lines=[OrderLineRequest(product_id="a", quantity=1)]
    )
    where = destination(delivery, store)
    assert (where.fulfilment, where.country, where.shipped) == ("delivery", "PT", True)
    pickup = delivery.model_copy(update={"fulfilment": "pickup", "shipping_address": None})
    where = destination(pickup, store)
    assert (where.fulfilment, where.country, where.shipped, where.address) == (
        "pickup",
        "ES",
        False,
        None,
    )


def test_an_order_freezes_each_products_name_with_its_line(shop: Shop) -> None:
    order = _order(shop, ("tea", 1), ("mug", 2), shipping_method="standard")
    assert [(line.product_id, line.name) for line in order.lines] == [
        ("tea", "Tea"),
        ("mug", "Mug"),
    ]
    tea = shop.catalogue.products["tea"]
    shop.catalogue.products["tea"] = tea.model_copy(update={"name": "Green tea"})
    # A later rename changes new quotes, never a placed order (the order page shows its names).
    assert shop.order(order.id).lines[0].name == "Tea"
    shop.add_to_cart("alice", "tea", 1)
    assert shop.quote(shipping_method="standard").lines[0].name == "Green tea"
