"""Unit tests of the store service over in-memory fakes: visibility, near search, If-Match."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from celeste.catalog.stores import GeoPoint, Store, StoreCreate, StorePatch
from celeste.kernel.errors import (
    Conflict,
    Contention,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
)
from celeste.kernel.versions import Versioned
from celeste.services import stores as store_service
from celeste.services.stores import StoreService
from tests.fakes import InMemoryStoreReferences, InMemoryStores

T0 = datetime(2025, 6, 1, 12, tzinfo=UTC)
LISBON = GeoPoint(lat=38.7223, lng=-9.1393)
PLACES = {  # name -> (lat, lng)
    "Lisboa Baixa": (38.7104, -9.1366),
    "Lisboa Alvalade": (38.7530, -9.1440),
    "Porto Bolhão": (41.1496, -8.6057),
    "Madrid Sol": (40.4168, -3.7038),
    "Lisboa Rossio": (38.7139, -9.1394),
}


FOUR = ["Lisboa Baixa", "Lisboa Alvalade", "Porto Bolhão", "Madrid Sol"]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def repo() -> InMemoryStores:
    return InMemoryStores()


@pytest.fixture
def service(repo: InMemoryStores) -> StoreService:
    return StoreService(repository=repo, references=InMemoryStoreReferences(), clock=Clock())


def create(service: StoreService, name: str, **fields: Any) -> Versioned[Store]:
    lat, lng = PLACES.get(name, (0.0, 0.0))
    body = {
        "name": name,
        "address": {"line1": "Rua 1", "city": "X", "postal_code": "1000", "country": "PT"},
        "location": {"lat": lat, "lng": lng},
        **fields,
    }
    return service.create(StoreCreate.model_validate(body))


def near(service: StoreService, **kw: Any) -> list[tuple[str, float]]:
    args: dict[str, Any] = {
        "origin": LISBON,
        "radius_km": 50.0,
        "include_inactive": False,
        "limit": 20,
        "cursor": None,
    }
    args.update(kw)
    page = service.near(**args)
    return [(s.name, s.distance_km) for s in page.items]


# --- CRUD and visibility ---------------------------------------------------------------------


def test_create_stamps_id_and_times(service: StoreService) -> None:
    made = create(service, "Lisboa Baixa", phone="+351 210 000 000")
    assert made.value.id and made.value.created_at == made.value.updated_at
    assert made.value.phone == "+351 210 000 000" and made.value.active
    assert service.get(made.value.id, include_inactive=False) == made


def test_inactive_stores_exist_only_for_admins(service: StoreService) -> None:
    hidden = create(service, "Lisboa Baixa", active=False).value
    create(service, "Lisboa Alvalade")
    with pytest.raises(NotFound):
        service.get(hidden.id, include_inactive=False)
    assert service.get(hidden.id, include_inactive=True).value.id == hidden.id
    public = service.list(include_inactive=False, limit=10, cursor=None).items
    admin = service.list(include_inactive=True, limit=10, cursor=None).items
    assert [s.name for s in public] == ["Lisboa Alvalade"]
    assert [s.name for s in admin] == ["Lisboa Alvalade", "Lisboa Baixa"]
    assert [n for n, _ in near(service)] == ["Lisboa Alvalade"]
    assert [n for n, _ in near(service, include_inactive=True)] == [
        "Lisboa Baixa",
        "Lisboa Alvalade",
    ]


def test_list_pages_by_name_then_id(service: StoreService) -> None:
    for name in ["b", "a", "c", "a", "d"]:
        create(service, name)
    seen: list[str] = []
    cursor = None
    while True:
        page = service.list(include_inactive=False, limit=2, cursor=cursor)
        seen += [s.name for s in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ["a", "a", "b", "c", "d"]


def test_update_changes_only_what_was_sent(service: StoreService) -> None:
    made = create(service, "Lisboa Baixa", phone="+351 1")
    patch = StorePatch.model_validate({"name": "Baixa-Chiado", "phone": None})
    updated = service.update(made.value.id, patch, expected_version=None)
    assert updated.value.name == "Baixa-Chiado" and updated.value.phone is None
    assert updated.value.location == made.value.location
    assert updated.value.created_at == made.value.created_at
    assert updated.value.updated_at > made.value.updated_at
    assert updated.version != made.version


def test_update_and_delete_honour_if_match(service: StoreService) -> None:
    made = create(service, "Lisboa Baixa")
    moved = StorePatch.model_validate({"location": {"lat": 38.8, "lng": -9.2}})
    fresh = service.update(made.value.id, moved, expected_version=made.version)
    with pytest.raises(PreconditionFailed):
        service.update(made.value.id, moved, expected_version=made.version)
    with pytest.raises(PreconditionFailed):
        service.delete(made.value.id, expected_version=made.version)
    service.delete(made.value.id, expected_version=fresh.version)
    with pytest.raises(NotFound):
        service.get(made.value.id, include_inactive=True)
    with pytest.raises(NotFound):
        service.delete(made.value.id, expected_version=None)


def test_unpinned_update_retries_a_raced_write(
    service: StoreService, repo: InMemoryStores, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = create(service, "Lisboa Baixa")
    real_replace = repo.replace
    raced = []

    def replace_after_a_rival(store: Store, *, expected_version: str | None) -> Versioned[Store]:
        if not raced:  # a rival write lands between our read and our write, once
            raced.append(real_replace(store, expected_version=None))
        return real_replace(store, expected_version=expected_version)

    monkeypatch.setattr(repo, "replace", replace_after_a_rival)
    patch = StorePatch.model_validate({"name": "Renamed"})
    assert service.update(made.value.id, patch, expected_version=None).value.name == "Renamed"
    assert len(raced) == 1


def test_writes_that_keep_losing_become_contention(
    service: StoreService, repo: InMemoryStores, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = create(service, "Lisboa Baixa")

    def always_stale(store: Store, *, expected_version: str | None) -> Versioned[Store]:
        raise PreconditionFailed("changed")

    monkeypatch.setattr(repo, "replace", always_stale)
    with pytest.raises(Contention):
        service.update(made.value.id, StorePatch(name="X"), expected_version=None)


def test_the_chain_is_bounded(service: StoreService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_service, "MAX_STORES", 2)
    create(service, "a")
    create(service, "b")
    with pytest.raises(Conflict, match="at most 2"):
        create(service, "c")


# --- near search -----------------------------------------------------------------------------


def test_near_sorts_by_distance_and_filters_by_radius(service: StoreService) -> None:
    for name in FOUR:
        create(service, name)
    assert near(service, radius_km=5) == [("Lisboa Baixa", 1.344), ("Lisboa Alvalade", 3.438)]
    wide = near(service, radius_km=600)
    assert [n for n, _ in wide] == ["Lisboa Baixa", "Lisboa Alvalade", "Porto Bolhão", "Madrid Sol"]
    assert [d for _, d in wide] == sorted(d for _, d in wide)
    assert near(service, radius_km=1) == []


def test_near_pages_walk_every_store_once(service: StoreService) -> None:
    for name in FOUR:
        create(service, name)
    seen: list[str] = []
    cursor = None
    while True:
        page = service.near(
            origin=LISBON, radius_km=20_000, include_inactive=False, limit=1, cursor=cursor
        )
        seen += [s.name for s in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ["Lisboa Baixa", "Lisboa Alvalade", "Porto Bolhão", "Madrid Sol"]


@pytest.mark.parametrize("cursor", ["garbage", "WyJhIiwgImIiXQ", "WyJuZWFyIiwgIngiLCAiYiJd"])
def test_near_refuses_foreign_cursors(service: StoreService, cursor: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        near(service, cursor=cursor)
    assert [e.field for e in caught.value.errors] == ["cursor"]


def test_near_measures_one_read_of_the_whole_set(
    service: StoreService, repo: InMemoryStores
) -> None:
    for name in FOUR:
        create(service, name)
    reads = repo.reads
    page = service.near(
        origin=GeoPoint(lat=41.15, lng=-8.61),
        radius_km=10,
        include_inactive=False,
        limit=20,
        cursor=None,
    )
    assert [s.name for s in page.items] == ["Porto Bolhão"]
    assert repo.reads == reads + 1  # one read of the set (the adapter caches it)
