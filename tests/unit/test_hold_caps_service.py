"""Hold caps at placement, over the in-memory fakes: refusals, orders that stop holding, and a
concurrent placement of the same customer that lands between the read and the commit."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from celeste.accounts.profiles import Identity
from celeste.kernel.errors import Conflict
from celeste.orders.holds import HoldCaps, HoldLimitReached
from celeste.orders.requests import OrderLineRequest, OrderRequest
from celeste.orders.status import OrderStatus
from celeste.services.placing import OrderService
from celeste.services.pricing import PricingService
from tests.fakes import DELIVERY_ADDRESS
from tests.unit.test_order_service import FAST, STORE, World, _admin_put, make_world

CAPS = HoldCaps(max_open_orders=2, max_units_per_product=5)


@pytest.fixture
def world() -> World:
    world = make_world()
    pricing = PricingService(
        source=world.catalogue,
        products=world.catalogue,
        tiers=world.catalogue,
        clock=world.clock,
    )
    world.orders = OrderService(
        orders=world.commerce,
        writer=world.commerce,
        pricing=pricing,
        stores=world.commerce,
        caps=CAPS,
        clock=world.clock,
        backoff=FAST,
        sleep=world.sleeps.append,
    )
    _admin_put(world, "apple", 100)
    _admin_put(world, "pear", 100)
    return world


def _request(*lines: tuple[str, int]) -> OrderRequest:
    return OrderRequest(
        store_id=STORE,
        shipping_address=DELIVERY_ADDRESS,
        lines=[OrderLineRequest(product_id=p, quantity=q) for p, q in lines],
    )


def test_the_open_order_cap_refuses_at_placement_and_writes_nothing(world: World) -> None:
    world.place([("apple", 1)])
    world.place([("pear", 1)])
    with pytest.raises(HoldLimitReached, match="2 unpaid orders"):
        world.place([("apple", 1)])
    assert len(world.commerce.orders) == 2
    world.place([("apple", 1)], uid="bob")  # another customer is not affected


def test_the_units_per_product_cap_counts_every_open_order(world: World) -> None:
    world.place([("apple", 3)])
    with pytest.raises(HoldLimitReached, match="you hold 3 and asked for 3"):
        world.place([("apple", 3)])
    world.place([("apple", 2), ("pear", 5)])  # exactly at both caps


def test_orders_that_stop_holding_free_the_caps(world: World) -> None:
    first = world.place([("apple", 5)])
    second = world.place([("pear", 1)])
    assert world.fulfilment.reserve(first.id) == "confirmed"  # confirmed still holds
    with pytest.raises(HoldLimitReached):
        world.place([("pear", 1)])
    world.orders.cancel(first.id, uid="alice", is_admin=False, expected_version=None)
    world.orders.set_status(second.id, OrderStatus.CANCELLED, expected_version=None)
    again = world.place([("apple", 5)])  # both freed: all five apples again
    assert again.status is OrderStatus.PENDING


def test_a_refusal_is_409_conflict_not_a_rejection_of_anyone(world: World) -> None:
    world.place([("apple", 5)])
    with pytest.raises(Conflict):
        world.place([("apple", 1)])
    assert all(o.value.status is OrderStatus.PENDING for o in world.commerce.orders.values())


def test_a_concurrent_order_landing_between_read_and_commit_is_counted(world: World) -> None:
    world.place([("apple", 1)])
    # Right before our commit, the same customer's other request commits its order.
    world.commerce.interleave(lambda: world.place([("pear", 1)]))
    with pytest.raises(HoldLimitReached):
        world.place([("apple", 1)])
    assert len(world.commerce.orders) == 2


def test_many_threads_of_one_customer_never_pass_the_caps(world: World) -> None:
    barrier = threading.Barrier(12)

    def place(_: int) -> bool:
        barrier.wait()
        try:
            world.orders.place(
                _request(("apple", 1)), identity=Identity("alice", None), idempotency_key=None
            )
            return True
        except HoldLimitReached:
            return False

    with ThreadPoolExecutor(12) as pool:
        placed = list(pool.map(place, range(12)))
    assert sum(placed) == CAPS.max_open_orders
    assert len(world.commerce.orders) == CAPS.max_open_orders
