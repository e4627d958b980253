"""Order, fulfilment, inventory and audit services over the in-memory fakes: placement,
reservation, every status effect, retries on lost races, idempotency, expiry and the auditor."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from celeste.accounts.profiles import Identity
from celeste.accounts.tiers import DEMO_TIERS
from celeste.inventory.records import StockAdjustment, StockPut
from celeste.kernel.errors import (
    Conflict,
    Contention,
    Forbidden,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
)
from celeste.orders.order import IdempotencyRecord, Order
from celeste.orders.requests import OrderLineRequest, OrderRequest
from celeste.orders.status import OrderStatus
from celeste.pricing.price_lists import PriceList, PriceRule
from celeste.services.fulfilment import STALE_AFTER, OrderFulfilment
from celeste.services.inventory import InventoryService, StockAuditor
from celeste.services.placing import OrderService
from celeste.services.pricing import PricingService
from celeste.services.retry import Backoff
from tests.fakes import DELIVERY_ADDRESS, InMemoryCatalogue, InMemoryCommerce, InventoryView

STORE = "store-1"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
FAST = Backoff(attempts=50, base_s=0.0, cap_s=0.0, budget_s=60.0)


class Clock:
    """A settable clock."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    commerce: InMemoryCommerce
    catalogue: InMemoryCatalogue
    clock: Clock
    orders: OrderService
    fulfilment: OrderFulfilment
    inventory: InventoryService
    auditor: StockAuditor
    sleeps: list[float] = field(default_factory=list)

    def place(
        self,
        lines: list[tuple[str, int]],
        *,
        uid: str = "alice",
        key: str | None = None,
        store: str = STORE,
    ) -> Order:
        request = OrderRequest(
            store_id=store,
            shipping_address=DELIVERY_ADDRESS,
            lines=[OrderLineRequest(product_id=p, quantity=q) for p, q in lines],
        )
        placed = self.orders.place(request, identity=Identity(uid, None), idempotency_key=key)
        return placed.order.value

    def order(self, order_id: str) -> Order:
        return self.commerce.get(order_id).value

    def audit_clean(self) -> None:
        report = self.auditor.run()
        assert report.clean, report.drifts
        assert report.pending_effects == []


def make_world() -> World:
    """Stores, three products (one retired), the demo tiers, services on fast retries."""
    commerce = InMemoryCommerce()
    commerce.stores = {STORE: True, "closed": False}
    commerce.tier_list = list(DEMO_TIERS)
    catalogue = InMemoryCatalogue()
    catalogue.add("apple", price=250)
    catalogue.add("pear", price=199)
    catalogue.add("retired", price=100, active=False)
    clock = Clock(NOW)
    pricing = PricingService(source=catalogue, products=catalogue, tiers=catalogue, clock=clock)
    sleeps: list[float] = []
    view = InventoryView(commerce)
    return World(
        commerce=commerce,
        catalogue=catalogue,
        clock=clock,
        orders=OrderService(
            orders=commerce,
            writer=commerce,
            pricing=pricing,
            stores=commerce,
            clock=clock,
            backoff=FAST,
            sleep=sleeps.append,
        ),
        fulfilment=OrderFulfilment(
            orders=commerce,
            inventory=view,
            writer=commerce,
            customers=commerce,
            tiers=commerce,
            clock=clock,
            backoff=FAST,
            sleep=sleeps.append,
        ),
        inventory=InventoryService(
            inventory=view,
            writer=commerce,
            stores=commerce,
            products=catalogue,
            clock=clock,
            backoff=FAST,
            sleep=sleeps.append,
        ),
        auditor=StockAuditor(inventory=view, orders=commerce, clock=clock),
        sleeps=sleeps,
    )


@pytest.fixture
def world() -> World:
    return make_world()


def _admin_put(world: World, product: str, on_hand: int, threshold: int | None = None) -> None:
    world.inventory.put(
        store_id=STORE,
        variant_id=product,
        body=StockPut(on_hand=on_hand, low_stock_threshold=threshold),
        actor="admin:test",
        expected_version=None,
    )


def _confirmed(world: World, lines: list[tuple[str, int]], uid: str = "alice") -> Order:
    order = world.place(lines, uid=uid)
    assert world.fulfilment.reserve(order.id) == "confirmed"
    return world.order(order.id)


def _move(world: World, order: Order, *statuses: OrderStatus) -> Order:
    """Admin moves, each followed by its trigger (as on_order_updated would run it)."""
    for status in statuses:
        before = world.order(order.id).status
        world.orders.set_status(order.id, status, expected_version=None)
        world.fulfilment.on_status_change(order.id, before=before, after=status)
    return world.order(order.id)


# --- placing -------------------------------------------------------------------------------


def test_place_freezes_server_prices_and_stores_a_pending_order(world: World) -> None:
    _admin_put(world, "apple", 5)
    world.catalogue.price_lists.append(
        PriceList(
            id="sale",
            name="Sale",
            priority=1,
            rules=[
                PriceRule(scope="product", target_id="apple", kind="percentage", value=Decimal(10))
            ],
        )
    )
    order = world.place([("apple", 3), ("pear", 1)])
    assert order.status is OrderStatus.PENDING
    assert [
        (line.product_id, line.unit_base_price, line.unit_final_price, line.line_total)
        for line in order.lines
    ] == [("apple", 250, 225, 675), ("pear", 199, 199, 199)]
    assert (order.subtotal, order.discount_total, order.total) == (949, 75, 874)
    # No shipping method and no tax rate: the money fields are there, at zero.
    assert (order.shipping_total, order.tax_total, [line.tax for line in order.lines]) == (
        0,
        0,
        [0, 0],
    )
    assert order.tier == "BRONZE" and order.currency == "EUR" and order.user_id == "alice"
    assert order.lines[0].applied_rule is not None
    # Later price changes do not touch the order; stock waits for the trigger.
    world.catalogue.price_lists.clear()
    assert world.order(order.id).total == 874
    assert world.commerce.level(STORE, "apple").reserved == 0


@pytest.mark.parametrize(
    ("store", "message"), [("nowhere", "does not exist"), ("closed", "not open")]
)
def test_place_refuses_an_unknown_or_inactive_store_and_writes_nothing(
    world: World, store: str, message: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        world.place([("apple", 1)], store=store)
    assert [e.field for e in caught.value.errors] == ["store_id"]
    assert message in caught.value.errors[0].message
    assert world.commerce.orders == {} and world.commerce.commits == 0


@pytest.mark.parametrize("product", ["ghost", "retired"])
def test_place_refuses_an_unknown_or_inactive_product_naming_its_line(
    world: World, product: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        world.place([("apple", 1), (product, 2)])
    assert [e.field for e in caught.value.errors] == ["lines[1].product_id"]
    assert world.commerce.orders == {} and world.commerce.commits == 0


def test_idempotency_key_replays_the_same_order_and_refuses_another_body(world: World) -> None:
    first = world.place([("apple", 1)], key="k-1")
    again = world.orders.place(
        OrderRequest(
            store_id=STORE,
            shipping_address=DELIVERY_ADDRESS,
            lines=[OrderLineRequest(product_id="apple", quantity=1)],
        ),
        identity=Identity("alice", None),
        idempotency_key="k-1",
    )
    assert again.replayed and again.order.value.id == first.id
    with pytest.raises(Conflict, match="different request body"):
        world.place([("apple", 2)], key="k-1")
    # Keys are per customer: bob's k-1 is his own.
    assert world.place([("apple", 2)], uid="bob", key="k-1").id != first.id
    assert len(world.commerce.orders) == 2
    record = world.commerce.keys[IdempotencyRecord.id_for(user_id="alice", key="k-1")].value
    assert record.order_id == first.id and record.expires_at == NOW + timedelta(hours=24)


def test_an_expired_key_makes_a_new_order(world: World) -> None:
    first = world.place([("apple", 1)], key="k-1")
    world.clock.now = NOW + timedelta(hours=24, seconds=1)
    second = world.place([("apple", 2)], key="k-1")
    assert second.id != first.id
    record = world.commerce.keys[IdempotencyRecord.id_for(user_id="alice", key="k-1")].value
    assert record.order_id == second.id


def test_two_requests_racing_with_one_key_store_one_order(world: World) -> None:
    winner: list[Order] = []
    world.commerce.interleave(lambda: winner.append(world.place([("apple", 1)], key="k-9")))
    loser = world.orders.place(
        OrderRequest(
            store_id=STORE,
            shipping_address=DELIVERY_ADDRESS,
            lines=[OrderLineRequest(product_id="apple", quantity=1)],
        ),
        identity=Identity("alice", None),
        idempotency_key="k-9",
    )
    assert loser.replayed and loser.order.value.id == winner[0].id
    assert len(world.commerce.orders) == 1


def test_wait_returns_the_settled_order(world: World) -> None:
    _admin_put(world, "apple", 1)
    request = OrderRequest(
        store_id=STORE,
        shipping_address=DELIVERY_ADDRESS,
        lines=[OrderLineRequest(product_id="apple", quantity=1)],
    )

    def trigger_runs(_: float) -> None:  # the "sleep" during which the trigger reserves
        for order in list(world.commerce.orders.values()):
            world.fulfilment.reserve(order.value.id)

    service = OrderService(
        orders=world.commerce,
        writer=world.commerce,
        stores=world.commerce,
        pricing=PricingService(
            source=world.catalogue, products=world.catalogue, tiers=world.catalogue
        ),
        sleep=trigger_runs,
    )
    placed = service.place(
        request, identity=Identity("alice", None), idempotency_key=None, wait_s=5
    )
    assert placed.order.value.status is OrderStatus.CONFIRMED


def test_wait_gives_up_with_the_pending_order(world: World) -> None:
    ticks = iter(range(1000))
    service = OrderService(
        orders=world.commerce,
        writer=world.commerce,
        stores=world.commerce,
        pricing=PricingService(
            source=world.catalogue, products=world.catalogue, tiers=world.catalogue
        ),
        sleep=lambda _: None,
        monotonic=lambda: float(next(ticks)),
    )
    request = OrderRequest(
        store_id=STORE,
        shipping_address=DELIVERY_ADDRESS,
        lines=[OrderLineRequest(product_id="apple", quantity=1)],
    )
    placed = service.place(
        request, identity=Identity("alice", None), idempotency_key=None, wait_s=3
    )
    assert placed.order.value.status is OrderStatus.PENDING


# --- reserving -----------------------------------------------------------------------------


def test_reserve_confirms_with_a_hold_and_writes_the_ledger_in_the_same_commit(
    world: World,
) -> None:
    _admin_put(world, "apple", 5)
    _admin_put(world, "pear", 2)
    order = world.place([("apple", 3), ("pear", 2)])
    commits = world.commerce.commits
    assert world.fulfilment.reserve(order.id) == "confirmed"
    assert world.commerce.commits == commits + 1
    confirmed = world.order(order.id)
    assert confirmed.status is OrderStatus.CONFIRMED and confirmed.stock_state == "held"
    assert confirmed.hold_expires_at == NOW + timedelta(minutes=15)
    apple = world.commerce.level(STORE, "apple")
    assert (apple.on_hand, apple.reserved, apple.available) == (5, 3, 2)
    reserve_row = world.commerce.ledger(STORE, "apple")[-1]
    assert reserve_row.id == f"{order.id}-reserve"
    assert (reserve_row.delta_reserved, reserve_row.on_hand_after, reserve_row.reserved_after) == (
        3,
        5,
        3,
    )
    assert world.commerce.level(STORE, "pear").available == 0
    world.audit_clean()


def test_reserve_rejects_short_lines_all_or_nothing_and_leaves_stock_untouched(
    world: World,
) -> None:
    _admin_put(world, "apple", 5)
    _admin_put(world, "pear", 1)
    order = world.place([("apple", 2), ("pear", 3)])
    assert world.fulfilment.reserve(order.id) == "rejected"
    rejected = world.order(order.id)
    assert rejected.status is OrderStatus.REJECTED and rejected.stock_state == "none"
    assert [s.model_dump() for s in rejected.shortfalls] == [
        {"product_id": "pear", "requested": 3, "available": 1}
    ]
    assert world.commerce.level(STORE, "apple").reserved == 0
    assert world.commerce.level(STORE, "pear").reserved == 0
    assert len(world.commerce.movements) == 2  # only the two counts
    world.audit_clean()


def test_a_product_never_stocked_at_the_store_is_short_with_nothing_available(
    world: World,
) -> None:
    order = world.place([("apple", 1)])
    assert world.fulfilment.reserve(order.id) == "rejected"
    assert world.order(order.id).shortfalls[0].available == 0


def test_reserving_again_changes_nothing(world: World) -> None:
    _admin_put(world, "apple", 5)
    order = _confirmed(world, [("apple", 2)])
    snapshot = (dict(world.commerce.levels), dict(world.commerce.movements), world.order(order.id))
    commits = world.commerce.commits
    assert world.fulfilment.reserve(order.id) == "already confirmed"
    assert world.commerce.commits == commits
    assert snapshot == (
        dict(world.commerce.levels),
        dict(world.commerce.movements),
        world.order(order.id),
    )


def test_a_lost_race_is_decided_again_on_fresh_levels(world: World) -> None:
    _admin_put(world, "apple", 1)
    ours = world.place([("apple", 1)])
    theirs = world.place([("apple", 1)], uid="bob")
    world.commerce.interleave(lambda: world.fulfilment.reserve(theirs.id))
    assert world.fulfilment.reserve(ours.id) == "rejected"
    assert world.order(theirs.id).status is OrderStatus.CONFIRMED
    assert world.commerce.lost_races == 1 and len(world.sleeps) == 1
    assert world.commerce.level(STORE, "apple").reserved == 1
    world.audit_clean()


def test_aborted_commits_are_retried(world: World) -> None:
    _admin_put(world, "apple", 1)
    order = world.place([("apple", 1)])
    world.commerce.fail_commits(3)
    assert world.fulfilment.reserve(order.id) == "confirmed"
    assert len(world.sleeps) == 3


def test_contention_outliving_the_retries_leaves_the_order_pending_for_expire_due(
    world: World,
) -> None:
    _admin_put(world, "apple", 1)
    order = world.place([("apple", 1)])
    world.commerce.fail_commits(FAST.attempts)
    with pytest.raises(Contention):
        world.fulfilment.reserve(order.id)
    assert world.order(order.id).status is OrderStatus.PENDING
    assert world.commerce.level(STORE, "apple").reserved == 0
    # Not yet stale: left to its trigger.
    assert world.fulfilment.expire_due(NOW + STALE_AFTER / 2).reservations_redriven == 0
    report = world.fulfilment.expire_due(NOW + STALE_AFTER + timedelta(seconds=1))
    assert report.reservations_redriven == 1
    assert world.order(order.id).status is OrderStatus.CONFIRMED
    world.audit_clean()


@pytest.mark.parametrize("multi_line", [False, True])
def test_concurrent_reservations_never_oversell(world: World, multi_line: bool) -> None:
    _admin_put(world, "apple", 10)
    _admin_put(world, "pear", 10)
    lines = [("apple", 1), ("pear", 1)] if multi_line else [("apple", 1)]
    orders = [world.place(lines, uid=f"u{i}") for i in range(40)]
    barrier = threading.Barrier(len(orders))
    outcomes: list[str] = []

    def run(order_id: str) -> None:
        barrier.wait()
        outcomes.append(world.fulfilment.reserve(order_id))

    threads = [threading.Thread(target=run, args=(o.id,)) for o in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes).count("confirmed") == 10 and outcomes.count("rejected") == 30
    for product in ("apple", "pear") if multi_line else ("apple",):
        level = world.commerce.level(STORE, product)
        assert (level.reserved, level.available) == (10, 0)
    world.audit_clean()


# --- cancelling, shipping, delivering, refunding, expiring -----------------------------------


def test_the_owner_cancels_a_confirmed_order_and_its_trigger_releases_once(world: World) -> None:
    _admin_put(world, "apple", 4)
    order = _confirmed(world, [("apple", 3)])
    cancelled = world.orders.cancel(order.id, uid="alice", is_admin=False, expected_version=None)
    assert cancelled.value.status is OrderStatus.CANCELLED
    assert cancelled.value.hold_expires_at is None
    assert world.commerce.level(STORE, "apple").reserved == 3  # the trigger has not run yet
    for _ in range(2):  # delivered twice
        world.fulfilment.on_status_change(
            order.id, before=OrderStatus.CONFIRMED, after=OrderStatus.CANCELLED
        )
    apple = world.commerce.level(STORE, "apple")
    assert (apple.on_hand, apple.reserved) == (4, 0)
    assert [m.id for m in world.commerce.ledger(STORE, "apple")][-1] == f"{order.id}-release"
    assert world.order(order.id).stock_state == "released"
    world.audit_clean()


def test_cancelling_a_pending_order_releases_nothing(world: World) -> None:
    _admin_put(world, "apple", 1)
    order = world.place([("apple", 1)])
    world.orders.cancel(order.id, uid="alice", is_admin=False, expected_version=None)
    assert world.fulfilment.reserve(order.id) == "already cancelled"
    assert world.fulfilment.settle_stock(order.id).startswith("nothing to settle")
    assert world.commerce.level(STORE, "apple").reserved == 0
    world.audit_clean()


def test_who_may_cancel_when(world: World) -> None:
    _admin_put(world, "apple", 10)
    order = _confirmed(world, [("apple", 1)])
    with pytest.raises(NotFound):  # another customer learns nothing
        world.orders.cancel(order.id, uid="mallory", is_admin=False, expected_version=None)
    _move(world, order, OrderStatus.PROCESSING)
    with pytest.raises(Conflict, match="pending or confirmed"):
        world.orders.cancel(order.id, uid="alice", is_admin=False, expected_version=None)
    world.orders.cancel(order.id, uid="admin-1", is_admin=True, expected_version=None)
    world.fulfilment.on_status_change(
        order.id, before=OrderStatus.PROCESSING, after=OrderStatus.CANCELLED
    )
    with pytest.raises(Conflict):
        world.orders.cancel(order.id, uid="alice", is_admin=False, expected_version=None)
    shipped = _move(
        world, _confirmed(world, [("apple", 1)]), OrderStatus.PROCESSING, OrderStatus.SHIPPED
    )
    with pytest.raises(Conflict):
        world.orders.cancel(shipped.id, uid="admin-1", is_admin=True, expected_version=None)
    world.audit_clean()


def test_concurrent_cancels_commit_once(world: World) -> None:
    _admin_put(world, "apple", 2)
    order = _confirmed(world, [("apple", 2)])
    world.commerce.interleave(
        lambda: world.orders.cancel(order.id, uid="admin-1", is_admin=True, expected_version=None)
    )
    with pytest.raises(Conflict):
        world.orders.cancel(order.id, uid="alice", is_admin=False, expected_version=None)
    history = [c.status for c in world.order(order.id).history]
    assert history.count(OrderStatus.CANCELLED) == 1
    world.fulfilment.settle_stock(order.id)
    world.fulfilment.settle_stock(order.id)
    assert world.commerce.level(STORE, "apple").reserved == 0
    world.audit_clean()


def test_a_stale_if_match_is_412_not_retried(world: World) -> None:
    order = world.place([("apple", 1)])
    with pytest.raises(PreconditionFailed):
        world.orders.cancel(order.id, uid="alice", is_admin=False, expected_version="1")


@pytest.mark.parametrize(
    "status",
    [OrderStatus.CONFIRMED, OrderStatus.REJECTED, OrderStatus.EXPIRED, OrderStatus.PENDING],
)
def test_admins_cannot_set_the_systems_statuses(world: World, status: OrderStatus) -> None:
    order = world.place([("apple", 1)])
    with pytest.raises(Conflict, match="system"):
        world.orders.set_status(order.id, status, expected_version=None)


def test_admin_moves_follow_the_machine(world: World) -> None:
    order = world.place([("apple", 1)])
    with pytest.raises(Conflict):
        world.orders.set_status(order.id, OrderStatus.SHIPPED, expected_version=None)
    with pytest.raises(Conflict):
        world.orders.set_status(order.id, OrderStatus.PROCESSING, expected_version=None)


def test_shipping_commits_the_held_stock_once(world: World) -> None:
    _admin_put(world, "apple", 5)
    order = _confirmed(world, [("apple", 2)])
    _move(world, order, OrderStatus.PROCESSING, OrderStatus.SHIPPED)
    world.fulfilment.on_status_change(
        order.id, before=OrderStatus.PROCESSING, after=OrderStatus.SHIPPED
    )  # redelivered
    apple = world.commerce.level(STORE, "apple")
    assert (apple.on_hand, apple.reserved, apple.available) == (3, 0, 3)
    assert world.commerce.ledger(STORE, "apple")[-1].id == f"{order.id}-commit"
    assert world.order(order.id).stock_state == "committed"
    world.audit_clean()


def test_delivery_counts_stats_and_earns_a_tier_and_a_refund_takes_it_back(world: World) -> None:
    world.commerce.add_customer("alice")
    _admin_put(world, "apple", 100)
    silver = next(t for t in DEMO_TIERS if t.code == "SILVER").requirements
    assert silver.min_orders == 5
    orders = []
    for _ in range(5):
        order = _confirmed(world, [("apple", 10)])  # 2 500 cents each
        orders.append(
            _move(world, order, OrderStatus.PROCESSING, OrderStatus.SHIPPED, OrderStatus.DELIVERED)
        )
    standing = world.commerce.standing("alice")
    assert standing is not None
    assert (standing.value.stats.orders_count, standing.value.stats.lifetime_spend) == (
        5,
        {"EUR": 12_500},
    )
    assert standing.value.tier == "SILVER"
    # The same delivery event again: nothing changes.
    world.fulfilment.on_status_change(
        orders[0].id, before=OrderStatus.SHIPPED, after=OrderStatus.DELIVERED
    )
    assert world.commerce.standing("alice") == standing
    _move(world, orders[0], OrderStatus.REFUNDED)
    world.fulfilment.on_status_change(
        orders[0].id, before=OrderStatus.DELIVERED, after=OrderStatus.REFUNDED
    )
    after = world.commerce.standing("alice")
    assert after is not None
    assert (after.value.stats.orders_count, after.value.stats.lifetime_spend) == (
        4,
        {"EUR": 10_000},
    )
    assert after.value.tier == "BRONZE"
    assert (orders[0].id, "reverse") in world.commerce.markers
    world.audit_clean()


def test_a_locked_tier_is_kept(world: World) -> None:
    world.commerce.add_customer("alice", tier="GOLD", locked=True)
    _admin_put(world, "apple", 5)
    _move(
        world,
        _confirmed(world, [("apple", 1)]),
        OrderStatus.PROCESSING,
        OrderStatus.SHIPPED,
        OrderStatus.DELIVERED,
    )
    standing = world.commerce.standing("alice")
    assert standing is not None
    assert standing.value.tier == "GOLD" and standing.value.stats.orders_count == 1


def test_refund_and_delivery_effects_commute(world: World) -> None:
    world.commerce.add_customer("alice")
    _admin_put(world, "apple", 5)
    order = _confirmed(world, [("apple", 1)])
    for status in (
        OrderStatus.PROCESSING,
        OrderStatus.SHIPPED,
        OrderStatus.DELIVERED,
        OrderStatus.REFUNDED,
    ):
        world.orders.set_status(order.id, status, expected_version=None)
    # Events arrive in reverse order, each twice.
    for before, after in [
        (OrderStatus.DELIVERED, OrderStatus.REFUNDED),
        (OrderStatus.SHIPPED, OrderStatus.DELIVERED),
        (OrderStatus.PROCESSING, OrderStatus.SHIPPED),
    ] * 2:
        world.fulfilment.on_status_change(order.id, before=before, after=after)
    standing = world.commerce.standing("alice")
    assert standing is not None
    assert (standing.value.stats.orders_count, standing.value.stats.lifetime_spend) == (0, {})
    assert world.commerce.level(STORE, "apple").on_hand == 4
    world.audit_clean()


def test_no_profile_means_no_stats_and_no_marker(world: World) -> None:
    _admin_put(world, "apple", 5)
    order = _confirmed(world, [("apple", 1)])
    _move(world, order, OrderStatus.PROCESSING, OrderStatus.SHIPPED, OrderStatus.DELIVERED)
    assert world.commerce.markers == set()


def test_expire_due_expires_only_holds_that_ended(world: World) -> None:
    _admin_put(world, "apple", 5)
    early = _confirmed(world, [("apple", 1)])
    world.clock.now = NOW + timedelta(minutes=10)
    late = _confirmed(world, [("apple", 2)])
    paid = _move(world, _confirmed(world, [("apple", 1)]), OrderStatus.PROCESSING)
    report = world.fulfilment.expire_due(NOW + timedelta(minutes=16))
    assert report.expired == 1
    assert world.order(early.id).status is OrderStatus.EXPIRED
    assert world.order(late.id).status is OrderStatus.CONFIRMED
    assert world.order(paid.id).status is OrderStatus.PROCESSING
    # Until the trigger runs the stock is still held; expire_due's re-drive or the trigger
    # releases it exactly once.
    world.fulfilment.on_status_change(
        early.id, before=OrderStatus.CONFIRMED, after=OrderStatus.EXPIRED
    )
    world.fulfilment.expire_due(NOW + timedelta(hours=1))  # expires `late`; its trigger is lost
    world.fulfilment.expire_due(NOW + timedelta(hours=1))  # the next run releases it
    assert world.order(late.id).status is OrderStatus.EXPIRED
    assert world.commerce.level(STORE, "apple").reserved == 1  # the paid order only
    world.audit_clean()


def test_expire_due_redrives_a_lost_release(world: World) -> None:
    _admin_put(world, "apple", 5)
    order = _confirmed(world, [("apple", 2)])
    world.orders.cancel(order.id, uid="alice", is_admin=False, expected_version=None)
    # The trigger never ran.
    report = world.auditor.run()
    assert [p.order_id for p in report.pending_effects] == [order.id]
    assert [d.kind for d in report.drifts] == ["reserved_vs_orders"]
    assert world.fulfilment.expire_due(NOW + timedelta(seconds=5)).stock_effects_redriven == 0
    report_later = world.fulfilment.expire_due(NOW + timedelta(minutes=1))
    assert report_later.stock_effects_redriven == 1
    assert world.commerce.level(STORE, "apple").reserved == 0
    world.audit_clean()


# --- inventory -----------------------------------------------------------------------------


def test_put_creates_a_level_with_its_ledger_row_then_updates_it(world: World) -> None:
    found, created = world.inventory.put(
        store_id=STORE,
        variant_id="apple",
        body=StockPut(on_hand=7, low_stock_threshold=2),
        actor="admin:a",
        expected_version=None,
    )
    assert created and (found.value.on_hand, found.value.low_stock_threshold) == (7, 2)
    row = world.commerce.ledger(STORE, "apple")[0]
    assert (row.kind, row.delta_on_hand, row.actor, row.on_hand_after) == ("set", 7, "admin:a", 7)
    again, created = world.inventory.put(
        store_id=STORE,
        variant_id="apple",
        body=StockPut(on_hand=1),
        actor="admin:a",
        expected_version=found.version,
    )
    assert not created and again.value.low_stock and again.value.low_stock_threshold == 2
    with pytest.raises(PreconditionFailed):
        world.inventory.put(
            store_id=STORE,
            variant_id="apple",
            body=StockPut(on_hand=3),
            actor="admin:a",
            expected_version=found.version,
        )
    world.audit_clean()


def test_stock_below_what_is_reserved_is_409(world: World) -> None:
    _admin_put(world, "apple", 5)
    _confirmed(world, [("apple", 4)])
    with pytest.raises(Conflict):
        _admin_put(world, "apple", 3)
    with pytest.raises(Conflict):
        world.inventory.adjust(
            store_id=STORE,
            variant_id="apple",
            body=StockAdjustment(delta=-2, reason="broken"),
            actor="admin:a",
        )
    adjusted = world.inventory.adjust(
        store_id=STORE,
        variant_id="apple",
        body=StockAdjustment(delta=-1, reason="broken"),
        actor="admin:a",
    )
    assert (adjusted.level.value.on_hand, adjusted.level.value.available) == (4, 0)
    assert adjusted.movement.reason == "broken" and adjusted.movement.kind == "adjust"
    world.audit_clean()


def test_inventory_needs_a_known_store_and_product(world: World) -> None:
    with pytest.raises(NotFound, match="store"):
        world.inventory.put(
            store_id="nowhere",
            variant_id="apple",
            body=StockPut(on_hand=1),
            actor="a",
            expected_version=None,
        )
    with pytest.raises(NotFound, match="product"):
        world.inventory.adjust(
            store_id=STORE, variant_id="ghost", body=StockAdjustment(delta=1, reason="r"), actor="a"
        )
    with pytest.raises(NotFound):
        world.inventory.movements(store_id=STORE, variant_id="apple", limit=10, cursor=None)


def test_an_admin_count_racing_a_reservation_is_retried_on_fresh_data(world: World) -> None:
    _admin_put(world, "apple", 5)
    order = world.place([("apple", 2)])
    world.commerce.interleave(lambda: world.fulfilment.reserve(order.id))
    world.inventory.adjust(
        store_id=STORE,
        variant_id="apple",
        body=StockAdjustment(delta=3, reason="delivery"),
        actor="admin:a",
    )
    apple = world.commerce.level(STORE, "apple")
    assert (apple.on_hand, apple.reserved) == (8, 2)
    world.audit_clean()


def test_movements_list_newest_first_in_pages(world: World) -> None:
    for count in (1, 2, 3):
        _admin_put(world, "apple", count)
    page = world.inventory.movements(store_id=STORE, variant_id="apple", limit=2, cursor=None)
    assert [m.on_hand_after for m in page.items] == [3, 2]
    rest = world.inventory.movements(
        store_id=STORE, variant_id="apple", limit=2, cursor=page.next_cursor
    )
    assert [m.on_hand_after for m in rest.items] == [1] and rest.next_cursor is None


def test_the_auditor_reports_every_kind_of_drift(world: World) -> None:
    _admin_put(world, "apple", 5)
    _confirmed(world, [("apple", 2)])
    key = (STORE, "apple")
    tampered = world.commerce.levels[key].value.model_copy(update={"on_hand": 9, "reserved": 1})
    world.commerce.levels[key] = world.commerce.levels[key].__class__(tampered, "x")
    kinds = sorted(d.kind for d in world.auditor.run().drifts)
    assert kinds == ["on_hand_vs_ledger", "reserved_vs_ledger", "reserved_vs_orders"]


def test_customers_list_only_their_own_orders(world: World) -> None:
    mine = [world.place([("apple", 1)]) for _ in range(3)]
    world.place([("apple", 1)], uid="bob")
    page = world.orders.list(
        uid="alice", is_admin=False, user_id=None, status=None, limit=2, cursor=None
    )
    rest = world.orders.list(
        uid="alice", is_admin=False, user_id=None, status=None, limit=2, cursor=page.next_cursor
    )
    assert {o.id for o in [*page.items, *rest.items]} == {o.id for o in mine}
    with pytest.raises(Forbidden):
        world.orders.list(
            uid="alice", is_admin=False, user_id="bob", status=None, limit=2, cursor=None
        )
    everyone = world.orders.list(
        uid="root", is_admin=True, user_id=None, status=None, limit=10, cursor=None
    )
    assert len(everyone.items) == 4
    with pytest.raises(NotFound):
        world.orders.get(mine[0].id, uid="bob", is_admin=False)


# --- properties ----------------------------------------------------------------------------

_ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["order", "cancel", "ship", "expire", "adjust", "count"]),
        st.integers(min_value=0, max_value=7),
        st.integers(min_value=1, max_value=4),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=_ACTIONS)
def test_any_sequence_of_operations_keeps_stock_exact(
    actions: list[tuple[str, int, int]],
) -> None:
    world = make_world()  # a fresh world per example
    _admin_put(world, "apple", 6)
    _admin_put(world, "pear", 3)
    placed: list[str] = []
    for action, pick, amount in actions:
        target = placed[pick % len(placed)] if placed else None
        try:
            if action == "order":
                order = world.place([("apple", amount), ("pear", amount % 2 + 1)])
                world.fulfilment.reserve(order.id)
                placed.append(order.id)
            elif action == "cancel" and target:
                before = world.order(target).status
                world.orders.cancel(target, uid="alice", is_admin=True, expected_version=None)
                world.fulfilment.on_status_change(
                    target, before=before, after=OrderStatus.CANCELLED
                )
            elif action == "ship" and target:
                _move(world, world.order(target), OrderStatus.PROCESSING, OrderStatus.SHIPPED)
            elif action == "expire":
                world.clock.now += timedelta(minutes=amount * 5)
                before = {oid: world.order(oid).status for oid in placed}
                world.fulfilment.expire_due(world.clock.now)
                for oid, status in before.items():  # the triggers of what expired
                    world.fulfilment.on_status_change(
                        oid, before=status, after=world.order(oid).status
                    )
            elif action == "adjust":
                world.inventory.adjust(
                    store_id=STORE,
                    variant_id="apple",
                    body=StockAdjustment(delta=amount - 2 or 1, reason="r"),
                    actor="a",
                )
            elif action == "count":
                _admin_put(world, "pear", amount)
        except Conflict:
            pass  # an illegal move or a count below what is reserved: refused, nothing written
        for level in world.commerce.every_level():
            assert 0 <= level.reserved <= level.on_hand
    world.audit_clean()


def test_orders_price_from_strict_inputs_only() -> None:
    # Money never comes from a cache entry that may predate an edit: every pricing input an
    # order reads is asked for strictly (the adapter then reads the cache epochs fresh).
    world = make_world()
    world.place([("apple", 2)])
    assert world.catalogue.snapshots and all(world.catalogue.snapshots)
    assert world.catalogue.tier_reads and all(world.catalogue.tier_reads)
