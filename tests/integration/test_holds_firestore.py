"""Hold caps against the Firestore emulator: ``customer_holds`` round trip, and many concurrent
placements of one customer from many threads never pass the caps."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from google.cloud import firestore
from google.cloud.firestore import FieldFilter

from celeste.accounts.profiles import Identity
from celeste.kernel.errors import Contention, PreconditionFailed
from celeste.orders.holds import CustomerHolds, HoldCaps, HoldLimitReached
from celeste.orders.requests import OrderLineRequest, OrderRequest
from celeste.orders.status import OrderStatus
from celeste.services.placing import OrderService
from celeste.services.pricing import PricingService
from celeste.services.retry import Backoff
from celeste.writes import PutHolds
from celeste_functions.adapters.orders import FirestoreOrders
from celeste_functions.adapters.stores import FirestoreStoreDirectory
from tests.fakes import DELIVERY_ADDRESS, InMemoryCatalogue
from tests.support.writers import uncached_writer

pytestmark = pytest.mark.integration

STORE = "store-holds"
CAPS = HoldCaps(max_open_orders=3, max_units_per_product=4)


@pytest.fixture
def service(db: firestore.Client) -> OrderService:
    db.collection("stores").document(STORE).set({"name": "Holds", "active": True})
    catalogue = InMemoryCatalogue()
    catalogue.add("apple", price=100)
    catalogue.add("pear", price=100)
    return OrderService(
        orders=FirestoreOrders(client=lambda: db),
        writer=uncached_writer(db),
        pricing=PricingService(source=catalogue, products=catalogue, tiers=catalogue),
        stores=FirestoreStoreDirectory(client=lambda: db),
        caps=CAPS,
        backoff=Backoff(attempts=40, base_s=0.01, cap_s=0.2, budget_s=30),
        sleep=time.sleep,
    )


def _place(service: OrderService, uid: str, *lines: tuple[str, int]) -> str:
    request = OrderRequest(
        store_id=STORE,
        shipping_address=DELIVERY_ADDRESS,
        lines=[OrderLineRequest(product_id=p, quantity=q) for p, q in lines],
    )
    placed = service.place(request, identity=Identity(uid, None), idempotency_key=None)
    return placed.order.value.id


def test_holds_round_trip_and_are_guarded_by_version(db: firestore.Client) -> None:
    orders, writer = FirestoreOrders(client=lambda: db), uncached_writer(db)
    assert orders.holds("ana") is None
    holds = CustomerHolds(uid="ana", orders={"o1": {"apple": 2}})
    writer.commit([PutHolds(holds, expected_version=None)])
    stored = orders.holds("ana")
    assert stored is not None and stored.value.orders == {"o1": {"apple": 2}}
    newer = holds.model_copy(update={"orders": {"o1": {"apple": 2}, "o2": {"pear": 1}}})
    writer.commit([PutHolds(newer, expected_version=stored.version)])
    with pytest.raises(PreconditionFailed):
        writer.commit([PutHolds(holds, expected_version=stored.version)])
    with pytest.raises(PreconditionFailed):
        writer.commit([PutHolds(holds, expected_version=None)])


def test_concurrent_placements_of_one_customer_never_pass_the_caps(
    service: OrderService, db: firestore.Client
) -> None:
    barrier = threading.Barrier(10)

    def place(i: int) -> str:
        barrier.wait()
        try:
            _place(service, "alice", ("apple" if i % 2 else "pear", 1))
            return "placed"
        except HoldLimitReached:
            return "refused"
        except Contention:
            return "busy"

    with ThreadPoolExecutor(10) as pool:
        outcomes = list(pool.map(place, range(10)))
    stored = list(
        db.collection("orders").where(filter=FieldFilter("user_id", "==", "alice")).stream()
    )
    assert len(stored) == outcomes.count("placed") == CAPS.max_open_orders, outcomes
    # Another customer is not held back by Alice's orders.
    _place(service, "bob", ("apple", 4))


def test_an_order_that_stops_holding_frees_its_units(
    service: OrderService, db: firestore.Client
) -> None:
    first = _place(service, "carl", ("apple", 4))
    with pytest.raises(HoldLimitReached):
        _place(service, "carl", ("apple", 1))
    db.collection("orders").document(first).update({"status": OrderStatus.CANCELLED.value})
    _place(service, "carl", ("apple", 4))
