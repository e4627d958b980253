"""Fault injection: an edit made while Redis is frozen or killed is never served stale after the
freshness window, and money (quotes) never prices from an entry older than an edit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from google.cloud import firestore

from celeste.catalog.categories import CategoryCreate
from celeste.catalog.products import ProductCreate
from celeste.pricing.price_lists import PriceListBody
from celeste_functions import composition
from celeste_functions.clients import Lazy, make_redis
from celeste_functions.composition import Services, services, use
from celeste_functions.config import settings
from celeste_functions.resources import pricing as pricing_resource
from celeste_functions.resources import products as products_resource
from celeste_functions.triggers.catalog import on_catalog_written
from tests.support.handlers import AS_ADMIN, body_of, call, use_test_tokens
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.integration
WINDOW = settings().cache_freshness_s


class Clock:
    """A monotonic clock a test moves by hand (one per simulated instance)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Instance:
    """One simulated function instance: its own services, Redis connection and clock."""

    services: Services
    clock: Clock

    def get(self, path: str) -> tuple[int, str]:
        """``GET /products{path}``: the final price of the item and ``X-Cache``."""
        use(self.services)
        response = call(products_resource.router, "GET", path)
        assert response.status_code == 200, response.get_data(as_text=True)
        return body_of(response)["pricing"]["final_price"], response.headers["X-Cache"]

    def quote(self, product_id: str) -> int:
        """``POST /pricing/quote`` for one unit, anonymously: the line's unit price."""
        use(self.services)
        response = call(
            pricing_resource.router,
            "POST",
            "/quote",
            json_body={"lines": [{"product_id": product_id, "quantity": 1}]},
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        return int(body_of(response)["lines"][0]["unit_final_price"])

    def admin(self, router: Any, method: str, path: str, body: dict[str, Any]) -> int:
        use(self.services)
        return call(router, method, path, json_body=body, headers=AS_ADMIN).status_code


Factory = Callable[[], Instance]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server that keeps ``dump.rdb`` (so a restart can bring old entries back)."""
    server = RedisServer(persist_dir=tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def instances(
    db: firestore.Client, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Factory]:
    use_test_tokens(monkeypatch)

    def make() -> Instance:
        client = make_redis(redis_server.url, timeout_s=0.05)
        monkeypatch.setattr(composition, "firestore_client", Lazy(lambda: db))
        monkeypatch.setattr(composition, "redis_client", Lazy(lambda: client))
        clock = Clock()
        return Instance(composition.build(clock=clock), clock)

    yield make
    services.reset()


def _seed(instance: Instance, *, sale: bool = False) -> tuple[str, str | None]:
    svc = instance.services
    category = svc.categories.create(CategoryCreate(name="Tea", slug="tea")).value
    product = svc.products.create(
        ProductCreate(
            sku="TEA-1", name="Tea", category_id=category.id, base_price=1000, currency="EUR"
        )
    ).value
    sale_id = None
    if sale:
        rule = {"scope": "all", "kind": "percentage", "value": 50}
        body = {"name": "Half off", "priority": 1, "rules": [rule]}
        sale_id = svc.price_lists.create(PriceListBody.model_validate(body)).value.id
    svc.cache.invalidate(["products", "pricing"])
    return product.id, sale_id


def _edit_price(writer: Instance, db: firestore.Client, product_id: str, via: str) -> None:
    if via == "api":
        status = writer.admin(
            products_resource.router, "PATCH", f"/{product_id}", {"base_price": 1111}
        )
        assert status == 200
    else:  # the console: a direct Firestore write, then its trigger
        db.collection("products").document(product_id).update({"base_price": 1111})
        use(writer.services)
        on_catalog_written(SimpleNamespace(id="evt-console", document=f"products/{product_id}"))


def _fault(redis_server: RedisServer, fault: str) -> Callable[[], None]:
    """Start ``fault`` on Redis; the returned function ends it."""
    if fault == "frozen":
        redis_server.freeze()
        return redis_server.thaw
    redis_server.save()  # a crash after this snapshot: the restart loads the old entries back
    redis_server.stop()
    return lambda: redis_server.start() and None


@pytest.mark.parametrize("via", ["api", "console"])
@pytest.mark.parametrize("fault", ["frozen", "killed"])
def test_edit_during_a_redis_fault_is_served_within_the_window(
    instances: Factory, db: firestore.Client, redis_server: RedisServer, fault: str, via: str
) -> None:
    writer, reader = instances(), instances()
    product_id, _ = _seed(writer)
    assert reader.get(f"/{product_id}") == (1000, "miss")
    assert reader.get(f"/{product_id}") == (1000, "hit")

    end_fault = _fault(redis_server, fault)
    _edit_price(writer, db, product_id, via)
    end_fault()

    # The writer's own instance sees its edit at once.
    assert writer.get(f"/{product_id}")[0] == 1111
    # Another instance may serve its old copy only until its epochs are a window old.
    reader.clock.advance(WINDOW)
    assert reader.get(f"/{product_id}") == (1111, "miss")
    assert reader.get(f"/{product_id}") == (1111, "hit")
    assert reader.get(f"/{product_id}?quantity=1")[0] == 1111


@pytest.mark.parametrize("fault", ["frozen", "killed"])
def test_quotes_never_price_from_an_entry_older_than_an_edit(
    instances: Factory, redis_server: RedisServer, fault: str
) -> None:
    writer, shopper = instances(), instances()
    product_id, sale_id = _seed(writer, sale=True)
    assert shopper.quote(product_id) == 500
    assert shopper.quote(product_id) == 500  # from the cached snapshot
    shopper.get(f"/{product_id}")  # the browsing epochs are fresh too: no window passes below

    end_fault = _fault(redis_server, fault)
    status = writer.admin(
        pricing_resource.router, "PATCH", f"/price-lists/{sale_id}", {"active": False}
    )
    assert status == 200
    end_fault()

    # No clock moves: a quote (and so an order or a cart) reads the epochs it prices under now.
    assert shopper.quote(product_id) == 1000


def test_a_trigger_that_missed_redis_still_retires_and_redelivery_is_not_skipped(
    instances: Factory, db: firestore.Client, redis_server: RedisServer
) -> None:
    writer, reader = instances(), instances()
    product_id, _ = _seed(writer)
    reader.get(f"/{product_id}")
    event = SimpleNamespace(id="evt-1", document=f"products/{product_id}")
    db.collection("products").document(product_id).update({"base_price": 1111})

    redis_server.freeze()
    use(writer.services)
    on_catalog_written(event)  # Redis missed it; the durable epoch did not
    redis_server.thaw()

    on_catalog_written(event)  # redelivered: not skipped as "already done"
    assert reader.get(f"/{product_id}") == (1111, "miss")  # the Redis version moved: at once


def test_without_redis_the_snapshot_is_reused_until_an_edit(
    db: firestore.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_test_tokens(monkeypatch)
    monkeypatch.setattr(composition, "firestore_client", Lazy(lambda: db))
    monkeypatch.setattr(composition, "redis_client", Lazy(lambda: None))
    writer, reader = (Instance(composition.build(clock=c), c) for c in (Clock(), Clock()))
    try:
        product_id, sale_id = _seed(writer, sale=True)
        assert reader.get(f"/{product_id}") == (500, "miss")
        assert reader.services.pricing.snapshot() is reader.services.pricing.snapshot()
        status = writer.admin(
            pricing_resource.router, "PATCH", f"/price-lists/{sale_id}", {"active": False}
        )
        assert status == 200
        assert reader.quote(product_id) == 1000  # money: at once
        reader.clock.advance(WINDOW)
        assert reader.get(f"/{product_id}") == (1000, "miss")  # browsing: within the window
    finally:
        services.reset()
