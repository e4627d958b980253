"""Public reads and quotes against a real redis-server and the Firestore emulator, served by the
real handlers in process: refused requests leave nothing behind in Redis, every cache key family
a client can vary is capped, and quotes are rate limited per address."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator

import pytest
import redis
from google.cloud import firestore

from celeste.accounts.tiers import TierCreate
from celeste.catalog.categories import CategoryCreate
from celeste.catalog.products import ProductCreate
from celeste.kernel.cursors import encode_cursor
from celeste.kernel.paging import encode_offset
from celeste.kernel.ratelimits import Limit, Policy
from celeste.services.ratelimits import RateLimiter
from celeste_functions import composition
from celeste_functions.adapters.cache import Bounded
from celeste_functions.adapters.ratelimit import RedisRateCounter
from celeste_functions.clients import Lazy, make_redis
from celeste_functions.composition import Services, services, use
from celeste_functions.config import rate_policies
from celeste_functions.http.router import Router
from celeste_functions.resources import common
from celeste_functions.resources import pricing as pricing_resource
from celeste_functions.resources import products as products_resource
from celeste_functions.resources import tiers as tiers_resource
from tests.support.handlers import body_of, call, use_test_tokens
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.integration

FLOOD, CALM = "203.0.113.5", "203.0.113.6"


@dataclasses.dataclass
class Stack:
    services: Services
    redis: redis.Redis
    product_id: str

    def get(self, router: Router, path: str, *, address: str = CALM) -> int:
        use(self.services)
        return call(router, "GET", path, headers={"X-Forwarded-For": address}).status_code

    def quote(self, *, address: str) -> int:
        use(self.services)
        body = {"lines": [{"product_id": self.product_id, "quantity": 1}]}
        headers = {"X-Forwarded-For": address}
        response = call(pricing_resource.router, "POST", "/quote", json_body=body, headers=headers)
        return response.status_code

    def keys(self, pattern: str) -> list[str]:
        return sorted(k.decode() for k in self.redis.scan_iter(pattern, count=1000))


@pytest.fixture
def stack(
    db: firestore.Client, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Stack]]:
    """The real composition on the emulator and ``redis_server``, with the rate limits given
    (by policy name, per address) over the real Redis counter."""
    use_test_tokens(monkeypatch)
    client = make_redis(redis_server.url, timeout_s=0.05)
    monkeypatch.setattr(composition, "firestore_client", Lazy(lambda: db))
    monkeypatch.setattr(composition, "redis_client", Lazy(lambda: client))

    def make(**per_ip: str) -> Stack:
        built = composition.build()
        policies = {name: Policy(per_user=None, per_ip=None) for name in rate_policies({})}
        for name, value in per_ip.items():
            policies[name.replace("_", "-")] = Policy(None, Limit.parse(value, setting=name))
        limiter = RateLimiter(counter=RedisRateCounter(cache=built.cache), policies=policies)
        svc = dataclasses.replace(built, limiter=limiter)
        category = svc.categories.create(CategoryCreate(name="Tea", slug="tea")).value
        product = svc.products.create(
            ProductCreate(
                sku="TEA-1",
                name="Green tea",
                category_id=category.id,
                base_price=1000,
                currency="EUR",
            )
        ).value
        svc.tiers.create(TierCreate(code="BRONZE", name="Bronze", level=1, is_default=True))
        svc.cache.invalidate(["products", "pricing", "tiers", "categories"])
        return Stack(svc, redis.Redis.from_url(redis_server.url), product.id)

    yield make
    services.reset()


def test_refused_requests_leave_no_lock_or_entry_behind(stack: Callable[..., Stack]) -> None:
    shop = stack(catalogue_scan="2/60")
    # A burst of uncached text searches from one address: two served, the rest refused.
    statuses = [
        shop.get(products_resource.router, f"/?q=word{n}", address=FLOOD) for n in range(12)
    ]
    assert statuses == [200, 200] + [429] * 10
    # Requests refused for other reasons: unknown products, forged cursors, unknown categories.
    for n in range(5):
        assert shop.get(products_resource.router, f"/nosuch{n}?quantity={n + 2}") == 404
        assert shop.get(products_resource.router, f"/?cursor=garbage{n}") == 400
        assert shop.get(products_resource.router, f"/?category_id=nosuch{n}") == 400
    assert shop.keys("celeste:*:lock:*") == []
    entries = shop.keys("celeste:products:entry:*")
    assert len(entries) == 2 and all("word0" in k or "word1" in k for k in entries), entries
    # The counter of the flooding address holds the two accepted searches, not the refusals.
    counters = shop.keys("celeste:rate:catalogue-scan:ip:*")
    assert sum(int(shop.redis.get(k) or 0) for k in counters) == 2


def test_every_public_family_a_client_can_vary_is_capped(
    stack: Callable[..., Stack], monkeypatch: pytest.MonkeyPatch
) -> None:
    cap = 5
    # Small caps, so a few dozen requests show the bound (the real ones are documented).
    monkeypatch.setattr(
        products_resource, "QUANTITIES", Bounded("quantities", cap, 60), raising=False
    )
    monkeypatch.setattr(common, "PAGES", Bounded("pages", cap, 60), raising=False)
    shop = stack()
    pid = shop.product_id
    for quantity in range(1, 31):
        assert shop.get(products_resource.router, f"/{pid}?quantity={quantity}") == 200
    assert len(shop.keys(f"celeste:products:entry:*:one:*:{pid}:*")) <= 1 + cap
    # Quantity 1 (what every product page shows) is always cached.
    assert shop.keys(f"celeste:products:entry:*:one:*:{pid}:1")
    for n in range(30):  # forged keyset cursors: any position is a valid page
        cursor = encode_cursor([f"zz{n:03d}", f"id{n:03d}"])
        assert shop.get(products_resource.router, f"/?cursor={cursor}") == 200
    listed = shop.keys("celeste:products:entry:*:list:*")
    assert len([k for k in listed if json.loads(k.split(":public:", 1)[1])["cursor"]]) <= cap
    for offset in range(30):  # tier offsets past the ladder: empty pages, each its own key
        assert shop.get(tiers_resource.router, f"/?cursor={encode_offset(offset + 1)}") == 200
    assert len(shop.keys("celeste:tiers:entry:*:list:*")) <= cap
    assert shop.get(tiers_resource.router, "/") == 200  # the first page: uncapped
    assert len(shop.keys("celeste:tiers:entry:*:list:*")) <= cap + 1
    assert shop.keys("celeste:*:lock:*") == []


def test_anonymous_quotes_are_rate_limited_per_address(stack: Callable[..., Stack]) -> None:
    shop = stack(quote="3/60")
    assert [shop.quote(address=FLOOD) for _ in range(5)] == [200, 200, 200, 429, 429]
    assert shop.quote(address=CALM) == 200
    use(shop.services)
    refused = call(
        pricing_resource.router,
        "POST",
        "/quote",
        json_body={"lines": [{"product_id": shop.product_id, "quantity": 1}]},
        headers={"X-Forwarded-For": FLOOD},
    )
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert body_of(refused)["type"].endswith("/rate-limited")
