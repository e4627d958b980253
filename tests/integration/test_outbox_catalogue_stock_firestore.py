"""The outbox of products, price lists and stock levels against the Firestore emulator: each
write and its event are one batch (a crash before the commit leaves neither; an event that
exists fails the whole batch), and a stock level's flip event is written with the level."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from google.cloud import firestore

from celeste.catalog.events import product_event, revised
from celeste.catalog.products import ProductCreate, ProductPatch
from celeste.inventory.records import StockAdjustment, StockPut
from celeste.kernel.errors import PreconditionFailed
from celeste.pricing.price_lists import PriceListBody, PriceListPatch
from celeste.services.pricing import PriceListService
from celeste.writes import put_level
from celeste_functions.adapters import writer as writer_module
from celeste_functions.adapters.events import FirestoreEvents
from celeste_functions.adapters.pricing import FirestorePriceLists
from tests.integration.test_orders_firestore import STORE, T0, Stack
from tests.integration.test_variants_firestore import _service
from tests.support.writers import uncached_writer

pytestmark = pytest.mark.integration


class Crash(Exception):
    pass


def _crash(self: writer_module.Batch) -> None:
    raise Crash("the instance died before the batch was sent")


def _events(db: firestore.Client) -> dict[str, dict[str, Any]]:
    return {s.id: s.to_dict() or {} for s in db.collection("events").stream()}


def _body() -> ProductCreate:
    return ProductCreate(sku="MUG", name="Mug", category_id="cat", base_price=900, currency="EUR")


# --- products ---------------------------------------------------------------------------------


def test_a_product_and_its_event_are_written_together(db: firestore.Client) -> None:
    service, products = _service(db)
    created = service.create(_body()).value
    service.update(created.id, ProductPatch(name="Big mug"), expected_version=None)
    service.deactivate(created.id, expected_version=None)
    stored = products.get(created.id).value
    assert stored.revision == 3 and not stored.active
    events = _events(db)
    assert sorted(events) == [f"product-{created.id}-{n}" for n in (1, 2, 3)]
    assert [events[f"product-{created.id}-{n}"]["type"] for n in (1, 2, 3)] == [
        "product.created",
        "product.updated",
        "product.deleted",
    ]
    last = events[f"product-{created.id}-3"]
    assert last["aggregate"] == {"kind": "product", "id": created.id} and last["sequence"] == 3
    assert last["data"] == stored.model_dump(mode="json")
    log = FirestoreEvents(client=lambda: db)
    mine = log.page(event_type=None, aggregate_id=created.id, limit=10, cursor=None).items
    assert [e.sequence for e in mine] == [3, 2, 1]


def test_a_crash_before_the_commit_leaves_neither_the_product_nor_its_event(
    db: firestore.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, products = _service(db)
    created = service.create(_body()).value
    before = products.get(created.id)
    monkeypatch.setattr(writer_module.Batch, "commit", _crash)
    with pytest.raises(Crash):
        service.update(created.id, ProductPatch(name="Never"), expected_version=None)
    with pytest.raises(Crash):
        service.create(_body().model_copy(update={"sku": "CUP"}))
    monkeypatch.undo()
    assert products.get(created.id) == before
    assert sorted(_events(db)) == [f"product-{created.id}-1"]
    assert [s.id for s in db.collection("products").stream()] == [created.id]


def test_an_event_that_exists_fails_the_whole_product_write(db: firestore.Client) -> None:
    """Were two writes of the same revision to pass the version check, the second would find
    the first's event: the product is not changed twice."""
    service, products = _service(db)
    created = service.create(_body()).value
    found = products.get(created.id)
    renamed = revised(created, created.model_copy(update={"name": "Renamed"}))
    event = product_event(created, renamed)
    db.collection("events").document(event.id).set({"type": "product.updated"})  # taken
    with pytest.raises(PreconditionFailed):
        products.replace(
            renamed, previous_skus=created.skus, expected_version=found.version, event=event
        )
    assert products.get(created.id) == found


def test_a_price_list_and_its_event_are_written_together(
    db: firestore.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = PriceListService(
        repository=FirestorePriceLists(client=lambda: db, writer=uncached_writer(db)),
        clock=lambda: T0,
    )
    body = PriceListBody.model_validate(
        {
            "name": "Spring",
            "priority": 1,
            "valid_from": "2026-01-01T00:00:00Z",
            "rules": [{"scope": "all", "kind": "percentage", "value": "5"}],
        }
    )
    lid = service.create(body).value.id
    monkeypatch.setattr(writer_module.Batch, "commit", _crash)
    with pytest.raises(Crash):
        service.update(lid, PriceListPatch(name="Never"), expected_version=None)
    monkeypatch.undo()
    assert service.get(lid).value.name == "Spring"
    service.update(lid, PriceListPatch(name="Summer"), expected_version=None)
    service.delete(lid, expected_version=None)
    events = _events(db)
    assert sorted(events) == [f"price_list-{lid}-{n}" for n in (1, 2, 3)]
    assert events[f"price_list-{lid}-2"]["data"]["name"] == "Summer"
    assert events[f"price_list-{lid}-3"]["data"]["deleted"] is True
    assert {e["type"] for e in events.values()} == {"price_list.changed"}


# --- stock levels -----------------------------------------------------------------------------


@pytest.fixture
def stack(db: firestore.Client) -> Stack:
    db.collection("stores").document(STORE).set({"name": "IT", "active": True})
    return Stack(db)


def _adjust(stack: Stack, delta: int) -> None:
    body = StockAdjustment(delta=delta, reason="count")
    stack.admin.adjust(store_id=STORE, variant_id="apple", body=body, actor="admin:it")


def test_a_stock_flip_is_written_with_its_level(stack: Stack) -> None:
    body = StockPut(on_hand=5, low_stock_threshold=2)
    stack.admin.put(
        store_id=STORE, variant_id="apple", body=body, actor="admin:it", expected_version=None
    )
    order = stack.place([("apple", 3)])
    assert stack.fulfilment.reserve(order.id) == "confirmed"  # 2 left: low, in that commit
    _adjust(stack, -2)  # nothing available: out
    level_id = f"{STORE}__apple"
    events = {i: e for i, e in _events(stack.db).items() if i.startswith("stock-")}
    assert f"order-{order.id}-2" in _events(stack.db)  # the reservation's own commit
    assert sorted(events) == [f"stock-{level_id}-{n}" for n in (1, 2, 3)]
    assert [events[f"stock-{level_id}-{n}"]["type"] for n in (1, 2, 3)] == [
        "stock.back_in_stock",
        "stock.low",
        "stock.out",
    ]
    low = events[f"stock-{level_id}-2"]
    assert low["aggregate"] == {"kind": "stock", "id": level_id}
    assert low["data"]["available"] == 2 and low["data"]["reserved"] == 3
    stored = stack.inventory.levels(store_id=STORE, keys=["apple"])["apple"].value
    assert stored.announced == "out" and stored.event_count == 3


def test_a_crash_before_the_commit_leaves_neither_the_level_nor_its_flip(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.count("apple", 3)
    before = stack.inventory.levels(store_id=STORE, keys=["apple"])["apple"]
    monkeypatch.setattr(writer_module.Batch, "commit", _crash)
    with pytest.raises(Crash):
        _adjust(stack, -3)  # would flip to out
    monkeypatch.undo()
    assert stack.inventory.levels(store_id=STORE, keys=["apple"])["apple"] == before
    assert sorted(_events(stack.db)) == [f"stock-{STORE}__apple-1"]  # the stocking's


def test_a_flip_event_that_exists_fails_the_level_write(stack: Stack) -> None:
    stack.count("apple", 3)
    stored = stack.inventory.levels(store_id=STORE, keys=["apple"])["apple"]
    empty = stored.value.with_level(
        stored.value.level().model_copy(update={"on_hand": 0}), at=T0 + timedelta(minutes=1)
    )
    writes = put_level(stored, empty)
    assert len(writes) == 2  # the level and its stock.out
    stack.db.collection("events").document(f"stock-{STORE}__apple-2").set({"type": "taken"})
    with pytest.raises(PreconditionFailed):
        stack.writer.commit(writes)
    assert stack.inventory.levels(store_id=STORE, keys=["apple"])["apple"] == stored
