"""The outbox beyond orders: products, price lists, stock levels and payment refunds each write
their event in the commit of the change, with the aggregate's own gapless sequence; the unit
fakes refuse a change without its event, or an event without its change."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from celeste.catalog.events import product_event
from celeste.catalog.products import Product, ProductCreate, ProductPatch
from celeste.catalog.variants import VariantCreate, VariantPatch
from celeste.inventory.events import FLIPS, announce, level_id, stock_state
from celeste.inventory.records import StockAdjustment, StockPut, StockRecord
from celeste.kernel.errors import PreconditionFailed
from celeste.kernel.events import Event
from celeste.kernel.versions import Versioned
from celeste.orders.events import refund_events
from celeste.orders.payments import RefundRequest
from celeste.orders.status import OrderStatus
from celeste.pricing.events import price_list_event
from celeste.pricing.price_lists import PriceListBody, PriceListPatch
from celeste.services.inventory import InventoryService
from celeste.services.pricing import PriceListService
from celeste.services.products import ProductService
from celeste.services.retry import Backoff
from celeste.writes import AddEvent, PutLevel, put_level
from tests.fakes import (
    InMemoryCatalogue,
    InMemoryCommerce,
    InMemoryPriceLists,
    InMemoryProducts,
    InventoryView,
)
from tests.unit import test_payments
from tests.unit.test_payments import STORE, World

world = test_payments.world  # the payments world (fixture) over fakes
S = OrderStatus
FAST = Backoff(attempts=3, base_s=0.0, cap_s=0.0)
T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _log(events: dict[str, Event], kind: str, aggregate_id: str) -> list[tuple[int, str]]:
    """(sequence, type) of one aggregate's events, by sequence."""
    found = [
        e for e in events.values() if (e.aggregate.kind, e.aggregate.id) == (kind, aggregate_id)
    ]
    return sorted((e.sequence, e.type) for e in found)


# --- products ---------------------------------------------------------------------------------


class _Categories:
    """Every category exists (the product rules are not what is tested here)."""

    def get(self, category_id: str) -> Versioned[Any]:
        return Versioned(None, "1")


def _products() -> tuple[ProductService, InMemoryProducts]:
    repo = InMemoryProducts()
    service = ProductService(
        repository=repo,
        categories=_Categories(),  # type: ignore[arg-type]
        pricing=None,  # type: ignore[arg-type]
        stock=None,  # type: ignore[arg-type]
        backoff=FAST,
        sleep=lambda _: None,
    )
    return service, repo


def _create(service: ProductService, **fields: Any) -> Product:
    body = {"sku": "TEE", "name": "Tee", "category_id": "cat", "base_price": 1500}
    return service.create(ProductCreate.model_validate({"currency": "EUR", **body, **fields})).value


def test_a_product_tells_created_updated_and_deleted_with_its_revision() -> None:
    service, repo = _products()
    product = _create(
        service,
        options=[{"name": "Size", "values": ["S", "M"]}],
        variants=[{"sku": "TEE-S", "options": {"Size": "S"}}],
    )
    pid = product.id
    assert product.revision == 1
    service.update(pid, ProductPatch(name="Tee shirt"), expected_version=None)
    _, variant = service.add_variant(
        pid, VariantCreate(sku="TEE-M", options={"Size": "M"}), expected_version=None
    )
    service.update_variant(pid, variant.id, VariantPatch(sku="TEE-M2"), expected_version=None)
    service.delete_variant(pid, variant.id, expected_version=None)
    service.deactivate(pid, expected_version=None)
    service.deactivate(pid, expected_version=None)  # inactive already: no write, no event
    assert _log(repo.outbox, "product", pid) == [
        (1, "product.created"),
        (2, "product.updated"),  # renamed
        (3, "product.updated"),  # a variant added
        (4, "product.updated"),  # the variant changed
        (5, "product.updated"),  # the variant removed
        (6, "product.deleted"),
    ]
    stored = repo.get(pid).value
    assert stored.revision == 6 and repo.writes == 6
    last = repo.outbox[f"product-{pid}-6"]
    assert last.data == stored.model_dump(mode="json") and last.data["active"] is False
    assert last.occurred_at == stored.updated_at
    assert last.aggregate.kind == "product" and last.aggregate.id == pid
    first = repo.outbox[f"product-{pid}-1"]
    assert first.data["name"] == "Tee" and first.data["revision"] == 1


def test_setting_active_false_by_patch_is_a_deletion_and_back_an_update() -> None:
    service, repo = _products()
    pid = _create(service).id
    service.update(pid, ProductPatch(active=False), expected_version=None)
    service.update(pid, ProductPatch(active=True), expected_version=None)
    assert _log(repo.outbox, "product", pid) == [
        (1, "product.created"),
        (2, "product.deleted"),
        (3, "product.updated"),
    ]


def test_a_product_stored_before_events_starts_its_sequence_at_one() -> None:
    service, repo = _products()
    legacy = Product(
        id="old",
        sku="OLD",
        name="Old",
        category_id="cat",
        base_price=100,
        currency="EUR",
        created_at=T0,
        updated_at=T0,
    )
    repo.rows["old"] = Versioned(legacy, "v0")  # stored without a revision: reads 0
    service.update("old", ProductPatch(name="Older"), expected_version=None)
    assert _log(repo.outbox, "product", "old") == [(1, "product.updated")]


def test_a_lost_race_writes_no_event_and_the_retry_tells_the_next_revision() -> None:
    service, repo = _products()
    pid = _create(service).id
    repo.interleave(lambda: service.update(pid, ProductPatch(name="Theirs"), expected_version=None))
    service.update(pid, ProductPatch(description="mine"), expected_version=None)
    assert _log(repo.outbox, "product", pid) == [
        (1, "product.created"),
        (2, "product.updated"),
        (3, "product.updated"),
    ]
    assert repo.outbox[f"product-{pid}-3"].data["name"] == "Theirs"


def test_the_product_fake_refuses_a_write_without_its_exact_event() -> None:
    service, repo = _products()
    product = _create(service)
    current = repo.get(product.id)
    changed = product.model_copy(update={"name": "X", "revision": 2})
    wrong = product_event(product, changed.model_copy(update={"name": "Y"}))
    with pytest.raises(AssertionError, match="outbox broken"):
        repo.replace(changed, expected_version=current.version, event=wrong)
    skipped = product.model_copy(update={"revision": 3})  # a revision skipped: a gap
    with pytest.raises(AssertionError, match="revision"):
        repo.replace(
            skipped, expected_version=current.version, event=product_event(product, skipped)
        )
    assert repo.get(product.id) == current and len(repo.outbox) == 1
    # The event id exists already: the whole write fails, as Firestore's create does.
    repo.outbox[f"product-{product.id}-2"] = product_event(product, changed)
    with pytest.raises(PreconditionFailed):
        repo.replace(
            changed, expected_version=current.version, event=product_event(product, changed)
        )
    assert repo.get(product.id) == current


# --- price lists ------------------------------------------------------------------------------


def _body(**fields: Any) -> PriceListBody:
    return PriceListBody.model_validate(
        {
            "name": "Spring",
            "priority": 1,
            "active": True,
            "valid_from": "2026-01-01T00:00:00Z",
            "rules": [{"scope": "all", "kind": "percentage", "value": "5"}],
            **fields,
        }
    )


def test_a_price_list_tells_each_create_update_and_delete_as_changed() -> None:
    repo = InMemoryPriceLists()
    service = PriceListService(repository=repo, clock=lambda: T0, backoff=FAST)
    created = service.create(_body()).value
    lid = created.id
    assert created.revision == 1
    service.update(lid, PriceListPatch(name="Summer"), expected_version=None)
    rules = [{"scope": "product", "target_id": "tee", "kind": "fixed", "value": 100}]
    service.update(lid, PriceListPatch.model_validate({"rules": rules}), expected_version=None)
    stale = repo.get(lid).version
    service.update(lid, PriceListPatch(priority=2), expected_version=None)
    with pytest.raises(PreconditionFailed):  # If-Match on an old version: nothing written
        service.update(lid, PriceListPatch(priority=3), expected_version=stale)
    service.delete(lid, expected_version=None)
    assert _log(repo.outbox, "price_list", lid) == [(n, "price_list.changed") for n in range(1, 6)]
    updated = repo.outbox[f"price_list-{lid}-3"]
    assert updated.data["rules"][0]["target_id"] == "tee" and updated.data["deleted"] is False
    gone = repo.outbox[f"price_list-{lid}-5"]
    assert gone.data["deleted"] is True and gone.data["priority"] == 2
    assert gone.occurred_at == T0 and gone.aggregate.kind == "price_list"


def test_the_price_list_fake_refuses_a_write_without_its_exact_event() -> None:
    repo = InMemoryPriceLists()
    service = PriceListService(repository=repo, clock=lambda: T0, backoff=FAST)
    found = service.create(_body())
    renamed = found.value.model_copy(update={"name": "X", "revision": 2})
    with pytest.raises(AssertionError, match="outbox broken"):
        repo.replace(
            renamed,
            expected_version=found.version,
            event=price_list_event(renamed, at=T0, deleted=True),
        )
    assert repo.get(found.value.id) == found


# --- stock levels -----------------------------------------------------------------------------


def _record(on_hand: int, reserved: int = 0, threshold: int = 3, **fields: Any) -> StockRecord:
    return StockRecord(
        store_id="s1",
        product_id="p",
        variant_id="v",
        on_hand=on_hand,
        reserved=reserved,
        low_stock_threshold=threshold,
        updated_at=T0,
        **fields,
    )


#: (on_hand, reserved) giving each state with threshold 3.
_STATE = {"ok": (10, 0), "low": (5, 2), "out": (4, 4)}


@pytest.mark.parametrize("before", ["ok", "low", "out"])
@pytest.mark.parametrize("after", ["ok", "low", "out"])
def test_the_flip_table(before: str, after: str) -> None:
    stored = _record(*_STATE[before], announced=before, event_count=7)
    noted, event = announce(stored, _record(*_STATE[after]))
    assert stock_state(noted) == after and noted.announced == after
    expected = FLIPS.get((before, after))  # type: ignore[arg-type]
    assert {
        ("ok", "low"): "stock.low",
        ("ok", "out"): "stock.out",
        ("low", "out"): "stock.out",
        ("out", "low"): "stock.back_in_stock",
        ("out", "ok"): "stock.back_in_stock",
    }.get((before, after)) == expected
    if expected is None:
        assert event is None and noted.event_count == 7
        return
    assert event is not None and noted.event_count == 8
    assert event.type == expected and event.sequence == 8
    assert event.id == "stock-s1__v-8" and event.aggregate.id == level_id("s1", "v") == "s1__v"
    assert event.data["state"] == after and event.data["available"] == noted.available
    assert event.occurred_at == T0


def test_a_level_stored_before_events_counts_as_the_state_it_holds() -> None:
    legacy = _record(2)  # low, never noted
    assert announce(legacy, _record(1))[1] is None
    assert announce(legacy, _record(0))[1] is not None
    # A level not stored yet is out: stocking it is back in stock; an empty one tells nothing.
    assert announce(None, _record(0))[1] is None
    created = announce(None, _record(10))[1]
    assert created is not None and created.type == "stock.back_in_stock" and created.sequence == 1


def _inventory() -> tuple[InventoryService, InMemoryCommerce]:
    commerce = InMemoryCommerce()
    commerce.stores = {STORE: True}
    catalogue = InMemoryCatalogue()
    catalogue.add("apple", price=100)
    service = InventoryService(
        inventory=InventoryView(commerce),
        writer=commerce,
        stores=commerce,
        products=catalogue,  # type: ignore[arg-type]
        backoff=FAST,
        sleep=lambda _: None,
    )
    return service, commerce


def test_admin_stock_changes_tell_low_out_and_back_once_each() -> None:
    service, commerce = _inventory()

    def adjust(delta: int) -> None:
        body = StockAdjustment(delta=delta, reason="count")
        service.adjust(store_id=STORE, variant_id="apple", body=body, actor="admin")

    body = StockPut(on_hand=10, low_stock_threshold=3)
    service.put(store_id=STORE, variant_id="apple", body=body, actor="admin", expected_version=None)
    for delta in (-7, -1, -2, +1, +9, -8, +1):
        adjust(delta)  # 3 low, 2 -, 0 out, 1 back (low), 10 - (ok), 2 low, 3 -
    aggregate = f"{STORE}__apple"
    assert _log(commerce.events, "stock", aggregate) == [
        (1, "stock.back_in_stock"),  # created with 10 (a level not stored is out)
        (2, "stock.low"),
        (3, "stock.out"),
        (4, "stock.back_in_stock"),
        (5, "stock.low"),  # after a silent return to ok
    ]
    level = commerce.level(STORE, "apple")
    assert level.announced == "low" and level.event_count == 5
    assert commerce.events[f"stock-{aggregate}-3"].data["on_hand"] == 0
    # A threshold change alone flips it too.
    body = StockPut(on_hand=3, low_stock_threshold=0)
    service.put(store_id=STORE, variant_id="apple", body=body, actor="admin", expected_version=None)
    assert commerce.level(STORE, "apple").announced == "ok"
    assert len(_log(commerce.events, "stock", aggregate)) == 5  # low -> ok: noted, not told


def test_reservations_and_releases_tell_a_flip_once_in_their_commit(world: World) -> None:
    world.commerce.stock(STORE, "apple", 10, threshold=5)
    aggregate = f"{STORE}__apple"
    told = _log(world.commerce.events, "stock", aggregate)
    assert told == [(1, "stock.back_in_stock")]  # the fixture's stocking
    commits = world.commerce.commits
    first = world.confirmed(quantity=5)  # 5 left: low
    assert world.commerce.commits == commits + 2  # placed, confirmed: the event rode along
    world.confirmed(quantity=1)  # 4: still low, nothing told
    last = world.confirmed(quantity=4)  # 0: out
    assert _log(world.commerce.events, "stock", aggregate) == [
        (1, "stock.back_in_stock"),
        (2, "stock.low"),
        (3, "stock.out"),
    ]
    low = world.commerce.events[f"stock-{aggregate}-2"]
    reserved = world.order(first).history[-1]
    assert low.occurred_at == reserved.at and low.data["reserved"] == 5
    world.orders.cancel(last, uid="alice", is_admin=False, expected_version=None)
    world.effects(last, S.CONFIRMED, S.CANCELLED)  # 4 released: back, low
    world.effects(last, S.CONFIRMED, S.CANCELLED)  # redelivered: nothing more
    assert _log(world.commerce.events, "stock", aggregate)[-1] == (4, "stock.back_in_stock")
    assert len(_log(world.commerce.events, "stock", aggregate)) == 4


def test_the_writer_refuses_a_level_without_its_flip_or_a_flip_without_its_level() -> None:
    commerce = InMemoryCommerce()
    commerce.stock("s1", "apple", 10, threshold=3)
    stored = commerce.levels[("s1", "apple")]
    low = stored.value.with_level(stored.value.level().model_copy(update={"on_hand": 2}), at=T0)
    with pytest.raises(AssertionError, match="without noting its state"):
        commerce.commit([PutLevel(low, stored.version)])  # not through put_level
    noted, event = announce(stored.value, low)
    assert event is not None
    with pytest.raises(AssertionError, match="outbox broken"):
        commerce.commit([PutLevel(noted, stored.version)])  # the flip's event left out
    with pytest.raises(AssertionError, match="outbox broken"):
        commerce.commit([AddEvent(event)])  # an event without its change
    assert commerce.levels[("s1", "apple")] == stored
    commerce.commit(put_level(stored, low))
    assert commerce.level("s1", "apple").announced == "low"


# --- payment refunds --------------------------------------------------------------------------


def test_each_refund_recorded_tells_payment_refunded_once(world: World) -> None:
    oid = world.paid(quantity=4)  # 1 000
    assert _log(world.commerce.events, "payment", oid) == []
    world.payments.refund(oid, RefundRequest(amount=250, reason="a"), idempotency_key="r1")
    world.payments.refund(oid, RefundRequest(amount=250, reason="a"), idempotency_key="r1")
    intent_id = world.order(oid).payment.intent_id
    outside = world.stripe.dashboard_refund(intent_id, 300)
    world.webhook(oid, kind="charge.refunded", event_id="evt_r1")
    world.webhook(oid, kind="charge.refunded", event_id="evt_r1")  # replayed
    world.payments.refund(oid, RefundRequest(reason="rest"), idempotency_key="r2")
    assert _log(world.commerce.events, "payment", oid) == [
        (1, "payment.refunded"),
        (2, "payment.refunded"),
        (3, "payment.refunded"),
    ]
    events = world.commerce.events_of(oid, "payment")
    assert [e.data["refund"]["amount"] for e in events] == [250, 300, 450]
    assert events[1].data["refund"]["refund_id"] == outside
    assert events[-1].data["payment"]["status"] == "refunded"
    assert events[-1].data["payment"]["client_secret"] is None
    assert all(e.data["order_id"] == oid for e in events)
    # The order's own log is untouched by them: its steps, one event each.
    assert [e.type for e in world.commerce.events_of(oid)][-3:] == [
        "order.partially_refunded",
        "order.partially_refunded",
        "order.refunded",
    ]


def test_refund_events_number_several_refunds_of_one_commit_in_turn(world: World) -> None:
    oid = world.paid(quantity=4)
    payment = world.order(oid).payment
    intent_id = payment.intent_id
    world.stripe.dashboard_refund(intent_id, 100)
    world.stripe.dashboard_refund(intent_id, 200)
    world.webhook(oid, kind="charge.refunded")  # both recorded in one commit
    events = world.commerce.events_of(oid, "payment")
    assert [(e.sequence, e.data["refund"]["amount"]) for e in events] == [(1, 100), (2, 200)]
    assert refund_events(oid, before=world.order(oid).payment, after=world.order(oid).payment) == []


def test_a_late_payment_tells_its_void_refund(world: World) -> None:
    oid = world.with_intent()
    world.stripe.pay(world.order(oid).payment.intent_id)
    world.orders.cancel(oid, uid="admin", is_admin=True, expected_version=None)
    world.webhook(oid, event_id="evt_late")  # the money landed after the cancel: refunded
    world.webhook(oid, event_id="evt_late")  # redelivered
    events = world.commerce.events_of(oid, "payment")
    assert [(e.sequence, e.type) for e in events] == [(1, "payment.refunded")]
    assert events[0].data["refund"]["actor"] == "system"
    assert events[0].data["refund"]["amount"] == 500
