"""Cart, wishlist and tier-standing services over in-memory fakes: single-document writes, the
bound on lines, concurrent PUTs, pricing through the pricing engine, unavailable products."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from celeste.accounts.profiles import Identity
from celeste.accounts.tier_standing import tier_standing
from celeste.accounts.tiers import DEMO_TIERS, CustomerStats, RecentDelivery
from celeste.cart.lines import CartLine, PricedCart, WishlistEntry, unavailable_lines
from celeste.catalog.products import Product
from celeste.kernel.errors import Conflict, NotFound, ValidationFailed
from celeste.pricing.price_lists import PriceList, PriceRule
from celeste.services.accounts import AccountService
from celeste.services.cart import CartService, WishlistService
from celeste.services.pricing import PricingService, QuoteLine
from celeste.services.tier_standing import TierStandingService
from celeste.services.tiers import TierService
from tests.fakes import (
    FakeIdentity,
    InMemoryCart,
    InMemoryCatalogue,
    InMemoryProfiles,
    InMemoryTiers,
    InMemoryWishlist,
    ladder,
)

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
UID = "cust-1"
OTHER = "cust-2"


class Clock:
    """A clock that moves one second every time it is read."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def catalogue() -> InMemoryCatalogue:
    catalogue = InMemoryCatalogue()
    catalogue.add("apple", price=1000)
    catalogue.add("pear", price=333)
    catalogue.add("bread", price=250)
    catalogue.add("retired", price=500, active=False)
    catalogue.tier_of_uid[UID] = "BRONZE"
    return catalogue


@pytest.fixture
def pricing(catalogue: InMemoryCatalogue) -> PricingService:
    return PricingService(source=catalogue, products=catalogue, tiers=catalogue, clock=lambda: T0)


@pytest.fixture
def repo() -> InMemoryCart:
    return InMemoryCart()


@pytest.fixture
def pauses() -> list[float]:
    return []


@pytest.fixture
def cart(
    repo: InMemoryCart, catalogue: InMemoryCatalogue, pricing: PricingService, pauses: list[float]
) -> CartService:
    return CartService(
        cart=repo,
        products=catalogue,
        pricing=pricing,
        clock=Clock(),
        max_lines=3,
        sleep=pauses.append,
    )


def deactivate(catalogue: InMemoryCatalogue, product_id: str) -> None:
    catalogue.products[product_id] = catalogue.products[product_id].model_copy(
        update={"active": False}
    )


def gold_discount(catalogue: InMemoryCatalogue, percent: int = 20) -> None:
    catalogue.price_lists.append(
        PriceList(
            id="gold",
            name="Gold",
            priority=1,
            tiers=["GOLD"],
            rules=[PriceRule(scope="all", kind="percentage", value=percent)],
        )
    )


def summary(priced: PricedCart) -> list[tuple[str, int, str | None, int | None]]:
    return [
        (
            e.line.product_id,
            e.line.quantity,
            e.unavailable,
            e.pricing.line_total if e.pricing else None,
        )
        for e in priced.entries
    ]


# --- the cart's writes ------------------------------------------------------------------------


def test_put_creates_then_updates_one_line_in_one_write_each(
    cart: CartService, repo: InMemoryCart
) -> None:
    line, created = cart.set_quantity(UID, "apple", 2)
    assert created and (line.product_id, line.quantity) == ("apple", 2)
    assert repo.writes == 1
    again, created = cart.set_quantity(UID, "apple", 5)
    assert not created and again.quantity == 5
    assert again.added_at == line.added_at and again.updated_at > line.updated_at
    assert repo.writes == 2
    assert [(x.product_id, x.quantity) for x in repo.lines(UID, limit=10)] == [("apple", 5)]


@pytest.mark.parametrize("product_id", ["ghost", "retired"])
def test_put_of_an_unknown_or_inactive_product_is_not_found(
    cart: CartService, repo: InMemoryCart, product_id: str
) -> None:
    with pytest.raises(NotFound, match=product_id):
        cart.set_quantity(UID, product_id, 1)
    assert repo.writes == 0


def test_a_full_cart_refuses_a_new_product_but_updates_its_lines(
    cart: CartService, repo: InMemoryCart, catalogue: InMemoryCatalogue
) -> None:
    catalogue.add("fig", price=100)
    for product_id in ("apple", "pear", "bread"):
        cart.set_quantity(UID, product_id, 1)
    with pytest.raises(Conflict, match="at most 3"):
        cart.set_quantity(UID, "fig", 1)
    assert cart.set_quantity(UID, "pear", 7)[0].quantity == 7
    assert repo.count(UID) == 3
    cart.set_quantity(OTHER, "fig", 1)  # another customer's cart has its own bound


def test_adds_racing_for_the_last_place_never_overfill_the_cart(
    cart: CartService, repo: InMemoryCart, catalogue: InMemoryCatalogue
) -> None:
    catalogue.add("fig", price=100)
    cart.set_quantity(UID, "apple", 1)
    cart.set_quantity(UID, "pear", 1)
    # Another request checked the bound too (2 < 3) and commits its line just before ours.
    repo.interleave(
        lambda: repo.create(UID, CartLine(product_id="fig", quantity=1, added_at=T0, updated_at=T0))
    )
    with pytest.raises(Conflict):
        cart.set_quantity(UID, "bread", 1)
    assert sorted(line.product_id for line in repo.lines(UID, limit=10)) == ["apple", "fig", "pear"]


def test_a_line_created_by_a_racing_put_is_updated_instead(
    cart: CartService, repo: InMemoryCart, pauses: list[float]
) -> None:
    repo.interleave(
        lambda: repo.create(
            UID, CartLine(product_id="apple", quantity=9, added_at=T0, updated_at=T0)
        )
    )
    line, created = cart.set_quantity(UID, "apple", 4)
    assert not created and line.quantity == 4
    assert [(x.product_id, x.quantity) for x in repo.lines(UID, limit=10)] == [("apple", 4)]
    assert len(pauses) == 1  # the lost race backed off once (the one retry helper)


def test_concurrent_puts_of_different_products_all_land(
    repo: InMemoryCart, catalogue: InMemoryCatalogue, pricing: PricingService
) -> None:
    ids = [f"p{i:02d}" for i in range(20)]
    for product_id in ids:
        catalogue.add(product_id, price=100)
    cart = CartService(cart=repo, products=catalogue, pricing=pricing)
    run_together([lambda pid=pid: cart.set_quantity(UID, pid, 2) for pid in ids])
    assert sorted(line.product_id for line in repo.lines(UID, limit=100)) == ids


def test_concurrent_puts_of_one_product_leave_one_line_with_a_sent_quantity(
    cart: CartService, repo: InMemoryCart
) -> None:
    quantities = list(range(1, 21))
    run_together([lambda q=q: cart.set_quantity(UID, "apple", q) for q in quantities])
    lines = repo.lines(UID, limit=10)
    assert len(lines) == 1 and lines[0].quantity in quantities


def run_together(calls: Sequence[object]) -> None:
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call: object) -> None:
        barrier.wait()
        try:
            call()  # type: ignore[operator]
        except BaseException as exc:  # reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_remove_and_clear_are_idempotent_and_per_customer(
    cart: CartService, repo: InMemoryCart
) -> None:
    cart.set_quantity(UID, "apple", 1)
    cart.set_quantity(UID, "pear", 1)
    cart.set_quantity(OTHER, "apple", 3)
    cart.remove(UID, "apple")
    cart.remove(UID, "apple")
    cart.remove(UID, "never-there")
    assert [line.product_id for line in repo.lines(UID, limit=10)] == ["pear"]
    cart.clear(UID)
    cart.clear(UID)
    assert repo.lines(UID, limit=10) == []
    assert [(x.product_id, x.quantity) for x in repo.lines(OTHER, limit=10)] == [("apple", 3)]


# --- the priced cart --------------------------------------------------------------------------


def test_the_cart_is_priced_by_the_pricing_engine_for_the_callers_tier(
    cart: CartService, catalogue: InMemoryCatalogue, pricing: PricingService
) -> None:
    gold_discount(catalogue)
    catalogue.tier_of_uid[OTHER] = "GOLD"
    for uid in (UID, OTHER):
        cart.set_quantity(uid, "pear", 3)
        cart.set_quantity(uid, "apple", 1)
    bronze, gold = cart.priced(UID), cart.priced(OTHER)
    assert (bronze.tier, bronze.subtotal, bronze.discount_total, bronze.total) == (
        "BRONZE",
        1999,
        0,
        1999,
    )
    assert (gold.tier, gold.currency) == ("GOLD", "EUR")
    quote = pricing.quote([QuoteLine("pear", 3), QuoteLine("apple", 1)], uid=OTHER)
    assert (gold.subtotal, gold.discount_total, gold.total) == (
        quote.subtotal,
        quote.discount_total,
        quote.total,
    )
    assert summary(gold) == [("pear", 3, None, 799), ("apple", 1, None, 800)]
    assert gold.entries[0].pricing == quote.lines[0]
    assert gold.total == sum(e.pricing.line_total for e in gold.entries if e.pricing)


def test_an_empty_cart_has_zero_totals_and_the_callers_tier(cart: CartService) -> None:
    priced = cart.priced("nobody")
    assert (priced.entries, priced.total, priced.currency, priced.tier) == ([], 0, None, "BRONZE")


def test_deactivated_and_vanished_products_are_flagged_and_left_out_of_the_totals(
    cart: CartService, catalogue: InMemoryCatalogue
) -> None:
    for product_id in ("apple", "pear", "bread"):
        cart.set_quantity(UID, product_id, 2)
    deactivate(catalogue, "apple")
    del catalogue.products["bread"]
    priced = cart.priced(UID)
    assert summary(priced) == [
        ("apple", 2, "inactive", None),
        ("pear", 2, None, 666),
        ("bread", 2, "missing", None),
    ]
    assert (priced.subtotal, priced.total) == (666, 666)
    assert priced.entries[0].product is not None and priced.entries[2].product is None
    deactivate(catalogue, "pear")
    everything_gone = cart.priced(UID)
    assert everything_gone.total == 0 and everything_gone.currency is None
    assert [e.unavailable for e in everything_gone.entries] == ["inactive", "inactive", "missing"]


def test_a_product_deactivated_while_the_cart_is_priced_is_read_again(
    repo: InMemoryCart, catalogue: InMemoryCatalogue, pricing: PricingService
) -> None:
    class StaleOnce:
        """The cart's first product read sees pear still active; pricing then sees it gone."""

        def __init__(self) -> None:
            self.reads = 0

        def get_many(self, product_ids: Sequence[str]) -> dict[str, Product]:
            self.reads += 1
            found = catalogue.get_many(product_ids)
            if self.reads == 1:  # the first read of priced() (set_quantity reads by_variant)
                deactivate(catalogue, "pear")
            return found

        def by_variant(self, variant_id: str) -> Product | None:
            return catalogue.by_variant(variant_id)

    products = StaleOnce()
    cart = CartService(cart=repo, products=products, pricing=pricing)  # type: ignore[arg-type]
    repo.create(UID, CartLine(product_id="apple", quantity=1, added_at=T0, updated_at=T0))
    cart.set_quantity(UID, "pear", 1)
    priced = cart.priced(UID)
    assert summary(priced) == [("apple", 1, None, 1000), ("pear", 1, "inactive", None)]
    assert products.reads == 2


def test_lines_in_another_currency_than_the_cart_are_flagged() -> None:
    def product(pid: str, currency: str, active: bool = True) -> Product:
        return Product(
            id=pid,
            sku=pid,
            name=pid,
            category_id="c",
            base_price=1,
            currency=currency,
            active=active,
            created_at=T0,
            updated_at=T0,
        )

    def line(pid: str, minute: int) -> CartLine:
        at = T0 + timedelta(minutes=minute)
        return CartLine(product_id=pid, quantity=1, added_at=at, updated_at=at)

    products = {
        "a": product("a", "USD", active=False),
        "b": product("b", "EUR"),
        "c": product("c", "USD"),
        "d": product("d", "EUR"),
    }
    lines = [line("d", 3), line("c", 2), line("b", 1), line("a", 0), line("e", 4)]
    assert unavailable_lines(lines, products) == {"a": "inactive", "c": "currency", "e": "missing"}


# --- variants -------------------------------------------------------------------------------


@pytest.fixture
def shirt(catalogue: InMemoryCatalogue) -> Product:
    """A product with options: ``shirt-S`` at the product's price, ``shirt-M`` at its own."""
    return catalogue.add_sized("shirt", price=1500, sizes={"S": None, "M": 1800, "L": None})


def test_two_variants_of_one_product_are_two_lines_each_priced_as_its_variant(
    cart: CartService, repo: InMemoryCart, shirt: Product
) -> None:
    small, created = cart.set_quantity(UID, "shirt-S", 2)
    assert created and (small.product_id, small.variant_id) == ("shirt", "shirt-S")
    cart.set_quantity(UID, "shirt-M", 1)
    cart.set_quantity(UID, "shirt-S", 3)  # the same variant: the same line
    assert [(x.variant_id, x.quantity) for x in repo.lines(UID, limit=10)] == [
        ("shirt-S", 3),
        ("shirt-M", 1),
    ]
    priced = cart.priced(UID)
    assert [
        (e.line.variant_id, e.variant.sku if e.variant else None, e.options, e.pricing.line_total)
        for e in priced.entries
        if e.pricing
    ] == [
        ("shirt-S", "SKU-shirt-S", {"Size": "S"}, 4500),
        ("shirt-M", "SKU-shirt-M", {"Size": "M"}, 1800),
    ]
    assert priced.total == 6300


def test_a_single_variant_products_line_is_keyed_by_its_own_id(
    cart: CartService, repo: InMemoryCart
) -> None:
    line, _ = cart.set_quantity(UID, "apple", 1)
    assert (line.product_id, line.variant_id) == ("apple", "apple")
    entry = cart.priced(UID).entries[0]
    assert entry.variant is not None and (entry.variant.sku, entry.options) == ("SKU-apple", {})


def test_the_id_of_a_product_with_several_variants_must_name_one(
    cart: CartService, repo: InMemoryCart, shirt: Product
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        cart.set_quantity(UID, "shirt", 1)
    assert [e.field for e in refused.value.errors] == ["variant_id"]
    assert repo.writes == 0


@pytest.mark.parametrize("case", ["unknown", "inactive variant", "inactive product"])
def test_put_of_an_unknown_or_inactive_variant_is_not_found(
    cart: CartService, repo: InMemoryCart, catalogue: InMemoryCatalogue, shirt: Product, case: str
) -> None:
    if case == "inactive variant":
        catalogue.change_variant("shirt", "shirt-M", active=False)
    elif case == "inactive product":
        deactivate(catalogue, "shirt")
    variant_id = "shirt-XL" if case == "unknown" else "shirt-M"
    with pytest.raises(NotFound, match=f"no active product or variant {variant_id}"):
        cart.set_quantity(UID, variant_id, 1)
    if case == "inactive product":
        with pytest.raises(NotFound):  # its own id too: a customer cannot see it
            cart.set_quantity(UID, "shirt", 1)
    assert repo.writes == 0


def test_a_deactivated_or_deleted_variant_is_flagged_the_other_still_priced(
    cart: CartService, catalogue: InMemoryCatalogue, shirt: Product
) -> None:
    for variant_id in ("shirt-S", "shirt-M", "shirt-L"):
        cart.set_quantity(UID, variant_id, 1)
    catalogue.change_variant("shirt", "shirt-S", active=False)
    catalogue.delete_variant("shirt", "shirt-L")
    priced = cart.priced(UID)
    assert [(e.line.variant_id, e.unavailable) for e in priced.entries] == [
        ("shirt-S", "inactive"),
        ("shirt-M", None),
        ("shirt-L", "missing"),
    ]
    assert priced.total == 1800
    gone = priced.entries[2]
    assert gone.product is not None and gone.variant is None and gone.options == {}


def test_unavailable_lines_are_keyed_by_variant(
    catalogue: InMemoryCatalogue, shirt: Product
) -> None:
    catalogue.change_variant("shirt", "shirt-S", active=False)
    catalogue.delete_variant("shirt", "shirt-L")

    def held(variant_id: str, minute: int, product_id: str = "shirt") -> CartLine:
        at = T0 + timedelta(minutes=minute)
        return CartLine(
            product_id=product_id, variant_id=variant_id, quantity=1, added_at=at, updated_at=at
        )

    lines = [held("shirt-S", 0), held("shirt-M", 1), held("shirt-L", 2), held("apple", 3, "apple")]
    assert unavailable_lines(lines, catalogue.products) == {
        "shirt-S": "inactive",
        "shirt-L": "missing",
    }


def test_a_line_stored_before_variants_reads_its_product_as_its_variant() -> None:
    stored = {"product_id": "apple", "quantity": 2, "added_at": T0, "updated_at": T0}
    assert CartLine.model_validate(stored).variant_id == "apple"
    assert WishlistEntry.model_validate({"product_id": "apple", "added_at": T0}).variant_id == (
        "apple"
    )
    named = CartLine.model_validate({**stored, "product_id": "shirt", "variant_id": "shirt-S"})
    assert (named.product_id, named.variant_id) == ("shirt", "shirt-S")


@given(
    held=st.lists(
        st.tuples(st.sampled_from(["S", "M", "L", "apple"]), st.integers(1, 5)),
        max_size=8,
        unique_by=lambda pair: pair[0],
    ),
    retired=st.sets(st.sampled_from(["S", "M", "L"])),
)
def test_priced_totals_are_the_sum_of_the_sellable_variants_lines(
    held: list[tuple[str, int]], retired: set[str]
) -> None:
    catalogue = InMemoryCatalogue()
    catalogue.add("apple", price=1000)
    catalogue.add_sized("shirt", price=1500, sizes={"S": None, "M": 1800, "L": 2100})
    for size in retired:
        catalogue.change_variant("shirt", f"shirt-{size}", active=False)
    pricing = PricingService(source=catalogue, products=catalogue, tiers=catalogue)
    repo = InMemoryCart()
    cart = CartService(cart=repo, products=catalogue, pricing=pricing, clock=Clock())
    for key, quantity in held:
        variant_id = key if key == "apple" else f"shirt-{key}"
        if key in retired:
            with pytest.raises(NotFound):
                cart.set_quantity(UID, variant_id, quantity)
        else:
            cart.set_quantity(UID, variant_id, quantity)
    unit = {"apple": 1000, "S": 1500, "M": 1800, "L": 2100}
    expected = sum(unit[key] * quantity for key, quantity in held if key not in retired)
    priced = cart.priced(UID)
    assert priced.total == expected
    assert len({e.line.variant_id for e in priced.entries}) == len(priced.entries)
    assert all(e.unavailable is None and e.pricing is not None for e in priced.entries)


def test_the_wishlist_keeps_variants_and_shows_their_sku_and_options(
    wishlist: WishlistService, catalogue: InMemoryCatalogue, shirt: Product
) -> None:
    entry, created = wishlist.add(UID, "shirt-M")
    assert created and (entry.product_id, entry.variant_id) == ("shirt", "shirt-M")
    wishlist.add(UID, "shirt-S")
    wishlist.add(UID, "apple")
    with pytest.raises(ValidationFailed) as refused:
        wishlist.add(UID, "shirt")
    assert [e.field for e in refused.value.errors] == ["variant_id"]
    catalogue.delete_variant("shirt", "shirt-S")
    items = wishlist.page(UID, limit=10, cursor=None).items
    assert [(i.product_id, i.variant_id, i.sku, i.options, i.unavailable) for i in items] == [
        ("apple", "apple", "SKU-apple", {}, False),
        ("shirt", "shirt-S", None, {}, True),
        ("shirt", "shirt-M", "SKU-shirt-M", {"Size": "M"}, False),
    ]
    wishlist.remove(UID, "shirt-M")
    assert [i.variant_id for i in wishlist.page(UID, limit=10, cursor=None).items] == [
        "apple",
        "shirt-S",
    ]


# --- wishlist ---------------------------------------------------------------------------------


@pytest.fixture
def wishes() -> InMemoryWishlist:
    return InMemoryWishlist()


@pytest.fixture
def wishlist(wishes: InMemoryWishlist, catalogue: InMemoryCatalogue) -> WishlistService:
    return WishlistService(wishlist=wishes, products=catalogue, clock=Clock(), max_items=3)


def test_wishlist_add_is_idempotent(wishlist: WishlistService, wishes: InMemoryWishlist) -> None:
    first, created = wishlist.add(UID, "apple")
    assert created
    again, created = wishlist.add(UID, "apple")
    assert not created and again == first
    assert wishes.writes == 1


@pytest.mark.parametrize("product_id", ["ghost", "retired"])
def test_wishlist_needs_an_active_product(wishlist: WishlistService, product_id: str) -> None:
    with pytest.raises(NotFound):
        wishlist.add(UID, product_id)


def test_wishlist_pages_newest_first_with_product_summaries(
    wishlist: WishlistService, catalogue: InMemoryCatalogue
) -> None:
    for product_id in ("apple", "pear", "bread"):
        wishlist.add(UID, product_id)
    deactivate(catalogue, "pear")
    del catalogue.products["apple"]
    first = wishlist.page(UID, limit=2, cursor=None)
    rest = wishlist.page(UID, limit=2, cursor=first.next_cursor)
    items = first.items + rest.items
    assert [(i.product_id, i.unavailable) for i in items] == [
        ("bread", False),
        ("pear", True),
        ("apple", True),
    ]
    assert rest.next_cursor is None
    assert items[0].product is not None and items[0].product.name == "Bread"
    assert items[1].product is not None and items[1].product.sku == "SKU-pear"
    assert items[2].product is None
    assert wishlist.page(OTHER, limit=20, cursor=None).items == []


def test_wishlist_bound_and_remove(wishlist: WishlistService, catalogue: InMemoryCatalogue) -> None:
    catalogue.add("fig", price=1)
    for product_id in ("apple", "pear", "bread"):
        wishlist.add(UID, product_id)
    with pytest.raises(Conflict):
        wishlist.add(UID, "fig")
    assert wishlist.add(UID, "pear")[1] is False  # already kept: no room needed
    wishlist.remove(UID, "pear")
    wishlist.remove(UID, "pear")
    assert wishlist.add(UID, "fig")[1] is True


def test_a_wishlist_entry_made_by_a_racing_put_is_returned(
    wishlist: WishlistService, wishes: InMemoryWishlist
) -> None:
    theirs = WishlistEntry(product_id="apple", added_at=T0)
    wishes.interleave(lambda: wishes.create(UID, theirs))
    assert wishlist.add(UID, "apple") == (theirs, False)


# --- tier standing ----------------------------------------------------------------------------


def stats(orders: int, spend: int, recent: int) -> CustomerStats:
    deliveries = [
        RecentDelivery(order_id=f"o{i}", delivered_at=T0 - timedelta(days=1), amount=1)
        for i in range(recent)
    ]
    return CustomerStats(orders_count=orders, lifetime_spend=spend, recent_deliveries=deliveries)


def progress(tier: str, customer: CustomerStats) -> list[tuple[str, int, int, int]]:
    standing = tier_standing(tiers=DEMO_TIERS, tier=tier, tier_locked=False, stats=customer, now=T0)
    return [(p.name, p.current, p.required, p.percent) for p in standing.progress]


def test_standing_measures_the_stats_against_the_next_tier() -> None:
    standing = tier_standing(
        tiers=DEMO_TIERS, tier="BRONZE", tier_locked=True, stats=stats(3, 4_000, 1), now=T0
    )
    assert standing.current is not None and standing.current.code == "BRONZE"
    assert standing.next is not None and standing.next.code == "SILVER"
    assert (standing.tier, standing.tier_locked) == ("BRONZE", True)
    assert progress("BRONZE", stats(3, 4_000, 1)) == [
        ("min_orders", 3, 5, 60),
        ("min_lifetime_spend", 4_000, 10_000, 40),
        ("min_orders_last_30_days", 1, 1, 100),
    ]
    assert progress("GOLD", stats(60, 10**6, 9))[0] == ("min_orders", 60, 50, 100)


def test_standing_at_the_top_has_no_next_tier() -> None:
    standing = tier_standing(
        tiers=DEMO_TIERS, tier="PLATINUM", tier_locked=False, stats=stats(0, 0, 0), now=T0
    )
    assert standing.current is not None and standing.next is None and standing.progress == []


def test_standing_of_a_deleted_tier_is_measured_from_the_default() -> None:
    standing = tier_standing(
        tiers=DEMO_TIERS, tier="IRON", tier_locked=False, stats=stats(0, 0, 0), now=T0
    )
    assert (standing.tier, standing.current) == ("IRON", None)
    assert standing.next is not None and standing.next.code == "SILVER"
    empty = tier_standing(tiers=[], tier="IRON", tier_locked=False, stats=stats(0, 0, 0), now=T0)
    assert (empty.current, empty.next, empty.progress) == (None, None, [])


def test_standing_service_reads_the_profile_made_on_first_call() -> None:
    profiles = InMemoryProfiles()
    accounts = AccountService(
        profiles=profiles, identity=FakeIdentity(), tiers=ladder({"BRONZE": True})
    )
    service = TierStandingService(
        accounts=accounts,
        tiers=TierService(repository=InMemoryTiers(DEMO_TIERS)),
        clock=lambda: T0,
    )
    first = service.standing(Identity(uid=UID, email="c@example.com"))
    assert first.tier == "BRONZE" and len(profiles) == 1
    assert first.next is not None and first.next.code == "SILVER"
    assert [p.current for p in first.progress] == [0, 0, 0]
    found = profiles.get(UID)
    earned = found.value.model_copy(update={"tier": "SILVER", "stats": stats(7, 20_000, 2)})
    profiles.update(earned, fields=frozenset({"tier", "stats"}), expected_version=found.version)
    now = service.standing(Identity(uid=UID, email="c@example.com"))
    assert now.next is not None and now.next.code == "GOLD"
    assert [(p.current, p.required) for p in now.progress] == [(7, 20), (20_000, 50_000), (2, 2)]
