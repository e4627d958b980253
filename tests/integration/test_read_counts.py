"""Firestore document reads per money-path operation, pinned: the real composition against the
emulator and a real redis-server (caches warm, as in a serving instance), each read counted at
the client's API. ``POST /checkout``, ``POST /orders``, ``POST /checkout/quote`` and a Stripe
webhook delivery each read every document they need once; a regression shows here."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from google.cloud import firestore

from celeste.accounts.profiles import Identity
from celeste.accounts.tiers import TierCreate
from celeste.cart.lines import CartLine
from celeste.catalog.categories import CategoryCreate
from celeste.catalog.products import ProductCreate
from celeste.inventory.records import StockPut
from celeste.kernel.addresses import ShippingAddress
from celeste.orders.requests import CheckoutRequest, OrderLineRequest, OrderRequest
from celeste.pricing.shipping import ShippingMethodCreate
from celeste.pricing.tax import TaxRateBody
from celeste_functions import composition
from celeste_functions.adapters.stripe_payments import StripePayments, sign_payload
from celeste_functions.clients import Lazy, make_redis
from celeste_functions.composition import Services, services
from tests.conftest import require_env
from tests.integration.test_payments_stripe import SECRET, pay
from tests.support.firestore_reads import ReadCounter
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.integration

STORE = "store-pt"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
ADDRESS = ShippingAddress(
    name="Ana", line1="Rua 1", city="Lisboa", postal_code="1000", country="PT"
)


@dataclasses.dataclass
class Shop:
    svc: Services
    reads: ReadCounter
    products: list[str]
    provider: StripePayments

    def customer(self, *, profile: bool = True) -> Identity:
        """A customer (with a profile unless told) and a cart of every product (not counted)."""
        identity = Identity(f"u-{uuid.uuid4().hex[:10]}", None)
        if profile:
            self.svc.accounts.me(identity)
        cart = self.svc.orders._cart
        assert cart is not None
        for pid in self.products:
            cart.create(
                identity.uid, CartLine(product_id=pid, quantity=1, added_at=NOW, updated_at=NOW)
            )
        return identity

    def checkout_request(self) -> CheckoutRequest:
        return CheckoutRequest(store_id=STORE, shipping_address=ADDRESS, shipping_method="standard")


@pytest.fixture
def shop(
    db: firestore.Client, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Shop]:
    env = require_env("STRIPE_API_BASE", "STRIPE_SECRET_KEY")
    provider = StripePayments(
        secret_key=env["STRIPE_SECRET_KEY"],
        publishable_key="pk_test_it",
        webhook_secret=SECRET,
        api_base=env["STRIPE_API_BASE"],
    )
    client = make_redis(redis_server.url, timeout_s=0.05)
    monkeypatch.setattr(composition, "firestore_client", Lazy(lambda: db))
    monkeypatch.setattr(composition, "redis_client", Lazy(lambda: client))
    monkeypatch.setattr(composition, "stripe_provider", Lazy(lambda: provider))
    svc = composition.build()
    db.collection("stores").document(STORE).set({"name": "Lisboa", "active": True})
    svc.tiers.create(TierCreate(code="BRONZE", name="Bronze", level=1, is_default=True))
    category = svc.categories.create(CategoryCreate(name="Tea", slug="tea")).value
    products = []
    for n in range(3):
        product = svc.products.create(
            ProductCreate(
                sku=f"TEA-{n}",
                name=f"Tea {n}",
                category_id=category.id,
                base_price=1000 + n,
                currency="EUR",
            )
        ).value
        svc.inventory.put(
            store_id=STORE,
            variant_id=product.id,
            body=StockPut(on_hand=100),
            actor="admin:it",
            expected_version=None,
        )
        products.append(product.id)
    svc.shipping.create(
        ShippingMethodCreate(code="standard", name="Standard", price=500, currency="EUR")
    )
    svc.tax_rates.put("PT", TaxRateBody(rate_bp=2300, inclusive=False), expected_version=None)
    svc.cache.invalidate(["products", "pricing", "tiers", "categories", "shipping", "tax_rates"])
    reads = ReadCounter().install(db, monkeypatch)
    made = Shop(svc, reads, products, provider)
    # One of each first: the caches every instance keeps warm (pricing snapshot, tier ladder,
    # shipping methods, tax rates) are filled, so what is counted below is the request's own.
    made.svc.orders.quote_checkout(made.checkout_request(), identity=made.customer())
    yield made
    services.reset()


def _each_once(reads: Counter[str]) -> None:
    twice = {path: n for path, n in reads.items() if n > 1}
    assert not twice, f"documents read more than once: {twice}"


def _by_collection(reads: Counter[str]) -> dict[str, int]:
    """Reads per collection (``users/{uid}/cart/{pid}`` counts under ``users/cart``)."""
    kinds: Counter[str] = Counter()
    for path, n in reads.items():
        kinds["/".join(path.split("/")[::2])] += n
    return dict(kinds)


#: The cache epochs every money read checks (one each), the pricing inputs come from Redis.
EPOCHS = 7
#: Before this was pinned, a 3-line checkout read each product and ``users/{uid}`` twice and
#: the new order back: 22 reads (23 for a guest's first, whose new profile was read back);
#: ``POST /orders`` 16; the quote 18; a webhook event 3, a late payment refunded in full 5.
CHECKOUT = {
    "cache_epochs": EPOCHS,
    "idempotency_keys": 1,
    "users/cart": 3,
    "products": 3,
    "users": 1,
    "stores": 1,
    "customer_holds": 1,
}


def _report(what: str, reads: Counter[str]) -> None:
    print(f"\n{what}: {sum(reads.values())} reads")
    for path, n in sorted(reads.items()):
        print(f"  {n} {path}")


def test_checkout_reads_each_document_once(shop: Shop) -> None:
    identity = shop.customer()
    with shop.reads.measure() as reads:
        placed = shop.svc.orders.checkout(
            shop.checkout_request(), identity=identity, idempotency_key=uuid.uuid4().hex
        )
    _report("POST /checkout", reads)
    _each_once(reads)
    assert _by_collection(reads) == CHECKOUT  # 17 reads
    # The order returned is what a later If-Match needs: the stored version.
    assert placed.order == shop.svc.orders.get(
        placed.order.value.id, uid=identity.uid, is_admin=False
    )


def test_a_first_checkout_reads_the_profile_it_makes_once(shop: Shop) -> None:
    identity = shop.customer(profile=False)  # a guest checking out before any GET /me
    with shop.reads.measure() as reads:
        placed = shop.svc.orders.checkout(
            shop.checkout_request(), identity=identity, idempotency_key=uuid.uuid4().hex
        )
    _report("POST /checkout, no profile yet", reads)
    _each_once(reads)
    # Found missing, then created: the profile made is not read back, nor its tier read again.
    assert reads[f"users/{identity.uid}"] == 1
    assert _by_collection(reads) == CHECKOUT
    assert placed.order == shop.svc.orders.get(
        placed.order.value.id, uid=identity.uid, is_admin=False
    )
    profile = shop.svc.accounts.me(identity)
    assert profile == shop.svc.accounts.get(identity.uid)


def test_place_reads_each_document_once(shop: Shop) -> None:
    identity = shop.customer()
    request = OrderRequest(
        store_id=STORE,
        shipping_address=ADDRESS,
        shipping_method="standard",
        lines=[OrderLineRequest(product_id=pid, quantity=1) for pid in shop.products],
    )
    with shop.reads.measure() as reads:
        placed = shop.svc.orders.place(request, identity=identity, idempotency_key=uuid.uuid4().hex)
    _report("POST /orders", reads)
    _each_once(reads)
    assert _by_collection(reads) == {  # 14 reads
        "cache_epochs": EPOCHS,
        "idempotency_keys": 1,
        "products": 3,
        "users": 1,
        "stores": 1,
        "customer_holds": 1,
    }
    assert placed.order == shop.svc.orders.get(
        placed.order.value.id, uid=identity.uid, is_admin=False
    )


def test_quote_reads_each_document_once(shop: Shop) -> None:
    identity = shop.customer()
    with shop.reads.measure() as reads:
        shop.svc.orders.quote_checkout(shop.checkout_request(), identity=identity)
    _report("POST /checkout/quote", reads)
    _each_once(reads)
    assert _by_collection(reads) == {  # 15 reads: the cart, its products, the tier, the store
        "cache_epochs": EPOCHS,
        "users/cart": 3,
        "products": 3,
        "users": 1,
        "stores": 1,
    }


def _deliver(
    shop: Shop, event: str, event_type: str, obj: dict[str, object]
) -> tuple[str, Counter[str]]:
    body = json.dumps({"id": event, "type": event_type, "data": {"object": obj}}).encode()
    signature = sign_payload(body, secret=SECRET, timestamp=int(time.time()))
    with shop.reads.measure() as reads:
        outcome = shop.svc.payment_events.handle_webhook(payload=body, signature=signature)
    _report(f"webhook {event_type} ({outcome})", reads)
    return outcome, reads


def test_a_webhook_event_reads_the_order_once(shop: Shop) -> None:
    identity = shop.customer()
    placed = shop.svc.orders.checkout(
        shop.checkout_request(), identity=identity, idempotency_key=uuid.uuid4().hex
    )
    order_id = placed.order.value.id
    assert shop.svc.fulfilment.reserve(order_id) == "confirmed"
    assert shop.svc.payments.settle(order_id) == "intent created"
    payment = shop.svc.orders.get(order_id, uid=identity.uid, is_admin=False).value.payment
    assert payment is not None
    pay(shop.provider, payment.intent_id)
    intent = {"object": "payment_intent", "id": payment.intent_id}

    event = f"evt_{uuid.uuid4().hex}"
    outcome, reads = _deliver(shop, event, "payment_intent.succeeded", intent)
    assert outcome == "paid"
    _each_once(reads)
    assert reads == Counter({f"orders/{order_id}": 1, f"payment_events/{event}": 1})

    shop.provider._stripe().v1.refunds.create({"payment_intent": payment.intent_id, "amount": 100})
    event = f"evt_{uuid.uuid4().hex}"
    outcome, reads = _deliver(
        shop,
        event,
        "charge.refunded",
        {"object": "charge", "id": "ch_x", "payment_intent": payment.intent_id},
    )
    assert outcome.startswith("refund made outside Celeste recorded")
    _each_once(reads)
    assert reads == Counter({f"orders/{order_id}": 1, f"payment_events/{event}": 1})


def test_a_payment_after_a_cancel_reads_the_order_once_to_refund_it(shop: Shop) -> None:
    identity = shop.customer()
    placed = shop.svc.orders.checkout(
        shop.checkout_request(), identity=identity, idempotency_key=uuid.uuid4().hex
    )
    order_id = placed.order.value.id
    assert shop.svc.fulfilment.reserve(order_id) == "confirmed"
    assert shop.svc.payments.settle(order_id) == "intent created"
    shop.svc.orders.cancel(order_id, uid=identity.uid, is_admin=False, expected_version=None)
    payment = shop.svc.orders.get(order_id, uid=identity.uid, is_admin=False).value.payment
    assert payment is not None
    pay(shop.provider, payment.intent_id)  # paid before the intent was cancelled
    event = f"evt_{uuid.uuid4().hex}"
    outcome, reads = _deliver(
        shop,
        event,
        "payment_intent.succeeded",
        {"object": "payment_intent", "id": payment.intent_id},
    )
    assert outcome.startswith("refunded in full: ")
    # Reserved, refunded at Stripe and recorded in two commits, on one read of the order.
    assert reads == Counter({f"orders/{order_id}": 1, f"payment_events/{event}": 1})
    stored = shop.svc.orders.get(order_id, uid=identity.uid, is_admin=False).value
    assert stored.payment is not None and stored.payment.amount_refunded == stored.total
