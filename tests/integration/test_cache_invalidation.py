"""Every write the API makes to a catalogue collection retires the cache scopes it made stale
before it answers 2xx, with no handler asking for it.

Each write operation of the API (from the OpenAPI document, so a new route cannot slip by) is
either run here or named as writing nothing a cache reads. A run observes the Firestore commits
the request makes, whatever code made them, and checks that an entry cached in every scope those
documents feed (``cache_scopes.retired_by``) is a miss right after the 2xx, and that every other
scope still hits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from google.cloud import firestore
from google.cloud.firestore_v1.batch import WriteBatch

from celeste.accounts.tiers import DEMO_TIERS, TierCreate
from celeste.catalog.categories import CategoryCreate
from celeste.catalog.products import ProductCreate
from celeste.catalog.stores import StoreCreate
from celeste.pricing.price_lists import PriceListBody
from celeste.pricing.shipping import ShippingMethodCreate
from celeste.pricing.tax import TaxRateBody
from celeste_functions import composition
from celeste_functions.cache_scopes import ALL_SCOPES, retired_by
from celeste_functions.clients import Lazy, make_redis
from celeste_functions.composition import Services, services, use
from tests.support.handlers import AS_ADMIN, NO_BODY, call, use_test_tokens
from tests.support.redis_server import RedisServer
from tools import openapi

pytestmark = pytest.mark.integration

ADDRESS = {"line1": "Rua Augusta 1", "city": "Lisboa", "postal_code": "1100-048", "country": "PT"}
LISBON = {"lat": 38.7223, "lng": -9.1393}
TEN_OFF = {"scope": "all", "kind": "percentage", "value": 10}


@dataclass(frozen=True)
class Shop:
    """What the cases write over: one of each catalogue document."""

    tea: str  # a category holding ``product``
    empty: str  # a category nothing refers to
    product: str
    price_list: str
    store: str
    tee: str  # a product with a Size option (S, M, L) and variants S and M
    tee_m: str  # its variant M


#: A write operation (``METHOD /path`` as in the OpenAPI document) -> the request to send to
#: its function over a seeded shop: (path below the function, JSON body or None).
Case = Callable[[Shop], tuple[str, dict[str, Any] | None]]
CASES: dict[str, Case] = {
    "POST /categories": lambda s: ("/", {"name": "Herbs", "slug": "herbs", "parent_id": s.tea}),
    "PATCH /categories/{category_id}": lambda s: (f"/{s.tea}", {"name": "Teas"}),
    "DELETE /categories/{category_id}": lambda s: (f"/{s.empty}", None),
    "POST /products": lambda s: (
        "/",
        {"sku": "MUG-1", "name": "Mug", "category_id": s.tea, "base_price": 500, "currency": "EUR"},
    ),
    "PATCH /products/{product_id}": lambda s: (f"/{s.product}", {"base_price": 1111}),
    "DELETE /products/{product_id}": lambda s: (f"/{s.product}", None),
    "POST /products/{product_id}/variants": lambda s: (
        f"/{s.tee}/variants",
        {"sku": "TEE-L", "options": {"Size": "L"}},
    ),
    "PATCH /products/{product_id}/variants/{variant_id}": lambda s: (
        f"/{s.tee}/variants/{s.tee_m}",
        {"base_price": 1200},
    ),
    "DELETE /products/{product_id}/variants/{variant_id}": lambda s: (
        f"/{s.tee}/variants/{s.tee_m}",
        None,
    ),
    "POST /pricing/price-lists": lambda s: (
        "/price-lists",
        {
            "name": "Sale",
            "priority": 2,
            "rules": [{"scope": "all", "kind": "percentage", "value": 10}],
        },
    ),
    "PATCH /pricing/price-lists/{price_list_id}": lambda s: (
        f"/price-lists/{s.price_list}",
        {"active": False},
    ),
    "DELETE /pricing/price-lists/{price_list_id}": lambda s: (f"/price-lists/{s.price_list}", None),
    "PUT /pricing/tax-rates/{country}": lambda s: ("/tax-rates/PT", {"rate_bp": 2300}),
    "DELETE /pricing/tax-rates/{country}": lambda s: ("/tax-rates/PT", None),
    "POST /shipping/methods": lambda s: (
        "/methods",
        {"code": "express", "name": "Express", "price": 900, "currency": "EUR"},
    ),
    "PATCH /shipping/methods/{code}": lambda s: ("/methods/standard", {"price": 600}),
    "DELETE /shipping/methods/{code}": lambda s: ("/methods/standard", None),
    "POST /stores": lambda s: ("/", {"name": "Porto", "address": ADDRESS, "location": LISBON}),
    "PATCH /stores/{store_id}": lambda s: (f"/{s.store}", {"name": "Baixa"}),
    "DELETE /stores/{store_id}": lambda s: (f"/{s.store}", None),
    "POST /tiers": lambda s: ("/", DEMO_TIERS[2].model_dump(mode="json", exclude={"is_default"})),
    "PATCH /tiers/{code}": lambda s: ("/SILVER", {"name": "Silver+"}),
    "DELETE /tiers/{code}": lambda s: ("/SILVER", None),
}

#: Write operations whose documents no cache reads: users and their carts and wishlists,
#: orders, stock (a store's subcollection), payments, discount codes (never cached), quotes
#: (which write nothing), webhook endpoints and their deliveries. Their commits go through the
#: same writer all the same (webhook documents: their owner's own batches).
WRITES_NOTHING_CACHED = frozenset(
    {
        "POST /auth/register",
        "POST /auth/register/linked",
        "POST /checkout",
        "POST /checkout/quote",
        "PUT /inventory/{store_id}/{variant_id}",
        "POST /inventory/{store_id}/{variant_id}/adjustments",
        "PATCH /me",
        "DELETE /me/cart",
        "DELETE /me/cart/items/{variant_id}",
        "PUT /me/cart/items/{variant_id}",
        "POST /me/cart/merge",
        "DELETE /me/wishlist/{variant_id}",
        "PUT /me/wishlist/{variant_id}",
        "POST /me/notifications/read-all",
        "POST /me/notifications/{notification_id}/read",
        "PUT /me/devices/{token}",
        "DELETE /me/devices/{token}",
        "POST /orders",
        "POST /orders/{order_id}/cancel",
        "POST /orders/{order_id}/refund",
        "POST /orders/{order_id}/status",
        "POST /payments/stripe/webhook",
        "POST /pricing/codes",
        "DELETE /pricing/codes/{code}",
        "PATCH /pricing/codes/{code}",
        "POST /pricing/quote",
        "PATCH /users/{uid}",
        "POST /webhooks",
        "PATCH /webhooks/{webhook_id}",
        "DELETE /webhooks/{webhook_id}",
        "POST /webhooks/{webhook_id}/rotate-secret",
        "POST /webhooks/{webhook_id}/deliveries/{event_id}/retry",
        "POST /webhooks/{webhook_id}/test",
    }
)


def test_every_write_operation_of_the_api_is_run_here_or_writes_nothing_cached() -> None:
    writes = {
        f"{method.upper()} {path}"
        for path, operations in openapi.build()["paths"].items()
        for method in operations
        if method in ("post", "put", "patch", "delete")
    }
    assert not CASES.keys() & WRITES_NOTHING_CACHED
    assert writes - CASES.keys() - WRITES_NOTHING_CACHED == set(), (
        "a new write operation: add a case to CASES (or, if no cache reads what it writes, "
        "name it in WRITES_NOTHING_CACHED)"
    )
    assert CASES.keys() | WRITES_NOTHING_CACHED <= writes, "a case for an operation that is gone"


@pytest.fixture
def svc(
    db: firestore.Client, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Services]:
    """The composition the functions run, on the emulator and a real redis-server."""
    use_test_tokens(monkeypatch)
    client = make_redis(redis_server.url, timeout_s=0.05)
    monkeypatch.setattr(composition, "firestore_client", Lazy(lambda: db))
    monkeypatch.setattr(composition, "redis_client", Lazy(lambda: client))
    built = composition.build()
    use(built)
    yield built
    services.reset()


@pytest.fixture
def committed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The path of every document a Firestore batch committed from now on, whoever built it
    (a single document's ``create``/``set``/``update``/``delete`` is a batch of one too)."""
    paths: list[str] = []
    real = WriteBatch.commit

    def commit(self: WriteBatch, *args: Any, **kwargs: Any) -> Any:
        names = [w.delete or w.update.name for w in self._write_pbs]
        result = real(self, *args, **kwargs)
        paths.extend(name.split("/documents/", 1)[1] for name in names)
        return result

    monkeypatch.setattr(WriteBatch, "commit", commit)
    return paths


def _seed(svc: Services) -> Shop:
    tea = svc.categories.create(CategoryCreate(name="Tea", slug="tea")).value.id
    empty = svc.categories.create(CategoryCreate(name="Empty", slug="empty")).value.id
    product = svc.products.create(
        ProductCreate(sku="TEA-1", name="Tea", category_id=tea, base_price=1000, currency="EUR")
    ).value.id
    rule = {"scope": "all", "kind": "percentage", "value": 50}
    body = {"name": "Half off", "priority": 1, "rules": [rule]}
    price_list = svc.price_lists.create(PriceListBody.model_validate(body)).value.id
    for tier in DEMO_TIERS[:2]:
        svc.tiers.create(TierCreate.model_validate(tier.model_dump()))
    store = svc.stores.create(
        StoreCreate.model_validate({"name": "Chiado", "address": ADDRESS, "location": LISBON})
    ).value.id
    method = {"code": "standard", "name": "Standard", "price": 500, "currency": "EUR"}
    svc.shipping.create(ShippingMethodCreate.model_validate(method))
    svc.tax_rates.put("PT", TaxRateBody(rate_bp=2300), expected_version=None)
    tee = svc.products.create(
        ProductCreate.model_validate(
            {
                "sku": "TEE",
                "name": "Tee",
                "category_id": tea,
                "base_price": 1000,
                "currency": "EUR",
                "options": [{"name": "Size", "values": ["S", "M", "L"]}],
                "variants": [
                    {"sku": "TEE-S", "options": {"Size": "S"}},
                    {"sku": "TEE-M", "options": {"Size": "M"}},
                ],
            }
        )
    ).value
    return Shop(
        tea=tea,
        empty=empty,
        product=product,
        price_list=price_list,
        store=store,
        tee=tee.id,
        tee_m=tee.variants[1].id,
    )


def _probe(svc: Services, scope: str) -> bool:
    """Whether the probe entry of ``scope`` is served from the cache (stored on a miss)."""
    return svc.cache.get_or_compute(scope=scope, key="probe", compute=lambda: scope).hit


@pytest.mark.parametrize("operation", sorted(CASES))
def test_an_admin_write_retires_the_scopes_of_what_it_committed_before_its_2xx(
    svc: Services, committed: list[str], operation: str
) -> None:
    shop = _seed(svc)
    for scope in ALL_SCOPES:
        _probe(svc, scope)
        assert _probe(svc, scope), f"{scope}: the probe is cached"
    method, path = operation.split(" ", 1)
    function = path.split("/")[1]
    local, body = CASES[operation](shop)
    router = dict(openapi.http_functions())[function]
    committed.clear()

    sent = NO_BODY if body is None else body
    response = call(router, method, local, json_body=sent, headers=AS_ADMIN)

    assert response.status_code in (200, 201, 204), response.get_data(as_text=True)
    stale = set(retired_by(committed))
    assert stale, f"{operation} committed {committed}: no document a cache reads"
    served = {scope for scope in ALL_SCOPES if _probe(svc, scope)}
    assert served == set(ALL_SCOPES) - stale, f"{operation} committed {committed}"
