"""The stores repository (and the near search over it) against the Firestore emulator."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import redis
from google.cloud import firestore

from celeste.catalog.stores import GeoPoint, Store, StoreCreate, StorePatch
from celeste.kernel.addresses import Address
from celeste.kernel.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from celeste.ports.catalog import StoreReferences
from celeste.services.stores import StoreService
from celeste_functions.adapters.cache import Cache
from celeste_functions.adapters.cached import CachedStores
from celeste_functions.adapters.inventory import FirestoreInventory
from celeste_functions.adapters.orders import FirestoreOrders
from celeste_functions.adapters.stores import FirestoreStores
from tests.support.redis_server import RedisServer
from tests.support.writers import uncached_writer

pytestmark = pytest.mark.integration

ADDRESS = Address(line1="Rua Augusta 1", city="Lisboa", postal_code="1100-048", country="PT")
LISBON = GeoPoint(lat=38.7223, lng=-9.1393)


@pytest.fixture
def repo(db: firestore.Client) -> FirestoreStores:
    return FirestoreStores(client=lambda: db, writer=uncached_writer(db))


def _store(sid: str, name: str, lat: float, lng: float, **kw: object) -> Store:
    now = datetime.now(UTC)
    return Store(
        id=sid,
        name=name,
        address=ADDRESS,
        location=GeoPoint(lat=lat, lng=lng),
        created_at=now,
        updated_at=now,
        **kw,
    )


def test_create_get_roundtrip_keeps_every_field(repo: FirestoreStores) -> None:
    full = Address(
        line1="Av. da Liberdade 1",
        line2="3º",
        city="Lisboa",
        region="Lisboa",
        postal_code="1250-096",
        country="PT",
    )
    made = _store("s1", "Liberdade", 38.72, -9.145, phone="+351 21 000 0000").model_copy(
        update={"address": full}
    )
    created = repo.create(made)
    got = repo.get("s1")
    assert got.value == created.value
    assert got.value.address == full and got.value.location == GeoPoint(lat=38.72, lng=-9.145)
    assert got.value.phone == "+351 21 000 0000"
    assert got.version == created.version and got.version.isdigit()


def test_replace_and_delete_check_the_version(repo: FirestoreStores) -> None:
    created = repo.create(_store("s1", "A", 0, 0))
    second = repo.replace(created.value.model_copy(update={"name": "B"}), expected_version=None)
    assert second.version != created.version and second.value.name == "B"
    with pytest.raises(PreconditionFailed):
        repo.replace(created.value, expected_version=created.version)
    with pytest.raises(PreconditionFailed):
        repo.delete("s1", expected_version=created.version)
    repo.delete("s1", expected_version=second.version)
    with pytest.raises(NotFound):
        repo.get("s1")
    with pytest.raises(PreconditionFailed):  # a vanished store is a failed precondition
        repo.replace(created.value, expected_version=None)
    with pytest.raises(PreconditionFailed):
        repo.delete("s1", expected_version=None)


def test_replace_clears_optional_fields(repo: FirestoreStores) -> None:
    repo.create(_store("s1", "A", 0, 0, phone="+351 1"))
    cleared = repo.replace(_store("s1", "A", 0, 0), expected_version=None)
    assert cleared.value.phone is None
    assert repo.get("s1").value.phone is None


@pytest.mark.parametrize("active_only", [False, True])
def test_pagination_by_name_walks_every_store_once(
    repo: FirestoreStores, active_only: bool
) -> None:
    names = ["delta", "alpha", "charlie", "alpha", "bravo", "echo", "alpha"]
    for i, name in enumerate(names):
        repo.create(_store(f"s{i}", name, 0, 0, active=i % 3 != 1))
    seen: list[tuple[str, str]] = []
    cursor = None
    while True:
        page = repo.list(active_only=active_only, limit=2, cursor=cursor)
        seen += [(s.name, s.id) for s in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    expected = sorted(
        (name, f"s{i}") for i, name in enumerate(names) if not active_only or i % 3 != 1
    )
    assert seen == expected


def test_every_and_count(repo: FirestoreStores) -> None:
    for i in range(5):
        repo.create(_store(f"s{i}", f"n{i}", 0, 0, active=i != 2))
    assert repo.count() == 5
    assert {s.id for s in repo.every(active_only=True, limit=100)} == {"s0", "s1", "s3", "s4"}
    assert len(repo.every(active_only=False, limit=3)) == 3


def _references(db: firestore.Client) -> StoreReferences:
    from celeste_functions.composition import _StoreReferences

    return _StoreReferences(
        inventory=FirestoreInventory(client=lambda: db), orders=FirestoreOrders(client=lambda: db)
    )


@pytest.mark.parametrize("status", ["pending", "confirmed", "processing", "shipped"])
def test_references_see_levels_and_open_orders_only(db: firestore.Client, status: str) -> None:
    refs = _references(db)
    assert not refs.holds_stock("s1") and not refs.has_open_orders("s1")
    db.collection("stores").document("s2").collection("inventory").document("p1").set(
        {"on_hand": 0, "reserved": 0}
    )
    for n, closed in enumerate(["delivered", "cancelled", "rejected", "expired", "refunded"]):
        db.collection("orders").document(f"o{n}").set({"store_id": "s1", "status": closed})
    db.collection("orders").document("open").set({"store_id": "s2", "status": status})
    assert not refs.holds_stock("s1") and not refs.has_open_orders("s1")
    assert refs.holds_stock("s2") and refs.has_open_orders("s2")


def test_delete_refuses_a_store_with_stock_or_open_orders(
    repo: FirestoreStores, db: firestore.Client
) -> None:
    service = StoreService(repository=repo, references=_references(db))
    repo.create(_store("s1", "Baixa", 38.71, -9.13))
    level = db.collection("stores").document("s1").collection("inventory").document("p1")
    level.set({"on_hand": 3, "reserved": 0})
    with pytest.raises(Conflict):
        service.delete("s1", expected_version=None)
    level.delete()
    order = db.collection("orders").document("o1")
    order.set({"store_id": "s1", "status": "pending"})
    with pytest.raises(Conflict):
        service.delete("s1", expected_version=None)
    order.update({"status": "delivered"})
    service.delete("s1", expected_version=None)
    with pytest.raises(NotFound):
        repo.get("s1")


def test_foreign_cursor_is_400(repo: FirestoreStores) -> None:
    with pytest.raises(ValidationFailed):
        repo.list(active_only=True, limit=2, cursor="garbage")


class CountingStores(FirestoreStores):
    """The Firestore adapter, counting the reads of the whole set."""

    everies = 0

    def every(self, *, active_only: bool, limit: int) -> list[Store]:
        CountingStores.everies += 1
        return list(super().every(active_only=active_only, limit=limit))


def test_near_search_reads_the_store_set_through_redis(
    db: firestore.Client, redis_server: RedisServer
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    cache = Cache(client=lambda: client, ttl_s=60)
    inner = CountingStores(client=lambda: db, writer=uncached_writer(db))
    service = StoreService(
        repository=CachedStores(inner=inner, cache=cache), references=_references(db)
    )
    places = {
        "Baixa": (38.7104, -9.1366),
        "Porto": (41.1496, -8.6057),
        "Madrid": (40.4168, -3.7038),
    }
    for name, (lat, lng) in places.items():
        location = GeoPoint(lat=lat, lng=lng)
        service.create(StoreCreate(name=name, address=ADDRESS, location=location))
    first = service.near(
        origin=LISBON, radius_km=600, include_inactive=False, limit=20, cursor=None
    )
    assert [s.name for s in first.items] == ["Baixa", "Porto", "Madrid"]
    assert first.items[0].distance_km == 1.344
    reads = CountingStores.everies
    again = service.near(
        origin=LISBON, radius_km=300, include_inactive=False, limit=20, cursor=None
    )
    assert CountingStores.everies == reads  # the set came from Redis
    assert [s.name for s in again.items] == ["Baixa", "Porto"]
    porto = again.items[1]
    service.update(porto.id, StorePatch(active=False), expected_version=None)
    cache.invalidate(["stores"])
    after = service.near(
        origin=LISBON, radius_km=300, include_inactive=False, limit=20, cursor=None
    )
    assert CountingStores.everies == reads + 1
    assert [s.name for s in after.items] == ["Baixa"]
