"""Checkout over the in-memory fakes: quote, placement from the cart (emptied in the same
commit), code validation, and code uses counted with the reservation and given back once."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from celeste.accounts.profiles import Identity
from celeste.cart.lines import CartLine
from celeste.kernel.addresses import ShippingAddress
from celeste.kernel.errors import Conflict, ValidationFailed
from celeste.orders.order import Order
from celeste.orders.requests import CheckoutRequest
from celeste.orders.status import OrderStatus
from celeste.pricing.discount_codes import UNUSABLE, DiscountCode
from celeste.pricing.price_lists import PriceList, PriceRule
from celeste.pricing.shipping import ShippingMethod
from celeste.pricing.tax import TaxRate
from celeste.services.fulfilment import OrderFulfilment
from celeste.services.order_pricing import CheckoutQuote, OrderPricer
from celeste.services.placing import OrderService
from celeste.services.pricing import PricingService
from celeste.services.retry import Backoff
from celeste.services.shipping import ShippingService
from celeste.services.tax import TaxRateService
from tests.fakes import (
    CodesView,
    FakeIdentity,
    InMemoryCart,
    InMemoryCatalogue,
    InMemoryCommerce,
    InMemoryProfiles,
    InMemoryShippingMethods,
    InMemoryTaxRates,
    InventoryView,
    ladder,
)

STORE = "store-1"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
FAST = Backoff(attempts=200, base_s=0.0, cap_s=0.0, budget_s=60.0)
ADDRESS = ShippingAddress(
    name="Ana", line1="Rua 1", city="Lisboa", postal_code="1000-001", country="PT"
)
US_ADDRESS = ADDRESS.model_copy(update={"country": "US"})


@dataclass
class Shop:
    commerce: InMemoryCommerce
    catalogue: InMemoryCatalogue
    cart: InMemoryCart
    codes: CodesView
    methods: InMemoryShippingMethods
    rates: InMemoryTaxRates
    orders: OrderService
    fulfilment: OrderFulfilment

    def add_to_cart(
        self, uid: str, product_id: str, quantity: int, variant_id: str | None = None
    ) -> None:
        at = datetime.now(UTC)
        key = variant_id or product_id
        line = CartLine(
            product_id=product_id, variant_id=key, quantity=quantity, added_at=at, updated_at=at
        )
        if self.cart.set_quantity(uid, key, quantity=quantity, updated_at=at) is None:
            self.cart.create(uid, line)

    def quote(self, uid: str = "alice", **body: Any) -> CheckoutQuote:
        return self.orders.quote_checkout(_request(**body), identity=Identity(uid, None))

    def checkout(self, uid: str = "alice", *, key: str = "k1", **body: Any) -> Order:
        placed = self.orders.checkout(
            _request(**body), identity=Identity(uid, None), idempotency_key=key
        )
        return placed.order.value

    def order(self, order_id: str) -> Order:
        return self.commerce.get(order_id).value

    def code(self, code: str) -> DiscountCode:
        return self.commerce.codes[code].value


def _request(**body: Any) -> CheckoutRequest:
    """A checkout at ``STORE`` to ``ADDRESS`` unless ``body`` says otherwise."""
    return CheckoutRequest(**{"store_id": STORE, "shipping_address": ADDRESS, **body})


def _code(code: str = "SAVE10", **fields: Any) -> DiscountCode:
    data: dict[str, Any] = {"kind": "percentage", "value": 10, **fields}
    return DiscountCode(code=code, created_at=NOW, updated_at=NOW, **data)


def _method(code: str, price: int, **fields: Any) -> ShippingMethod:
    data: dict[str, Any] = {"name": code.title(), "currency": "EUR", **fields}
    return ShippingMethod(code=code, price=price, created_at=NOW, updated_at=NOW, **data)


def make_shop() -> Shop:
    commerce = InMemoryCommerce()
    commerce.stores = {STORE: True}
    cart = InMemoryCart()
    commerce.cart = cart
    catalogue = InMemoryCatalogue()
    catalogue.add("tea", price=2000)
    catalogue.add("mug", price=1000)
    catalogue.add("retired", price=100, active=False)
    codes = CodesView(commerce)
    methods = InMemoryShippingMethods()
    methods.create(_method("standard", 500, free_over=5000))
    methods.create(_method("express", 1500, countries=["PT", "ES"]))
    methods.create(_method("usa", 900, countries=["US"]))
    rates = InMemoryTaxRates()
    rates.put(
        TaxRate(country="PT", rate_bp=1000, inclusive=False, updated_at=NOW), expected_version=None
    )
    clock = lambda: NOW  # noqa: E731
    pricing = PricingService(source=catalogue, products=catalogue, tiers=catalogue, clock=clock)
    pricer = OrderPricer(
        pricing=pricing,
        tax_rates=TaxRateService(repository=rates),
        shipping=ShippingService(repository=methods),
        codes=codes,
        clock=clock,
    )
    commerce.stock(STORE, "tea", 100)
    commerce.stock(STORE, "mug", 100)
    return Shop(
        commerce=commerce,
        catalogue=catalogue,
        cart=cart,
        codes=codes,
        methods=methods,
        rates=rates,
        orders=OrderService(
            orders=commerce,
            writer=commerce,
            pricing=pricing,
            stores=commerce,
            pricer=pricer,
            cart=cart,
            products=catalogue,
            clock=clock,
            backoff=FAST,
            sleep=lambda _: None,
        ),
        fulfilment=OrderFulfilment(
            orders=commerce,
            inventory=InventoryView(commerce),
            writer=commerce,
            codes=codes,
            customers=commerce,
            tiers=commerce,
            clock=clock,
            backoff=FAST,
            sleep=lambda _: None,
        ),
    )


@pytest.fixture
def shop() -> Shop:
    return make_shop()


def _two_lines(shop: Shop, uid: str = "alice") -> None:
    shop.add_to_cart(uid, "tea", 1)
    shop.add_to_cart(uid, "mug", 1)


# --- quote ---------------------------------------------------------------------------------


def test_quote_prices_the_cart_with_shipping_and_tax_and_writes_nothing(shop: Shop) -> None:
    _two_lines(shop)
    commits = shop.commerce.commits
    quote = shop.quote(shipping_method="standard")
    assert (quote.subtotal, quote.shipping_total, quote.tax_total, quote.total) == (
        3000,
        500,
        350,
        3850,
    )
    assert [line.tax for line in quote.lines] == [200, 100]
    assert [m.code for m in quote.shipping_methods] == ["standard", "express"]
    assert shop.commerce.commits == commits and not shop.commerce.orders
    assert len(shop.cart.lines("alice", limit=10)) == 2


def test_inclusive_tax_is_the_part_of_the_total_that_is_tax(shop: Shop) -> None:
    shop.rates.put(
        TaxRate(country="PT", rate_bp=2000, inclusive=True, updated_at=NOW), expected_version=None
    )
    shop.catalogue.add("lamp", price=1200)
    shop.add_to_cart("alice", "lamp", 1)
    order = shop.checkout(shipping_method="express", discount_code=None)
    # 1 200 of goods (200 of it tax) + 1 500 of shipping (250 of it tax), nothing added.
    assert (order.tax_total, order.shipping_tax, order.total) == (450, 250, 2700)
    assert order.lines[0].tax == 200 and order.tax_inclusive


def test_a_country_without_a_rate_is_taxed_zero(shop: Shop) -> None:
    _two_lines(shop)
    quote = shop.quote(shipping_address=US_ADDRESS, shipping_method="usa")
    assert (quote.tax_total, quote.total) == (0, 3900)
    assert [m.code for m in quote.shipping_methods] == ["standard", "usa"]


# --- checkout ------------------------------------------------------------------------------


def test_checkout_places_the_cart_and_empties_it_in_the_same_commit(shop: Shop) -> None:
    _two_lines(shop)
    commits = shop.commerce.commits
    order = shop.checkout(shipping_method="standard")
    assert shop.commerce.commits == commits + 1
    assert shop.cart.lines("alice", limit=10) == []
    assert order.status is OrderStatus.PENDING
    assert [(line.product_id, line.quantity) for line in order.lines] == [("tea", 1), ("mug", 1)]
    assert (order.subtotal, order.shipping_total, order.tax_total, order.total) == (
        3000,
        500,
        350,
        3850,
    )
    assert order.shipping_method is not None and order.shipping_method.code == "standard"


def test_free_shipping_from_the_threshold(shop: Shop) -> None:
    shop.add_to_cart("alice", "tea", 3)
    order = shop.checkout(shipping_method="standard")
    assert (order.shipping_total, order.tax_total, order.total) == (0, 600, 6600)


def test_replaying_the_key_returns_the_same_order_and_another_body_is_409(shop: Shop) -> None:
    _two_lines(shop)
    first = shop.checkout(shipping_method="standard")
    again = shop.checkout(shipping_method="standard")
    assert again.id == first.id and len(shop.commerce.orders) == 1
    with pytest.raises(Conflict):
        shop.checkout(shipping_method="express")


def test_an_empty_cart_is_409_and_nothing_is_written(shop: Shop) -> None:
    with pytest.raises(Conflict, match="empty"):
        shop.checkout(shipping_method="standard")
    assert not shop.commerce.orders and not shop.commerce.keys


def test_unavailable_lines_are_409_naming_them_and_the_cart_is_untouched(shop: Shop) -> None:
    _two_lines(shop)
    shop.add_to_cart("alice", "retired", 1)
    with pytest.raises(Conflict) as refused:
        shop.checkout(shipping_method="standard")
    assert [e.field for e in refused.value.errors] == ["cart.retired"]
    assert not shop.commerce.orders
    assert len(shop.cart.lines("alice", limit=10)) == 3


def test_checkout_buys_two_variants_of_one_product_and_clears_both_lines(shop: Shop) -> None:
    shop.catalogue.add_sized("shirt", price=1500, sizes={"S": None, "M": 1800})
    shop.commerce.stock(STORE, "shirt-S", 5)
    shop.commerce.stock(STORE, "shirt-M", 5)
    shop.add_to_cart("alice", "shirt", 2, variant_id="shirt-S")
    shop.add_to_cart("alice", "shirt", 1, variant_id="shirt-M")
    quote = shop.quote(shipping_method="standard")
    assert quote.subtotal == 2 * 1500 + 1800
    order = shop.checkout(shipping_method="standard")
    assert [(x.product_id, x.variant_id, x.sku, x.options, x.quantity) for x in order.lines] == [
        ("shirt", "shirt-S", "SKU-shirt-S", {"Size": "S"}, 2),
        ("shirt", "shirt-M", "SKU-shirt-M", {"Size": "M"}, 1),
    ]
    assert [x.line_subtotal for x in order.lines] == [3000, 1800]
    assert shop.cart.lines("alice", limit=10) == []


def test_an_unavailable_variant_is_named_by_its_id_and_product(shop: Shop) -> None:
    shop.catalogue.add_sized("shirt", price=1500, sizes={"S": None, "M": None})
    shop.add_to_cart("alice", "tea", 1)
    shop.add_to_cart("alice", "shirt", 1, variant_id="shirt-S")
    shop.add_to_cart("alice", "shirt", 1, variant_id="shirt-M")
    shop.catalogue.change_variant("shirt", "shirt-S", active=False)
    shop.catalogue.delete_variant("shirt", "shirt-M")
    with pytest.raises(Conflict) as refused:
        shop.checkout(shipping_method="standard")
    assert sorted((e.field, e.message) for e in refused.value.errors) == [
        ("cart.shirt-M", "variant shirt-M of product shirt is missing"),
        ("cart.shirt-S", "variant shirt-S of product shirt is inactive"),
    ]
    assert not shop.commerce.orders and len(shop.cart.lines("alice", limit=10)) == 3


def test_a_shipping_method_is_required_and_must_serve_the_address(shop: Shop) -> None:
    _two_lines(shop)
    with pytest.raises(ValidationFailed) as missing:
        shop.checkout()
    assert missing.value.errors[0].field == "shipping_method"
    with pytest.raises(ValidationFailed) as elsewhere:
        shop.checkout(shipping_method="usa")
    assert elsewhere.value.errors[0].field == "shipping_method"
    assert not shop.commerce.orders


def test_a_cart_changed_before_the_commit_is_priced_again(shop: Shop) -> None:
    _two_lines(shop)
    shop.commerce.interleave(lambda: shop.add_to_cart("alice", "tea", 2))
    order = shop.checkout(shipping_method="standard")
    assert [(line.product_id, line.quantity) for line in order.lines] == [("tea", 2), ("mug", 1)]
    assert shop.cart.lines("alice", limit=10) == []


# --- discount codes at checkout ------------------------------------------------------------


def test_a_code_stacks_on_a_tier_price(shop: Shop) -> None:
    shop.catalogue.price_lists.append(
        PriceList(
            id="gold",
            name="Gold",
            priority=1,
            tiers=["GOLD"],
            rules=[
                PriceRule(scope="product", target_id="tea", kind="percentage", value=Decimal(20))
            ],
        )
    )
    shop.catalogue.tier_of_uid["alice"] = "GOLD"
    shop.codes.add(_code())
    shop.add_to_cart("alice", "tea", 1)
    order = shop.checkout(shipping_method="express", discount_code="save10")
    # 2 000 -> 1 600 (gold) -> 1 440 (code); tax 10 % of 1 440 and of 1 500 shipping.
    assert order.discount_code is not None and order.discount_code.amount == 160
    assert (order.discount_total, order.tax_total, order.total) == (560, 294, 3234)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"active": False}, "not active"),
        ({"valid_from": NOW + timedelta(days=1)}, "not valid yet"),
        ({"valid_until": NOW}, "expired"),
        ({"tiers": ["GOLD"]}, "not open to tier"),
        ({"min_subtotal": 3001}, "at least 3001"),
        ({"usage_limit": 2, "times_used": 2}, "used up"),
        ({"kind": "fixed", "value": 100, "currency": "USD"}, "in USD"),
    ],
)
def test_an_unusable_code_is_a_400_naming_discount_code(
    shop: Shop, fields: dict[str, Any], message: str
) -> None:
    code = _code(**fields)
    shop.codes.add(code)
    _two_lines(shop)
    with pytest.raises(ValidationFailed) as refused:
        shop.checkout(shipping_method="standard", discount_code="SAVE10")
    # One answer for every code that does not apply: it never tells which rule failed.
    assert refused.value.detail == UNUSABLE
    assert [(e.field, e.message) for e in refused.value.errors] == [("discount_code", UNUSABLE)]
    assert not shop.commerce.orders and len(shop.cart.lines("alice", limit=10)) == 2
    # The reason stays the shop's own.
    reason = code.refusal(tier="BRONZE", currency="EUR", goods_total=3000, customer_uses=0, now=NOW)
    assert reason is not None and message in reason


def test_an_unknown_code_gets_the_same_answer_as_a_real_one_that_does_not_apply(
    shop: Shop,
) -> None:
    shop.codes.add(_code(active=False))
    _two_lines(shop)
    answers = []
    for typed in ("NOPE", "SAVE10"):
        with pytest.raises(ValidationFailed) as refused:
            shop.checkout(shipping_method="standard", discount_code=typed)
        answers.append((refused.value.detail, [(e.field, e.message) for e in refused.value.errors]))
    assert answers[0] == answers[1] == (UNUSABLE, [("discount_code", UNUSABLE)])


# --- code uses, counted with the reservation -----------------------------------------------


def _placed_with_code(shop: Shop, uid: str, key: str = "k") -> Order:
    shop.add_to_cart(uid, "tea", 1)
    return shop.checkout(uid, key=key, shipping_method="standard", discount_code="SAVE10")


def test_a_use_is_counted_with_the_reservation_and_given_back_once_on_cancel(shop: Shop) -> None:
    shop.codes.add(_code(usage_limit=5))
    order = _placed_with_code(shop, "alice")
    assert shop.code("SAVE10").times_used == 0  # not until the stock is held
    assert shop.fulfilment.reserve(order.id) == "confirmed"
    assert shop.fulfilment.reserve(order.id) == "already confirmed"
    assert shop.code("SAVE10").times_used == 1
    assert shop.order(order.id).code_state == "counted"
    shop.orders.cancel(order.id, uid="alice", is_admin=False, expected_version=None)
    for _ in range(2):  # a redelivered update event
        shop.fulfilment.on_status_change(
            order.id, before=OrderStatus.CONFIRMED, after=OrderStatus.CANCELLED
        )
    assert shop.code("SAVE10").times_used == 0
    assert shop.order(order.id).code_state == "returned"
    assert sorted(use.kind for use in shop.commerce.code_uses.values()) == ["return", "use"]
    assert shop.commerce.code_customers[("SAVE10", "alice")].value == 0


def test_an_exhausted_code_rejects_the_order_with_stock_untouched(shop: Shop) -> None:
    shop.codes.add(_code(usage_limit=1))
    first = _placed_with_code(shop, "alice")
    second = _placed_with_code(shop, "bob")
    assert shop.fulfilment.reserve(first.id) == "confirmed"
    reserved = shop.commerce.level(STORE, "tea").reserved
    assert shop.fulfilment.reserve(second.id) == "rejected"
    rejected = shop.order(second.id)
    assert rejected.status is OrderStatus.REJECTED
    assert rejected.rejection_reason == "discount_code_exhausted"
    assert rejected.code_state == "none" and rejected.stock_state == "none"
    assert shop.commerce.level(STORE, "tea").reserved == reserved
    assert shop.code("SAVE10").times_used == 1


def test_an_out_of_stock_order_counts_no_use(shop: Shop) -> None:
    shop.codes.add(_code(usage_limit=5))
    shop.commerce.stock(STORE, "tea", 0)
    order = _placed_with_code(shop, "alice")
    assert shop.fulfilment.reserve(order.id) == "rejected"
    assert shop.order(order.id).rejection_reason == "out_of_stock"
    assert shop.code("SAVE10").times_used == 0 and not shop.commerce.code_uses


def test_the_per_customer_limit_holds_at_checkout_and_at_reservation(shop: Shop) -> None:
    shop.codes.add(_code(per_customer_limit=1))
    first = _placed_with_code(shop, "alice", key="a")
    second = _placed_with_code(shop, "alice", key="b")  # placed before the first was counted
    assert shop.fulfilment.reserve(first.id) == "confirmed"
    assert shop.fulfilment.reserve(second.id) == "rejected"
    assert shop.order(second.id).rejection_reason == "discount_code_exhausted"
    with pytest.raises(ValidationFailed, match="one customer"):
        _placed_with_code(shop, "alice", key="c")
    third = _placed_with_code(shop, "bob", key="d")  # another customer still may
    assert shop.fulfilment.reserve(third.id) == "confirmed"


def test_racing_reservations_never_exceed_the_usage_limit(shop: Shop) -> None:
    shop.codes.add(_code(usage_limit=5))
    placed = [_placed_with_code(shop, f"user{i}") for i in range(15)]
    outcomes: list[str] = []
    threads = [
        threading.Thread(target=lambda o=o: outcomes.append(shop.fulfilment.reserve(o.id)))
        for o in placed
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes).count("confirmed") == 5
    assert shop.code("SAVE10").times_used == 5
    statuses = [shop.order(o.id) for o in placed]
    rejected = [o for o in statuses if o.status is OrderStatus.REJECTED]
    assert len(rejected) == 10
    assert {o.rejection_reason for o in rejected} == {"discount_code_exhausted"}
    assert shop.commerce.level(STORE, "tea").reserved == 5


_steps = st.lists(
    st.tuples(st.sampled_from(["reserve", "cancel", "settle", "expire"]), st.integers(0, 5)),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=_steps, limit=st.integers(1, 4))
def test_times_used_always_equals_the_uses_held(steps: list[tuple[str, int]], limit: int) -> None:
    """Whatever order and repetition reservations, cancels, expiries and their effects come in,
    ``times_used`` is the number of orders whose use is counted, never above the limit, and
    the ledger has one ``use`` per counted-or-returned order and one ``return`` per returned."""
    shop = make_shop()
    shop.codes.add(_code(usage_limit=limit))
    placed = [_placed_with_code(shop, f"user{i}") for i in range(6)]
    for action, index in steps:
        order = shop.order(placed[index].id)
        if action == "reserve":
            shop.fulfilment.reserve(order.id)
        elif action == "cancel" and order.status in (OrderStatus.PENDING, OrderStatus.CONFIRMED):
            shop.orders.cancel(order.id, uid=order.user_id, is_admin=False, expected_version=None)
        elif action == "expire" and order.hold_expires_at is not None:
            shop.fulfilment.expire_due(order.hold_expires_at + timedelta(seconds=1))
        elif action == "settle":
            shop.fulfilment.settle_stock(order.id)
    orders = [shop.order(o.id) for o in placed]
    counted = [o for o in orders if o.code_state == "counted"]
    assert shop.code("SAVE10").times_used == len(counted) <= limit
    uses = [u.kind for u in shop.commerce.code_uses.values()]
    assert uses.count("use") == len([o for o in orders if o.code_state != "none"])
    assert uses.count("return") == len([o for o in orders if o.code_state == "returned"])
    for order in orders:
        holds = order.status in (OrderStatus.CONFIRMED, OrderStatus.PROCESSING)
        assert (order.code_state == "counted") == (holds or order.stock_state == "held")


def test_a_retry_racing_its_first_attempt_answers_the_replay(shop: Shop) -> None:
    """The same key sent twice at once (a client retrying a dropped request): when the first
    commits between the second's key check and its cart read, the second sees an empty cart,
    and answers the first's order instead of 409."""
    _two_lines(shop)
    first: list[Order] = []
    real = shop.commerce.idempotency
    calls = 0

    def idempotency(record_id: str) -> Any:
        nonlocal calls
        calls += 1
        found = real(record_id)
        if calls == 1:  # the second request's key check: absent; then the first one commits
            first.append(shop.checkout(shipping_method="standard"))
        return found

    shop.commerce.idempotency = idempotency  # type: ignore[method-assign]
    second = shop.checkout(shipping_method="standard")
    assert first and second.id == first[0].id and len(shop.commerce.orders) == 1


# --- each document read once -----------------------------------------------------------------


def _counting(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often pricing's inputs are read from now on: product batches and tier lookups."""
    calls = {"get_many": 0, "tier_of": 0}
    for name in calls:
        real = getattr(shop.catalogue, name)

        def counted(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            calls[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(shop.catalogue, name, counted)
    return calls


def test_checkout_and_its_quote_read_the_carts_products_once(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    _two_lines(shop)
    calls = _counting(shop, monkeypatch)
    shop.quote(shipping_method="standard")
    assert calls == {"get_many": 1, "tier_of": 1}  # no profiles here: pricing reads the tier
    shop.checkout(shipping_method="standard")
    assert calls == {"get_many": 2, "tier_of": 2}


def test_the_placed_order_is_answered_at_its_stored_version(shop: Shop) -> None:
    _two_lines(shop)
    placed = shop.orders.checkout(
        _request(shipping_method="standard"), identity=Identity("alice", None), idempotency_key="k"
    )
    assert placed.order == shop.commerce.get(placed.order.value.id)


@pytest.mark.parametrize(
    "body",
    [
        {"shipping_method": "standard"},
        {"shipping_method": "express", "discount_code": "SAVE10"},
        {"shipping_address": US_ADDRESS, "shipping_method": "usa"},
    ],
)
def test_the_quote_shows_exactly_what_checkout_then_freezes(
    shop: Shop, body: dict[str, Any]
) -> None:
    shop.codes.add(_code())
    _two_lines(shop)
    quote = shop.quote(**body)
    order = shop.checkout(**body)
    shown = set(CheckoutQuote.model_fields) - {"shipping_methods"}
    assert quote.model_dump(include=shown) == order.model_dump(include=shown)


def test_checkout_prices_for_the_tier_on_the_profile_it_reads_once(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    from celeste.services.accounts import AccountService

    profiles = InMemoryProfiles()
    accounts = AccountService(
        profiles=profiles, identity=FakeIdentity(), tiers=ladder({"BRONZE": True, "GOLD": False})
    )
    alice = Identity("alice", None)
    made = accounts.me(alice)
    profiles.update(
        made.value.model_copy(update={"tier": "GOLD"}),
        fields=frozenset({"tier"}),
        expected_version=made.version,
    )
    orders = OrderService(
        orders=shop.commerce,
        writer=shop.commerce,
        pricing=PricingService(
            source=shop.catalogue, products=shop.catalogue, tiers=shop.catalogue
        ),
        stores=shop.commerce,
        accounts=accounts,
        cart=shop.cart,
        products=shop.catalogue,
        backoff=FAST,
        sleep=lambda _: None,
    )
    _two_lines(shop)
    reads: list[str] = []
    get = profiles.get
    monkeypatch.setattr(profiles, "get", lambda uid: reads.append(uid) or get(uid))
    placed = orders.checkout(
        CheckoutRequest(store_id=STORE, fulfilment="delivery", shipping_address=ADDRESS),
        identity=alice,
        idempotency_key="k",
    )
    assert placed.order.value.tier == "GOLD"  # the catalogue knows no tier for alice
    assert reads == ["alice"] and shop.catalogue.tier_reads == []
