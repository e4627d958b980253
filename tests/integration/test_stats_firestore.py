"""Customer stats per currency against the Firestore emulator: the stats effect writes spend per
currency and its markers (with what each step moved) in one batch, a profile stored with a
scalar ``lifetime_spend`` reads as the shop's currency and is written back as a map, a partial
refund takes its share back once, and racing or replayed effects apply each step once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from google.cloud import firestore

from celeste.accounts.profiles import ProfileView
from celeste.accounts.tiers import Tier, TierRequirements
from celeste.kernel.ids import new_id
from celeste.orders.order import Order, OrderLine, StatusChange
from celeste.orders.payments import Payment, Refund
from celeste.orders.stats import refund_marker
from celeste.orders.status import OrderStatus
from celeste.services.fulfilment import OrderFulfilment
from celeste.services.retry import Backoff
from celeste.services.tiers import TierService
from celeste.writes import CreateOrder, UpdateOrder
from celeste_functions.adapters.accounts import FirestoreCustomers, FirestoreProfiles
from celeste_functions.adapters.inventory import FirestoreInventory
from celeste_functions.adapters.orders import FirestoreOrders
from tests.fakes import InMemoryTiers
from tests.support.writers import uncached_writer

pytestmark = pytest.mark.integration

T0 = datetime.now(UTC) - timedelta(days=1)
S = OrderStatus
#: A ladder whose spend requirement counts US dollars.
LADDER = [
    Tier(code="BRONZE", name="Bronze", level=1, is_default=True),
    Tier(
        code="DOLLAR",
        name="Dollar",
        level=2,
        requirements=TierRequirements(min_lifetime_spend=5_000, currency="USD"),
    ),
]


def _fulfilment(db: firestore.Client) -> OrderFulfilment:
    return OrderFulfilment(
        orders=FirestoreOrders(client=lambda: db),
        inventory=FirestoreInventory(client=lambda: db),
        writer=uncached_writer(db),
        customers=FirestoreCustomers(client=lambda: db),
        tiers=TierService(repository=InMemoryTiers(LADDER)),
        backoff=Backoff(attempts=60, base_s=0.01, budget_s=60),
    )


def _delivered(db: firestore.Client, *, total: int, currency: str) -> Order:
    """A delivered, paid order of ``alice`` in ``currency``, stored."""
    statuses = [S.PENDING, S.CONFIRMED, S.PROCESSING, S.SHIPPED, S.DELIVERED]
    order = Order(
        id=new_id(),
        user_id="alice",
        store_id="store-it",
        status=S.DELIVERED,
        lines=[
            OrderLine(
                product_id="apple",
                quantity=1,
                currency=currency,
                unit_base_price=total,
                unit_final_price=total,
                line_subtotal=total,
                line_discount=0,
                line_total=total,
            )
        ],
        currency=currency,
        tier="BRONZE",
        subtotal=total,
        discount_total=0,
        total=total,
        stock_state="committed",
        history=[
            StatusChange(status=s, at=T0 + timedelta(minutes=i), actor="admin")
            for i, s in enumerate(statuses)
        ],
        payment=Payment(
            intent_id=f"pi_{new_id()}",
            status="succeeded",
            amount=total,
            currency=currency.lower(),
            amount_received=total,
        ),
        created_at=T0,
        updated_at=T0,
    )
    uncached_writer(db).commit([CreateOrder(order)])
    return order


def _refunded(db: firestore.Client, order_id: str, *, key: str, amount: int) -> Order:
    """The stored order after a refund of ``amount`` succeeded (as the refund path records it)."""
    orders = FirestoreOrders(client=lambda: db)
    found = orders.get(order_id)
    payment = found.value.payment
    assert payment is not None
    refund = Refund(
        key=key, amount=amount, reason="it", state="succeeded", requested_at=T0, completed_at=T0
    )
    after = payment.model_copy(update={"refunds": [*payment.refunds, refund]})
    done = sum(r.amount for r in after.refunds)
    target = S.REFUNDED if done >= payment.amount_received else S.PARTIALLY_REFUNDED
    moved = found.value.move(target, actor="admin", at=datetime.now(UTC), payment=after).order
    uncached_writer(db).commit([UpdateOrder(moved, expected_version=found.version)])
    return moved


def _stats(db: firestore.Client) -> dict[str, object]:
    return dict((db.collection("users").document("alice").get().to_dict() or {})["stats"])


def test_spend_is_stored_per_currency_and_a_legacy_scalar_reads_as_the_shop_currency(
    db: firestore.Client,
) -> None:
    # A profile written before spend was per currency: one number.
    db.collection("users").document("alice").set(
        {
            "display_name": "Alice",
            "email": "alice@example.com",
            "tier": "BRONZE",
            "stats": {"orders_count": 2, "lifetime_spend": 4_200, "recent_deliveries": []},
            "created_at": T0,
            "updated_at": T0,
        }
    )
    legacy = FirestoreProfiles(client=lambda: db).get("alice").value
    assert legacy.stats.lifetime_spend == {"EUR": 4_200}
    view = ProfileView.of(legacy, now=datetime.now(UTC)).model_dump(mode="json")
    assert view["stats"]["lifetime_spend"] == {"EUR": 4_200}

    fulfilment = _fulfilment(db)
    usd = _delivered(db, total=6_000, currency="USD")
    yen = _delivered(db, total=6_000, currency="JPY")
    assert fulfilment.settle_stats(usd.id) == "count applied, tier now DOLLAR"
    assert fulfilment.settle_stats(yen.id) == "count applied"
    assert fulfilment.settle_stats(usd.id) == "stats up to date"
    stored = _stats(db)
    assert stored["orders_count"] == 4
    assert stored["lifetime_spend"] == {"EUR": 4_200, "USD": 6_000, "JPY": 6_000}
    marker = db.document(f"orders/{usd.id}/effects/count").get().to_dict() or {}
    assert (marker["amount"], marker["currency"]) == (6_000, "USD")
    assert FirestoreProfiles(client=lambda: db).get("alice").value.tier == "DOLLAR"

    # A partial refund of the dollar order takes its share back, once, and the tier with it.
    key = f"{usd.id}-r1"
    _refunded(db, usd.id, key=key, amount=1_500)
    assert fulfilment.settle_stats(usd.id) == f"{refund_marker(key)} applied, tier now BRONZE"
    assert fulfilment.settle_stats(usd.id) == "stats up to date"
    stored = _stats(db)
    assert stored["orders_count"] == 4
    assert stored["lifetime_spend"] == {"EUR": 4_200, "USD": 4_500, "JPY": 6_000}
    share = db.document(f"orders/{usd.id}/effects/{refund_marker(key)}").get().to_dict() or {}
    assert (share["amount"], share["currency"]) == (1_500, "USD")

    # The rest refunded: the order and what is left of its spend leave the stats.
    _refunded(db, usd.id, key=f"{usd.id}-r2", amount=4_500)
    fulfilment.settle_stats(usd.id)
    stored = _stats(db)
    assert stored["orders_count"] == 3
    assert stored["lifetime_spend"] == {"EUR": 4_200, "JPY": 6_000}


def test_racing_stats_effects_apply_every_step_once(db: firestore.Client) -> None:
    db.collection("users").document("alice").set({"display_name": "Alice", "tier": "BRONZE"})
    order = _delivered(db, total=3_000, currency="USD")
    _refunded(db, order.id, key=f"{order.id}-r1", amount=1_000)
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            _fulfilment(db).settle_stats(order.id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    stored = _stats(db)
    assert (stored["orders_count"], stored["lifetime_spend"]) == (1, {"USD": 2_000})
    markers = sorted(s.id for s in db.collection(f"orders/{order.id}/effects").stream())
    assert markers == ["count", refund_marker(f"{order.id}-r1")]
