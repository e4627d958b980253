"""The order and inventory adapters against the Firestore emulator (database ``integration``, so
no trigger wakes): the reservation batch, preconditions that make a lost race retry, ledger ids
that make replays no-ops, every query the services run, and concurrent reservations."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from google.cloud import firestore

from celeste.catalog.stores import StoreFacts
from celeste.inventory.records import MovementRecord, StockPut, StockRecord, order_movement_id
from celeste.kernel.errors import PreconditionFailed
from celeste.kernel.ids import new_id
from celeste.orders.order import IdempotencyRecord, Order, OrderLine, StatusChange
from celeste.orders.status import OrderStatus
from celeste.services.fulfilment import OrderFulfilment
from celeste.services.inventory import InventoryService, StockAuditor
from celeste.services.retry import Backoff
from celeste.writes import AddMovement, CreateOrder, PutIdempotencyKey, PutLevel, UpdateOrder
from celeste_functions.adapters.accounts import FirestoreCustomers
from celeste_functions.adapters.inventory import FirestoreInventory
from celeste_functions.adapters.orders import FirestoreOrders
from celeste_functions.adapters.stores import FirestoreStoreDirectory
from tests.fakes import InMemoryCatalogue, ladder
from tests.support.writers import uncached_writer

pytestmark = pytest.mark.integration

STORE = "store-it"
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class Stack:
    def __init__(self, db: firestore.Client) -> None:
        self.db = db
        self.orders = FirestoreOrders(client=lambda: db)
        self.inventory = FirestoreInventory(client=lambda: db)
        self.writer = uncached_writer(db)
        self.stores = FirestoreStoreDirectory(client=lambda: db)
        self.sleeps: list[float] = []
        self.customers = FirestoreCustomers(client=lambda: db)
        self.fulfilment = OrderFulfilment(
            orders=self.orders,
            inventory=self.inventory,
            writer=self.writer,
            customers=self.customers,
            tiers=ladder({"BRONZE": True}),
            sleep=self._sleep,
        )
        catalogue = InMemoryCatalogue()
        for name in ("apple", "pear", "fig"):
            catalogue.add(name, price=100)
        self.admin = InventoryService(
            inventory=self.inventory, writer=self.writer, stores=self.stores, products=catalogue
        )
        self.auditor = StockAuditor(inventory=self.inventory, orders=self.orders)

    def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        time.sleep(seconds)

    def count(self, product: str, on_hand: int, store: str = STORE) -> None:
        self.admin.put(
            store_id=store,
            variant_id=product,
            body=StockPut(on_hand=on_hand),
            actor="admin:it",
            expected_version=None,
        )

    def place(
        self,
        lines: list[tuple[str, int]],
        *,
        uid: str = "alice",
        store: str = STORE,
        at: datetime = T0,
    ) -> Order:
        order = Order(
            id=new_id(),
            user_id=uid,
            store_id=store,
            status=OrderStatus.PENDING,
            lines=[
                OrderLine(
                    product_id=p,
                    quantity=q,
                    currency="EUR",
                    unit_base_price=100,
                    unit_final_price=100,
                    line_subtotal=100 * q,
                    line_discount=0,
                    line_total=100 * q,
                )
                for p, q in lines
            ],
            currency="EUR",
            tier="BRONZE",
            subtotal=0,
            discount_total=0,
            total=0,
            history=[StatusChange(status=OrderStatus.PENDING, at=at, actor="customer")],
            created_at=at,
            updated_at=at,
        )
        self.writer.commit([CreateOrder(order)])
        return order

    def level(self, product: str, store: str = STORE) -> StockRecord:
        return self.inventory.get(store_id=store, variant_id=product).value


@pytest.fixture
def stack(db: firestore.Client) -> Stack:
    db.collection("stores").document(STORE).set({"name": "IT", "active": True})
    db.collection("stores").document("closed").set({"name": "Closed", "active": False})
    return Stack(db)


def test_store_directory_reads_the_active_flag(stack: Stack) -> None:
    facts = stack.stores.store_facts(STORE)
    assert facts is not None and facts.active is True
    closed = stack.stores.store_facts("closed")
    assert closed is not None and closed.active is False
    assert stack.stores.store_facts("nowhere") is None


def test_store_directory_reads_pickup_and_the_country_a_pickup_is_taxed_by(stack: Stack) -> None:
    stack.db.collection("stores").document("madrid").set(
        {"name": "Madrid", "active": True, "pickup": True, "address": {"country": "ES"}}
    )
    assert stack.stores.store_facts("madrid") == StoreFacts(active=True, pickup=True, country="ES")
    # A store written before pickup existed offers none.
    assert stack.stores.store_facts(STORE) == StoreFacts(active=True, pickup=False, country="")


def test_the_reservation_batch_writes_level_ledger_and_order_together(stack: Stack) -> None:
    stack.count("apple", 5)
    stack.count("pear", 2)
    order = stack.place([("apple", 2), ("pear", 2)])
    assert stack.fulfilment.reserve(order.id) == "confirmed"
    apple = stack.db.document(f"stores/{STORE}/inventory/apple").get().to_dict() or {}
    assert {k: apple[k] for k in ("on_hand", "reserved", "available", "low_stock")} == {
        "on_hand": 5,
        "reserved": 2,
        "available": 3,
        "low_stock": False,
    }
    row = (
        stack.db.document(f"stores/{STORE}/inventory/apple/movements/{order.id}-reserve")
        .get()
        .to_dict()
        or {}
    )
    assert (row["kind"], row["delta_reserved"], row["order_id"], row["reserved_after"]) == (
        "reserve",
        2,
        order.id,
        2,
    )
    stored = stack.orders.get(order.id).value
    assert stored.status is OrderStatus.CONFIRMED and stored.stock_state == "held"
    assert stored.hold_expires_at is not None
    assert stack.level("pear").available == 0
    assert stack.auditor.run().clean


def test_a_stale_version_fails_the_whole_batch(stack: Stack) -> None:
    stack.count("apple", 5)
    found = stack.inventory.get(store_id=STORE, variant_id="apple")
    stack.count("apple", 6)  # a concurrent writer moves the version
    record = found.value.model_copy(update={"reserved": 1})
    row = MovementRecord(
        id="m-stale",
        store_id=STORE,
        product_id="apple",
        kind="reserve",
        delta_on_hand=0,
        delta_reserved=1,
        reason="r",
        actor="it",
        at=T0,
        on_hand_after=5,
        reserved_after=1,
    )
    with pytest.raises(PreconditionFailed):
        stack.writer.commit([PutLevel(record, expected_version=found.version), AddMovement(row)])
    assert not stack.db.document(f"stores/{STORE}/inventory/apple/movements/m-stale").get().exists
    assert (stack.level("apple").on_hand, stack.level("apple").reserved) == (6, 0)


def test_creating_an_existing_ledger_row_fails_the_batch(stack: Stack) -> None:
    stack.count("apple", 5)
    order = stack.place([("apple", 1)])
    assert stack.fulfilment.reserve(order.id) == "confirmed"
    found = stack.inventory.get(store_id=STORE, variant_id="apple")
    again = MovementRecord(
        id=order_movement_id(order.id, "reserve"),
        store_id=STORE,
        product_id="apple",
        kind="reserve",
        delta_on_hand=0,
        delta_reserved=1,
        reason="replay",
        order_id=order.id,
        actor="it",
        at=T0,
        on_hand_after=5,
        reserved_after=2,
    )
    twice = found.value.model_copy(update={"reserved": 2})
    with pytest.raises(PreconditionFailed):
        stack.writer.commit([PutLevel(twice, expected_version=found.version), AddMovement(again)])
    assert stack.level("apple").reserved == 1


def test_replayed_effects_are_no_ops(stack: Stack) -> None:
    stack.count("apple", 5)
    order = stack.place([("apple", 3)])
    assert stack.fulfilment.reserve(order.id) == "confirmed"
    assert stack.fulfilment.reserve(order.id) == "already confirmed"
    found = stack.orders.get(order.id)
    cancelled = found.value.move(OrderStatus.CANCELLED, actor="customer", at=T0, is_owner=True)
    stack.writer.commit([UpdateOrder(cancelled.order, expected_version=found.version)])
    assert stack.fulfilment.settle_stock(order.id) == "released"
    assert stack.fulfilment.settle_stock(order.id).startswith("nothing to settle")
    kinds = sorted(m.kind for m in stack.inventory.every_movement() if m.order_id == order.id)
    assert kinds == ["release", "reserve"]
    assert stack.level("apple").reserved == 0
    assert stack.auditor.run().clean


def test_a_lost_race_retries_with_backoff_on_fresh_levels(stack: Stack) -> None:
    stack.count("apple", 1)
    ours, theirs = stack.place([("apple", 1)]), stack.place([("apple", 1)], uid="bob")
    real_commit = stack.writer.commit
    rivals: list[str] = []

    def commit_after_a_rival(writes: object) -> None:
        if not rivals:  # once: the rival reserves the last unit between our read and our write
            rivals.append(theirs.id)
            stack.fulfilment.reserve(theirs.id)
        real_commit(writes)  # type: ignore[arg-type]

    stack.writer.commit = commit_after_a_rival  # type: ignore[method-assign]
    assert stack.fulfilment.reserve(ours.id) == "rejected"
    assert stack.orders.get(theirs.id).value.status is OrderStatus.CONFIRMED
    assert len(stack.sleeps) == 1
    rejected = stack.orders.get(ours.id).value
    assert rejected.shortfalls[0].available == 0
    assert stack.auditor.run().clean


@pytest.mark.parametrize("lines", [[("apple", 1)], [("apple", 1), ("pear", 1)]])
def test_concurrent_reservations_on_the_emulator_never_oversell(
    stack: Stack, lines: list[tuple[str, int]]
) -> None:
    stack.count("apple", 5)
    stack.count("pear", 5)
    fulfilment = OrderFulfilment(
        orders=stack.orders,
        inventory=stack.inventory,
        writer=stack.writer,
        customers=stack.customers,
        tiers=ladder({"BRONZE": True}),
        backoff=Backoff(attempts=60, base_s=0.01, budget_s=60),
    )
    orders = [stack.place(lines, uid=f"u{i}") for i in range(16)]
    barrier = threading.Barrier(len(orders))
    outcomes: list[str] = []

    def run(order_id: str) -> None:
        barrier.wait()
        outcomes.append(fulfilment.reserve(order_id))

    threads = [threading.Thread(target=run, args=(o.id,)) for o in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("confirmed") == 5 and outcomes.count("rejected") == 11
    for product, _ in lines:
        assert (stack.level(product).reserved, stack.level(product).available) == (5, 0)
    report = stack.auditor.run()
    assert report.clean, report.drifts
    assert report.open_orders == 5


def test_order_queries(stack: Stack) -> None:
    stack.count("apple", 10)
    old = stack.place([("apple", 1)], at=T0 - timedelta(minutes=5))
    fresh = stack.place([("apple", 1)], at=T0)
    bobs = stack.place([("apple", 1)], uid="bob", at=T0 + timedelta(seconds=1))
    assert stack.fulfilment.reserve(old.id) == "confirmed"
    page = stack.orders.page(user_id="alice", status=None, limit=1, cursor=None)
    rest = stack.orders.page(user_id="alice", status=None, limit=1, cursor=page.next_cursor)
    assert [o.id for o in page.items + rest.items] == [fresh.id, old.id]
    assert rest.next_cursor is None
    everyone = stack.orders.page(user_id=None, status=None, limit=10, cursor=None)
    assert [o.id for o in everyone.items] == [bobs.id, fresh.id, old.id]
    pending = stack.orders.page(user_id=None, status=OrderStatus.PENDING, limit=10, cursor=None)
    assert [o.id for o in pending.items] == [bobs.id, fresh.id]
    confirmed_alice = stack.orders.page(
        user_id="alice", status=OrderStatus.CONFIRMED, limit=5, cursor=None
    )
    assert [o.id for o in confirmed_alice.items] == [old.id]
    stale = stack.orders.pending_since(before=T0 + timedelta(milliseconds=500), limit=10)
    assert [o.id for o in stale] == [fresh.id]
    hold_end = stack.orders.get(old.id).value.hold_expires_at
    assert hold_end is not None
    assert stack.orders.due_for_expiry(now=hold_end, limit=10) == []
    due = stack.orders.due_for_expiry(now=hold_end + timedelta(seconds=1), limit=10)
    assert [o.id for o in due] == [old.id]
    assert [o.id for o in stack.orders.holding_stock()] == [old.id]
    found = stack.orders.get(old.id)
    stack.writer.commit(
        [
            UpdateOrder(
                found.value.move(OrderStatus.CANCELLED, actor="admin", at=T0).order, found.version
            )
        ]
    )
    assert [o.id for o in stack.orders.awaiting_stock(limit=10)] == [old.id]


def test_idempotency_records_customers_and_tiers(stack: Stack) -> None:
    record_id = IdempotencyRecord.id_for(user_id="alice", key="k")
    assert stack.orders.idempotency(record_id) is None
    record = IdempotencyRecord(
        id=record_id,
        user_id="alice",
        order_id="o1",
        fingerprint="f",
        created_at=T0,
        expires_at=T0 + timedelta(hours=24),
    )
    stack.writer.commit([PutIdempotencyKey(record, expected_version=None)])
    with pytest.raises(PreconditionFailed):
        stack.writer.commit([PutIdempotencyKey(record, expected_version=None)])
    found = stack.orders.idempotency(record_id)
    assert found is not None and found.value == record


def test_inventory_queries_across_stores_and_the_ledger(stack: Stack) -> None:
    stack.db.collection("stores").document("store-2").set({"name": "Two", "active": True})
    stack.admin.put(
        store_id=STORE,
        variant_id="apple",
        body=StockPut(on_hand=1, low_stock_threshold=2),
        actor="a",
        expected_version=None,
    )
    stack.count("pear", 9)
    stack.count("apple", 4, store="store-2")
    stack.count("fig", 7, store="store-2")
    every = stack.inventory.page(
        store_id=None, product_id=None, low_stock=None, limit=3, cursor=None
    )
    rest = stack.inventory.page(
        store_id=None, product_id=None, low_stock=None, limit=3, cursor=every.next_cursor
    )
    # By document path: store, then product.
    assert [r.key for r in every.items + rest.items] == [
        "store-2/apple",
        "store-2/fig",
        f"{STORE}/apple",
        f"{STORE}/pear",
    ]
    apples = stack.inventory.page(
        store_id=None, product_id="apple", low_stock=None, limit=10, cursor=None
    )
    assert [r.store_id for r in apples.items] == ["store-2", STORE]
    low = stack.inventory.page(
        store_id=None, product_id=None, low_stock=True, limit=10, cursor=None
    )
    assert [r.key for r in low.items] == [f"{STORE}/apple"]
    both = stack.inventory.page(
        store_id=None, product_id="apple", low_stock=False, limit=10, cursor=None
    )
    assert [r.key for r in both.items] == ["store-2/apple"]
    at_two = stack.inventory.page(
        store_id="store-2", product_id=None, low_stock=False, limit=10, cursor=None
    )
    assert [r.product_id for r in at_two.items] == ["apple", "fig"]
    for on_hand in (2, 3):
        stack.count("fig", on_hand, store="store-2")
    ledger = stack.inventory.movements(store_id="store-2", variant_id="fig", limit=2, cursor=None)
    older = stack.inventory.movements(
        store_id="store-2", variant_id="fig", limit=2, cursor=ledger.next_cursor
    )
    assert [m.on_hand_after for m in ledger.items + older.items] == [3, 2, 7]
    assert older.next_cursor is None
    assert stack.auditor.run().clean
