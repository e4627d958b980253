"""Checkout's adapters against the Firestore emulator: shipping methods, tax rates and codes
kept by admins; code uses counted in the reservation's batch and returned once, raced from many
threads; the cart emptied in the commit that places the order, raced too."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from google.cloud import firestore

from celeste.accounts.profiles import Identity
from celeste.cart.lines import CartLine
from celeste.inventory.records import StockPut
from celeste.kernel.addresses import ShippingAddress
from celeste.kernel.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from celeste.orders.requests import CheckoutRequest
from celeste.orders.status import OrderStatus
from celeste.pricing.discount_codes import UNUSABLE, DiscountCode
from celeste.pricing.shipping import ShippingMethod
from celeste.pricing.tax import TaxRate
from celeste.services.fulfilment import OrderFulfilment
from celeste.services.order_pricing import OrderPricer
from celeste.services.placing import OrderService
from celeste.services.pricing import PricingService
from celeste.services.shipping import ShippingService
from celeste.services.tax import TaxRateService
from celeste_functions.adapters.accounts import FirestoreCustomers
from celeste_functions.adapters.cart import FirestoreCart
from celeste_functions.adapters.discount_codes import FirestoreDiscountCodes
from celeste_functions.adapters.inventory import FirestoreInventory
from celeste_functions.adapters.orders import FirestoreOrders
from celeste_functions.adapters.shipping import FirestoreShippingMethods
from celeste_functions.adapters.stores import FirestoreStoreDirectory
from celeste_functions.adapters.tax_rates import FirestoreTaxRates
from tests.fakes import InMemoryCatalogue, ladder
from tests.support.writers import uncached_writer

pytestmark = pytest.mark.integration

STORE = "store-co"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
ADDRESS = ShippingAddress(
    name="Ana", line1="Rua 1", city="Lisboa", postal_code="1000", country="PT"
)


class Shop:
    def __init__(self, db: firestore.Client) -> None:
        client = lambda: db  # noqa: E731
        self.db = db
        writer = uncached_writer(db)
        self.codes = FirestoreDiscountCodes(client=client)
        self.methods = FirestoreShippingMethods(client=client, writer=writer)
        self.rates = FirestoreTaxRates(client=client, writer=writer)
        self.cart = FirestoreCart(client=client)
        self.orders_store = FirestoreOrders(client=client)
        self.inventory = FirestoreInventory(client=client)
        catalogue = InMemoryCatalogue()
        catalogue.add("tea", price=2000)
        catalogue.add("mug", price=1000)
        self.catalogue = catalogue
        pricing = PricingService(source=catalogue, products=catalogue, tiers=catalogue)
        self.orders = OrderService(
            orders=self.orders_store,
            writer=writer,
            pricing=pricing,
            stores=FirestoreStoreDirectory(client=client),
            pricer=OrderPricer(
                pricing=pricing,
                tax_rates=TaxRateService(repository=self.rates),
                shipping=ShippingService(repository=self.methods),
                codes=self.codes,
            ),
            cart=self.cart,
            products=catalogue,
        )
        self.fulfilment = OrderFulfilment(
            orders=self.orders_store,
            inventory=self.inventory,
            writer=writer,
            codes=self.codes,
            customers=FirestoreCustomers(client=client),
            tiers=ladder({"BRONZE": True}),
        )
        from celeste.services.inventory import InventoryService

        InventoryService(
            inventory=self.inventory,
            writer=writer,
            stores=FirestoreStoreDirectory(client=client),
            products=catalogue,
        ).put(
            store_id=STORE,
            variant_id="tea",
            body=StockPut(on_hand=1000),
            actor="admin:it",
            expected_version=None,
        )

    def add_to_cart(
        self, uid: str, product_id: str, quantity: int, variant_id: str | None = None
    ) -> None:
        at = datetime.now(UTC)
        self.cart.create(
            uid,
            CartLine(
                product_id=product_id,
                variant_id=variant_id or product_id,
                quantity=quantity,
                added_at=at,
                updated_at=at,
            ),
        )

    def checkout(self, uid: str, key: str, **body: Any) -> Any:
        request = CheckoutRequest(
            store_id=STORE, shipping_address=ADDRESS, shipping_method="standard", **body
        )
        return self.orders.checkout(request, identity=Identity(uid, None), idempotency_key=key)

    def code(self, code: str = "FLASH") -> DiscountCode:
        return self.codes.get(code).value


@pytest.fixture
def shop(db: firestore.Client) -> Shop:
    db.collection("stores").document(STORE).set({"name": "Checkout", "active": True})
    shop = Shop(db)
    shop.methods.create(
        ShippingMethod(
            code="standard",
            name="Standard",
            price=500,
            currency="EUR",
            created_at=NOW,
            updated_at=NOW,
        )
    )
    shop.rates.put(
        TaxRate(country="PT", rate_bp=1000, inclusive=False, updated_at=NOW),
        expected_version=None,
    )
    return shop


def _code(**fields: Any) -> DiscountCode:
    return DiscountCode(
        code="FLASH", kind="percentage", value=10, created_at=NOW, updated_at=NOW, **fields
    )


def _run_all(targets: list[Any]) -> list[Any]:
    results: list[Any] = [None] * len(targets)

    def run(index: int) -> None:
        try:
            results[index] = targets[index]()
        except Exception as exc:  # the test inspects what each thread met
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(targets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


# --- admin adapters ------------------------------------------------------------------------


def test_shipping_methods_round_trip_with_versions(shop: Shop) -> None:
    found = shop.methods.get("standard")
    assert found.value.price == 500
    changed = found.value.model_copy(update={"price": 600})
    updated = shop.methods.replace(changed, expected_version=found.version)
    assert updated.value.price == 600
    with pytest.raises(PreconditionFailed):
        shop.methods.replace(changed, expected_version=found.version)
    with pytest.raises(Conflict):
        shop.methods.create(found.value)
    shop.methods.delete("standard", expected_version=updated.version)
    assert shop.methods.all() == []


def test_tax_rates_round_trip(shop: Shop) -> None:
    found = shop.rates.get("PT")
    assert found is not None and found.value.rate_bp == 1000
    assert shop.rates.get("ES") is None
    shop.rates.delete("PT", expected_version=found.version)
    assert shop.rates.get("PT") is None


def test_an_admin_replace_never_overwrites_times_used(shop: Shop) -> None:
    created = shop.codes.create(_code(usage_limit=5))
    shop.db.collection("discount_codes").document("FLASH").update({"times_used": 3})
    current = shop.codes.get("FLASH")
    edited = current.value.model_copy(update={"usage_limit": 10, "times_used": 0})
    shop.codes.replace(edited, expected_version=current.version)
    assert (shop.code().usage_limit, shop.code().times_used) == (10, 3)
    with pytest.raises(PreconditionFailed):
        shop.codes.replace(edited, expected_version=created.version)
    page = shop.codes.page(limit=10, cursor=None)
    assert [c.code for c in page.items] == ["FLASH"]


# --- code uses under concurrency -----------------------------------------------------------


def test_racing_reservations_count_exactly_the_usage_limit(shop: Shop) -> None:
    shop.codes.create(_code(usage_limit=5))
    placed = []
    for i in range(15):
        uid = f"racer{i}"
        shop.add_to_cart(uid, "tea", 1)
        placed.append(shop.checkout(uid, key=f"k{i}", discount_code="flash").order.value)
    outcomes = _run_all([lambda o=o: shop.fulfilment.reserve(o.id) for o in placed])
    assert sorted(outcomes) == ["confirmed"] * 5 + ["rejected"] * 10
    assert shop.code().times_used == 5
    orders = [shop.orders_store.get(o.id).value for o in placed]
    rejected = [o for o in orders if o.status is OrderStatus.REJECTED]
    assert {o.rejection_reason for o in rejected} == {"discount_code_exhausted"}
    assert all(o.stock_state == "none" for o in rejected)
    uses = list(shop.db.collection("discount_codes").document("FLASH").collection("uses").stream())
    assert len(uses) == 5
    assert shop.inventory.get(store_id=STORE, variant_id="tea").value.reserved == 5

    # One cancel gives one use back, however often its effect is delivered (raced, too).
    confirmed = next(o for o in orders if o.status is OrderStatus.CONFIRMED)
    shop.orders.cancel(confirmed.id, uid=confirmed.user_id, is_admin=False, expected_version=None)
    _run_all([lambda: shop.fulfilment.settle_stock(confirmed.id) for _ in range(4)])
    assert shop.code().times_used == 4
    assert shop.codes.customer_uses("FLASH", confirmed.user_id).value == 0  # type: ignore[union-attr]
    assert shop.orders_store.get(confirmed.id).value.code_state == "returned"
    rows = shop.db.collection("discount_codes").document("FLASH").collection("uses").stream()
    assert sorted(r.to_dict()["kind"] for r in rows).count("return") == 1


def test_the_per_customer_limit_holds_when_one_customers_orders_race(shop: Shop) -> None:
    shop.codes.create(_code(per_customer_limit=2))
    placed = []
    for i in range(6):
        shop.add_to_cart("greedy", "tea", 1)
        placed.append(shop.checkout("greedy", key=f"g{i}", discount_code="FLASH").order.value)
    outcomes = _run_all([lambda o=o: shop.fulfilment.reserve(o.id) for o in placed])
    assert outcomes.count("confirmed") == 2
    assert shop.codes.customer_uses("FLASH", "greedy").value == 2  # type: ignore[union-attr]
    assert shop.code().times_used == 2


# --- the cart emptied in the placing commit ------------------------------------------------


def test_racing_checkouts_of_one_cart_place_one_order_and_empty_it(shop: Shop) -> None:
    shop.add_to_cart("ana", "tea", 2)
    shop.add_to_cart("ana", "mug", 1)
    results = _run_all([lambda i=i: shop.checkout("ana", key=f"race{i}") for i in range(8)])
    placed = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(placed) == 1, results
    assert all(isinstance(r, Conflict) and "empty" in str(r) for r in refused), refused
    order = placed[0].order.value
    assert sorted((line.product_id, line.quantity) for line in order.lines) == [
        ("mug", 1),
        ("tea", 2),
    ]
    assert (order.subtotal, order.shipping_total, order.tax_total, order.total) == (
        5000,
        500,
        550,
        6050,
    )
    assert shop.cart.lines("ana", limit=10) == []
    query = shop.db.collection("orders").where(filter=firestore.FieldFilter("user_id", "==", "ana"))
    mine = list(query.stream())
    assert len(mine) == 1


def test_a_line_added_while_checking_out_is_ordered_or_kept_never_lost(shop: Shop) -> None:
    shop.add_to_cart("bea", "tea", 1)

    def add_mug() -> None:
        time.sleep(0.01)
        shop.add_to_cart("bea", "mug", 1)

    results = _run_all([lambda: shop.checkout("bea", key="one"), add_mug])
    order = results[0].order.value
    ordered = {line.product_id for line in order.lines}
    kept = {line.product_id for line in shop.cart.lines("bea", limit=10)}
    assert ordered | kept == {"tea", "mug"} and not ordered & kept


def test_checkout_of_two_variants_of_one_product_deletes_both_variant_documents(
    shop: Shop,
) -> None:
    shop.catalogue.add_sized("shirt", price=1500, sizes={"S": None, "M": 1800})
    shop.add_to_cart("dan", "shirt", 2, variant_id="shirt-S")
    shop.add_to_cart("dan", "shirt", 1, variant_id="shirt-M")
    cart = shop.db.collection("users").document("dan").collection("cart")
    assert sorted(s.id for s in cart.stream()) == ["shirt-M", "shirt-S"]
    order = shop.checkout("dan", key="variants").order.value
    assert [(x.variant_id, x.sku, x.quantity, x.line_subtotal) for x in order.lines] == [
        ("shirt-S", "SKU-shirt-S", 2, 3000),
        ("shirt-M", "SKU-shirt-M", 1, 1800),
    ]
    assert list(cart.stream()) == []


def test_an_unknown_code_writes_nothing(shop: Shop) -> None:
    shop.add_to_cart("cai", "tea", 1)
    with pytest.raises(ValidationFailed) as refused:
        shop.checkout("cai", key="x", discount_code="NOPE")
    assert refused.value.detail == UNUSABLE  # the answer of any code that does not apply
    assert len(shop.cart.lines("cai", limit=10)) == 1
    with pytest.raises(NotFound):
        shop.codes.get("NOPE")


# --- the cached read models, against a real redis-server ------------------------------------


def test_cached_tax_rates_and_methods_serve_from_redis_until_invalidated(
    shop: Shop, redis_server: Any
) -> None:
    import redis as redis_lib

    from celeste_functions.adapters.cache import Cache
    from celeste_functions.adapters.cached import CachedShippingMethods, CachedTaxRates
    from celeste_functions.cache_scopes import scopes_for

    client = redis_lib.Redis.from_url(
        redis_server.url, socket_timeout=0.05, socket_connect_timeout=0.05, retry=None
    )
    cache = Cache(client=lambda: client, ttl_s=60)
    rates = CachedTaxRates(inner=shop.rates, cache=cache)
    methods = CachedShippingMethods(inner=shop.methods, cache=cache)
    assert rates.rate("PT").rate_bp == 1000  # type: ignore[union-attr]
    assert rates.rate("ES") is None  # a country without a rate is cached too
    assert [m.code for m in methods.on_offer()] == ["standard"]

    # Written behind the cache's back: the cached copies stay until the scopes are retired.
    shop.db.collection("tax_rates").document("PT").update({"rate_bp": 2300})
    shop.db.collection("shipping_methods").document("standard").update({"active": False})
    assert rates.rate("PT").rate_bp == 1000  # type: ignore[union-attr]
    assert rates.get("PT").value.rate_bp == 2300  # type: ignore[union-attr]  (writes read live)
    assert cache.invalidate([*scopes_for("tax_rates"), *scopes_for("shipping_methods")])
    assert rates.rate("PT").rate_bp == 2300  # type: ignore[union-attr]
    assert methods.on_offer() == [] and [m.code for m in methods.all()] == ["standard"]
