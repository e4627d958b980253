"""Payment rules and the payment service over fakes: when an intent is made, cancelled or
refunded, what state the order goes to, and that refunds never exceed what was paid."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from celeste.kernel.errors import Conflict, Contention, ValidationFailed
from celeste.orders.payment_provider import (
    Intent,
    InvalidSignature,
    ProviderDispute,
    ProviderRefund,
    ProviderUnavailable,
)
from celeste.orders.payments import (
    Payment,
    Refund,
    RefundRequest,
    RestockLine,
    after_refund,
    below_minimum,
    disputed,
    external_refunds,
    minimum_charge,
    payment_due,
    plan_refund,
    require_chargeable,
    success_outcome,
)
from celeste.orders.status import OrderStatus
from celeste.services.fulfilment import OrderFulfilment
from celeste.services.payment_events import PaymentEventService
from celeste.services.payments import PaymentService
from celeste.services.placing import OrderService
from celeste.services.pricing import PricingService
from celeste.services.refunds import Refunds
from celeste.services.retry import Backoff
from tests.fakes import (
    DELIVERY_ADDRESS,
    FakeStripe,
    InMemoryCatalogue,
    InMemoryCommerce,
    InMemoryPaymentRecords,
    InventoryView,
)
from tests.unit.test_order_service import Clock

S = OrderStatus
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
FAST = Backoff(attempts=50, base_s=0.0, cap_s=0.0, budget_s=60.0)
STORE = "store-1"


def payment(**changes: object) -> Payment:
    base = Payment(intent_id="pi_1", amount=1_000, currency="EUR")
    return base.model_copy(update=changes)


def intent(**changes: object) -> Intent:
    values: dict[str, object] = {
        "id": "pi_1",
        "status": "succeeded",
        "amount": 1_000,
        "amount_received": 1_000,
        "currency": "EUR",
        "order_id": "o1",
    }
    values.update(changes)
    return Intent(**values)  # type: ignore[arg-type]


def pending_refund(amount: int, key: str = "k") -> Refund:
    return Refund(key=key, amount=amount, reason="r", requested_at=NOW)


# --- the rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "pay", "due"),
    [
        (S.PENDING, None, None),
        (S.CONFIRMED, None, "intent"),
        (S.CANCELLED, None, None),
        (S.CONFIRMED, payment(), None),
        (S.CANCELLED, payment(), "cancel"),
        (S.EXPIRED, payment(), "cancel"),
        (S.PROCESSING, payment(), "cancel"),  # marked paid by hand: the intent is not needed
        (S.CANCELLED, payment(status="canceled"), None),
        (S.CANCELLED, payment(status="succeeded", amount_received=1_000), "refund"),
        (S.EXPIRED, payment(status="succeeded", amount_received=1_000), "refund"),
        (S.PROCESSING, payment(status="succeeded", amount_received=1_000), None),
        (
            S.CANCELLED,
            payment(
                status="refunded",
                amount_received=1_000,
                amount_refunded=1_000,
                refunds=[pending_refund(1_000).model_copy(update={"state": "succeeded"})],
            ),
            None,
        ),
        (
            S.DELIVERED,
            payment(status="succeeded", amount_received=1_000, refunds=[pending_refund(300)]),
            "refund",
        ),
    ],
)
def test_payment_due(status: OrderStatus, pay: Payment | None, due: str | None) -> None:
    assert payment_due(status=status, payment=pay) == due


@pytest.mark.parametrize(
    ("status", "pay", "got", "outcome"),
    [
        (S.CONFIRMED, payment(), intent(), "pay"),
        (S.CONFIRMED, payment(), intent(amount_received=999), "mismatch"),
        (S.CONFIRMED, payment(), intent(currency="USD"), "mismatch"),
        (S.CONFIRMED, payment(), intent(id="pi_other"), "mismatch"),
        (S.CONFIRMED, payment(), intent(currency="eur"), "pay"),
        (S.CANCELLED, payment(), intent(), "void"),
        (S.EXPIRED, payment(), intent(), "void"),
        (S.PROCESSING, payment(), intent(), "void"),  # marked paid by hand first
        (S.PROCESSING, payment(status="succeeded", amount_received=1_000), intent(), "done"),
        (S.CANCELLED, payment(status="refunded", amount_received=1_000), intent(), "done"),
    ],
)
def test_success_outcome(status: OrderStatus, pay: Payment, got: Intent, outcome: str) -> None:
    assert success_outcome(status=status, payment=pay, intent=got) == outcome


def _plan(status: OrderStatus, pay: Payment | None, request: RefundRequest, **kw: object) -> int:
    return plan_refund(
        status=status,
        payment=pay,
        request=request,
        quantities={"apple": 3},
        restocked=kw.get("restocked", {}),  # type: ignore[arg-type]
    )


PAID = payment(status="succeeded", amount_received=1_000)


def test_plan_refund_defaults_to_everything_left() -> None:
    assert _plan(S.DELIVERED, PAID, RefundRequest(reason="r")) == 1_000
    partly = PAID.model_copy(update={"refunds": [pending_refund(400)]})
    assert _plan(S.PARTIALLY_REFUNDED, partly, RefundRequest(reason="r")) == 600


@pytest.mark.parametrize(
    "status", [S.PENDING, S.CONFIRMED, S.CANCELLED, S.EXPIRED, S.REJECTED, S.REFUNDED]
)
def test_plan_refund_refuses_orders_not_in_a_refundable_state(status: OrderStatus) -> None:
    with pytest.raises(Conflict):
        _plan(status, PAID, RefundRequest(reason="r"))


def test_plan_refund_refuses_unpaid_and_over_refunds() -> None:
    with pytest.raises(Conflict, match="not paid"):
        _plan(S.PROCESSING, None, RefundRequest(reason="r"))
    with pytest.raises(Conflict, match="not paid"):
        _plan(S.PROCESSING, payment(), RefundRequest(reason="r"))
    with pytest.raises(ValidationFailed) as caught:
        _plan(S.DELIVERED, PAID, RefundRequest(amount=1_001, reason="r"))
    assert caught.value.errors[0].field == "amount"
    done = PAID.model_copy(update={"refunds": [pending_refund(1_000)]})
    with pytest.raises(Conflict, match="refunded already"):
        _plan(S.PARTIALLY_REFUNDED, done, RefundRequest(reason="r"))


def test_plan_refund_checks_restock_lines() -> None:
    def line(pid: str, qty: int) -> RestockLine:
        return RestockLine(product_id=pid, quantity=qty)

    ok = RefundRequest(reason="r", restock=[line("apple", 2)])
    assert _plan(S.DELIVERED, PAID, ok, restocked={"apple": 1}) == 1_000
    cases = [
        (RefundRequest(reason="r", restock=[line("pear", 1)]), {}, "restock[0].product_id"),
        (RefundRequest(reason="r", restock=[line("apple", 4)]), {}, "restock[0].quantity"),
        (
            RefundRequest(reason="r", restock=[line("apple", 1), line("apple", 2)]),
            {"apple": 1},
            "restock[1].quantity",
        ),
    ]
    for request, restocked, field in cases:
        with pytest.raises(ValidationFailed) as caught:
            _plan(S.DELIVERED, PAID, request, restocked=restocked)
        assert caught.value.errors[0].field == field
    assert _plan(S.PROCESSING, PAID, ok) == 1_000  # unshipped goods go back by restock


def test_refund_request_rejects_unknown_fields_and_bad_amounts() -> None:
    for bad in (
        {"reason": "r", "amount": 0},
        {"reason": "r", "amount": "5"},
        {"reason": ""},
        {"reason": "r", "price": 1},
    ):
        with pytest.raises(ValueError):
            RefundRequest.model_validate(bad)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 10_000), st.lists(st.integers(1, 10_000), max_size=12))
def test_refunds_never_exceed_what_was_paid(paid: int, asks: list[int]) -> None:
    """Whatever amounts are asked, in any order, the refunds granted sum to at most the
    payment, and the order is ``refunded`` exactly when they reach it."""
    pay = payment(status="succeeded", amount=paid, amount_received=paid)
    status = S.DELIVERED
    for index, ask in enumerate(asks):
        try:
            amount = _plan(status, pay, RefundRequest(amount=ask, reason="r"))
        except (ValidationFailed, Conflict):
            continue
        key = f"k{index}"
        pay = pay.model_copy(update={"refunds": [*pay.refunds, pending_refund(amount, key)]})
        pay = after_refund(pay, key=key, refund_id=f"re_{index}", at=NOW)
        status = S.REFUNDED if pay.amount_refunded == paid else S.PARTIALLY_REFUNDED
        assert amount == ask
    assert pay.amount_refunded <= paid
    assert (pay.status == "refunded") == (pay.amount_refunded == paid)


# --- the service over fakes ---------------------------------------------------------------------


@dataclass
class World:
    commerce: InMemoryCommerce
    stripe: FakeStripe
    records: InMemoryPaymentRecords
    orders: OrderService
    fulfilment: OrderFulfilment
    payments: PaymentService
    payment_events: PaymentEventService
    refunds: Refunds
    clock: Clock

    def confirmed(self, quantity: int = 2) -> str:
        from celeste.accounts.profiles import Identity
        from celeste.orders.requests import OrderLineRequest, OrderRequest

        request = OrderRequest(
            store_id=STORE,
            shipping_address=DELIVERY_ADDRESS,
            lines=[OrderLineRequest(product_id="apple", quantity=quantity)],
        )
        placed = self.orders.place(request, identity=Identity("alice", None), idempotency_key=None)
        order_id = placed.order.value.id
        assert self.fulfilment.reserve(order_id) == "confirmed"
        return order_id

    def with_intent(self, quantity: int = 2) -> str:
        """A confirmed order whose PaymentIntent exists."""
        order_id = self.confirmed(quantity)
        self.payments.settle(order_id)
        return order_id

    def paid(self, quantity: int = 2) -> str:
        """A confirmed order paid at Stripe, its success webhook handled (``processing``)."""
        order_id = self.with_intent(quantity)
        self.stripe.pay(self.order(order_id).payment.intent_id)
        self.webhook(order_id)
        return order_id

    def order(self, order_id: str):  # type: ignore[no-untyped-def]
        return self.commerce.get(order_id).value

    def effects(self, order_id: str, before: OrderStatus, after: OrderStatus) -> str:
        """What ``on_order_updated`` does: stock/stats effects, then the payment's."""
        self.fulfilment.on_status_change(order_id, before=before, after=after)
        return self.payments.settle(order_id)

    def webhook(
        self, order_id: str, *, event_id: str | None = None, kind: str = "succeeded"
    ) -> str:
        intent_id = self.order(order_id).payment.intent_id
        payload = self.stripe.event(intent_id, kind, event_id=event_id)
        return self.payment_events.handle_webhook(payload=payload, signature=FakeStripe.SECRET)


@pytest.fixture
def world() -> World:
    commerce = InMemoryCommerce()
    commerce.stores = {STORE: True}
    commerce.stock(STORE, "apple", 10)
    catalogue = InMemoryCatalogue()
    catalogue.add("apple", price=250)
    clock = Clock(NOW)
    stripe = FakeStripe()
    records = InMemoryPaymentRecords()
    view = InventoryView(commerce)
    pricing = PricingService(source=catalogue, products=catalogue, tiers=catalogue)
    orders = OrderService(
        orders=commerce,
        writer=commerce,
        pricing=pricing,
        stores=commerce,
        clock=clock,
        backoff=FAST,
        sleep=lambda _: None,
    )
    fulfilment = OrderFulfilment(
        orders=commerce,
        inventory=view,
        writer=commerce,
        customers=commerce,
        tiers=commerce,
        clock=clock,
        backoff=FAST,
        sleep=lambda _: None,
    )
    refunds = Refunds(
        orders=commerce,
        writer=commerce,
        inventory=view,
        provider=lambda: stripe,
        clock=clock,
        backoff=FAST,
        sleep=lambda _: None,
    )
    payment_events = PaymentEventService(
        orders=commerce,
        writer=commerce,
        records=records,
        provider=lambda: stripe,
        refunds=refunds,
        clock=clock,
        backoff=FAST,
        request_backoff=FAST,
        sleep=lambda _: None,
    )
    payments = PaymentService(
        orders=commerce,
        writer=commerce,
        records=records,
        provider=lambda: stripe,
        refunds=refunds,
        events=payment_events,
        clock=clock,
        backoff=FAST,
        request_backoff=FAST,
        sleep=lambda _: None,
    )
    return World(
        commerce, stripe, records, orders, fulfilment, payments, payment_events, refunds, clock
    )


def test_confirmed_order_gets_one_intent_for_exactly_its_total(world: World) -> None:
    oid = world.confirmed(quantity=3)
    assert world.order(oid).payment_due == "intent"
    assert world.effects(oid, S.PENDING, S.CONFIRMED) == "intent created"
    assert world.payments.settle(oid) == "nothing due"  # a redelivered trigger
    pay = world.order(oid).payment
    assert pay is not None and (pay.amount, pay.currency) == (750, "EUR")
    assert world.stripe.calls.count("create_intent") == 1
    assert world.stripe.intents[pay.intent_id]["order_id"] == oid
    assert pay.client_secret is None  # never stored on the order
    assert world.payments.client_secret(world.order(oid), uid="alice") == f"{pay.intent_id}_secret"
    assert world.payments.client_secret(world.order(oid), uid="bob") is None


def test_a_lost_intent_creation_is_redriven(world: World) -> None:
    oid = world.confirmed()
    world.stripe.down = True
    with pytest.raises(ProviderUnavailable, match="down"):
        world.effects(oid, S.PENDING, S.CONFIRMED)
    world.stripe.down = False
    assert world.order(oid).payment is None
    assert world.payments.redrive(now=NOW, stale_before=NOW) == 1
    assert world.order(oid).payment is not None and world.order(oid).payment_due is None


def test_a_crash_after_the_intent_was_made_reuses_it(world: World) -> None:
    oid = world.confirmed()
    world.commerce.fail_commits(100)  # the order write keeps failing after the intent exists
    with pytest.raises(Contention):
        world.payments.settle(oid)
    world.commerce._failures = 0  # the function restarts and the database answers again
    world.payments.settle(oid)
    assert len(world.stripe.intents) == 1  # the order id is the idempotency key


def test_racing_intent_creations_leave_one_intent_and_its_secret(world: World) -> None:
    world.stripe.ignore_keys = True  # as the local Stripe: two creates, two intents
    oid = world.confirmed()
    world.commerce.interleave(lambda: world.payments.settle(oid))  # a re-drive runs meanwhile
    assert world.payments.settle(oid) == "intent exists"
    order = world.order(oid)
    held = order.payment.intent_id
    others = {k: v["status"] for k, v in world.stripe.intents.items() if k != held}
    assert list(others.values()) == ["canceled"]  # the orphan can never be paid
    assert world.payments.client_secret(order, uid="alice") == f"{held}_secret"


def test_paid_webhook_moves_to_processing_once(world: World) -> None:
    oid = world.with_intent()
    world.stripe.pay(world.order(oid).payment.intent_id)
    assert world.webhook(oid, event_id="evt_1") == "paid"
    assert world.webhook(oid, event_id="evt_1") == "replay"
    assert world.webhook(oid, event_id="evt_2") == "already recorded"
    order = world.order(oid)
    assert order.status is S.PROCESSING and order.history[-1].actor == "stripe"
    assert [c.status for c in order.history].count(S.PROCESSING) == 1
    assert order.payment.status == "succeeded" and order.payment.amount_received == 500


def test_event_body_is_not_trusted_the_intent_is_read_again(world: World) -> None:
    oid = world.with_intent()
    # A correctly signed "succeeded" event for an intent that was never paid changes nothing.
    assert world.webhook(oid).startswith("stale event")
    assert world.order(oid).status is S.CONFIRMED


def test_bad_signature_changes_nothing(world: World) -> None:
    oid = world.with_intent()
    payload = world.stripe.event(world.order(oid).payment.intent_id)
    with pytest.raises(InvalidSignature):
        world.payment_events.handle_webhook(payload=payload, signature=None)
    with pytest.raises(InvalidSignature):
        world.payment_events.handle_webhook(payload=payload, signature="forged")
    assert world.records.events == {} and world.order(oid).status is S.CONFIRMED


def test_wrong_amount_is_not_paid_and_goes_back(world: World) -> None:
    oid = world.with_intent()
    intent_id = world.order(oid).payment.intent_id
    world.stripe.pay(intent_id, amount=1)
    assert world.webhook(oid).startswith("refunded in full")
    order = world.order(oid)
    assert order.status is S.CONFIRMED and order.payment.status == "refunded"
    assert [n.kind for n in order.payment.notes] == ["amount_mismatch"]
    assert world.stripe.refunded(intent_id) == 1


def test_payment_failed_is_recorded_once(world: World) -> None:
    oid = world.with_intent()
    assert world.webhook(oid, kind="payment_failed", event_id="evt_f") == "failure recorded"
    assert world.webhook(oid, kind="payment_failed", event_id="evt_f") == "replay"
    order = world.order(oid)
    assert order.status is S.CONFIRMED and [n.kind for n in order.payment.notes] == [
        "payment_failed"
    ]


def test_a_failure_delivered_after_the_success_changes_nothing(world: World) -> None:
    oid = world.with_intent()
    world.stripe.pay(world.order(oid).payment.intent_id)
    assert world.webhook(oid, event_id="evt_ok") == "paid"
    late = world.webhook(oid, kind="payment_failed", event_id="evt_old_failure")
    assert late.startswith("stale event")
    assert world.order(oid).payment.notes == [] and world.order(oid).status is S.PROCESSING


def test_cancel_cancels_the_intent(world: World) -> None:
    oid = world.with_intent()
    world.orders.cancel(oid, uid="alice", is_admin=False, expected_version=None)
    assert world.effects(oid, S.CONFIRMED, S.CANCELLED) == "intent cancelled"
    order = world.order(oid)
    assert order.payment.status == "canceled" and order.stock_state == "released"
    assert world.stripe.intents[order.payment.intent_id]["status"] == "canceled"


@pytest.mark.parametrize("first", ["payment", "cancel", "webhook-after-cancel-effect"])
def test_payment_racing_a_cancel_ends_cancelled_and_refunded_in_full(
    world: World, first: str
) -> None:
    oid = world.with_intent()
    intent_id = world.order(oid).payment.intent_id
    if first == "payment":  # paid and processed, then the admin cancels
        world.stripe.pay(intent_id)
        world.webhook(oid)
        world.orders.cancel(oid, uid="admin", is_admin=True, expected_version=None)
        world.effects(oid, S.PROCESSING, S.CANCELLED)
    elif first == "cancel":  # cancelled while the card was being charged: cancel fails
        world.orders.cancel(oid, uid="admin", is_admin=True, expected_version=None)
        world.stripe.pay(intent_id)
        world.effects(oid, S.CONFIRMED, S.CANCELLED)
        world.webhook(oid)  # the late success changes nothing more
    else:  # the cancel's effect ran first, then the money came anyway... impossible at
        # Stripe (a cancelled intent cannot be paid), so: paid, cancelled, webhook, effect
        world.stripe.pay(intent_id)
        world.orders.cancel(oid, uid="admin", is_admin=True, expected_version=None)
        world.webhook(oid)
        world.effects(oid, S.CONFIRMED, S.CANCELLED)
    world.payments.redrive(now=NOW, stale_before=NOW)
    order = world.order(oid)
    assert order.status is S.CANCELLED and order.stock_state == "released"
    assert order.payment.status == "refunded" and order.payment.amount_refunded == 500
    assert world.stripe.refunded(intent_id) == 500
    assert order.payment_due is None


def test_admin_refunds_partial_then_full_with_restock_once(world: World) -> None:
    oid = world.paid(quantity=4)
    for before, after in ((S.PROCESSING, S.SHIPPED), (S.SHIPPED, S.DELIVERED)):
        world.orders.set_status(oid, after, expected_version=None)
        world.fulfilment.on_status_change(oid, before=before, after=after)
    assert world.commerce.level(STORE, "apple").on_hand == 6
    body = RefundRequest(
        amount=250, reason="bruised", restock=[RestockLine(product_id="apple", quantity=1)]
    )
    first = world.payments.refund(oid, body, idempotency_key="r1").value
    again = world.payments.refund(oid, body, idempotency_key="r1").value
    assert first.status is S.PARTIALLY_REFUNDED and again.payment == first.payment
    assert world.commerce.level(STORE, "apple").on_hand == 7
    with pytest.raises(Conflict):
        world.payments.refund(oid, body.model_copy(update={"amount": 1}), idempotency_key="r1")
    with pytest.raises(ValidationFailed):
        world.payments.refund(oid, RefundRequest(amount=751, reason="x"), idempotency_key="r9")
    done = world.payments.refund(oid, RefundRequest(reason="all"), idempotency_key="r2").value
    assert done.status is S.REFUNDED and done.payment.amount_refunded == 1_000
    assert world.stripe.refunded(done.payment.intent_id) == 1_000
    restocks = [m for m in world.commerce.ledger(STORE, "apple") if "restock" in m.id]
    assert [(m.delta_on_hand, m.order_id) for m in restocks] == [(1, oid)]
    with pytest.raises(Conflict):
        world.payments.refund(oid, RefundRequest(reason="more"), idempotency_key="r3")


def test_a_refund_that_died_after_stripe_is_finished_by_the_redrive(world: World) -> None:
    oid = world.paid()
    original = world.refunds._record_refund

    def crash(*args: object, **kwargs: object) -> str:
        raise RuntimeError("the function died")

    world.refunds._record_refund = crash  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        world.payments.refund(oid, RefundRequest(reason="r"), idempotency_key="k")
    world.refunds._record_refund = original  # type: ignore[method-assign]
    assert world.order(oid).payment_due == "refund"
    world.payments.redrive(now=NOW, stale_before=NOW)
    order = world.order(oid)
    assert order.status is S.REFUNDED and world.stripe.refunded(order.payment.intent_id) == 500
    assert len(world.stripe.refunds) == 1


def test_admin_cannot_mark_a_stripe_paid_order_refunded_without_money(world: World) -> None:
    oid = world.paid()
    for status in (S.SHIPPED, S.DELIVERED):
        world.orders.set_status(oid, status, expected_version=None)
    with pytest.raises(Conflict, match="refund"):
        world.orders.set_status(oid, S.REFUNDED, expected_version=None)


def test_refunds_before_delivery_leave_the_stats_alone(world: World) -> None:
    world.commerce.add_customer("alice")
    oid = world.paid(quantity=2)
    before = world.commerce.standing("alice")
    half = world.payments.refund(oid, RefundRequest(amount=250, reason="r"), idempotency_key="a")
    assert half.value.status is S.PARTIALLY_REFUNDED
    world.fulfilment.on_status_change(oid, before=S.PROCESSING, after=S.PARTIALLY_REFUNDED)
    world.payments.refund(oid, RefundRequest(reason="r"), idempotency_key="b")
    done = world.fulfilment.on_status_change(oid, before=S.PARTIALLY_REFUNDED, after=S.REFUNDED)
    assert "never delivered (refunded): nothing to count" in done
    assert world.commerce.standing("alice") == before
    # The held stock left with the refund (restock puts back what returns to the shelf).
    assert world.order(oid).stock_state == "committed"


# --- issue 17: free and below-minimum orders (finding 7) ------------------------------------


@pytest.mark.parametrize(
    ("currency", "least"),
    [("USD", 50), ("eur", 50), ("GBP", 30), ("JPY", 50), ("HUF", 17_500), ("XYZ", 50)],
)
def test_minimum_charge_is_stripes_per_currency(currency: str, least: int) -> None:
    assert minimum_charge(currency) == least
    assert below_minimum(total=least - 1, currency=currency)
    assert not below_minimum(total=least, currency=currency)
    assert not below_minimum(total=0, currency=currency)  # free: paid at once


def test_a_total_below_the_minimum_is_refused_naming_total() -> None:
    with pytest.raises(ValidationFailed) as caught:
        require_chargeable(total=49, currency="USD")
    assert caught.value.errors[0].field == "total"
    assert "50" in caught.value.errors[0].message
    require_chargeable(total=0, currency="USD")
    require_chargeable(total=50, currency="USD")
    require_chargeable(total=7, currency=None)  # an order without lines priced: nothing to say


def _free_world(world: World, price: int) -> None:
    from celeste.services.pricing import PricingService

    catalogue = InMemoryCatalogue()
    catalogue.add("apple", price=price)
    world.orders._pricer._pricing = PricingService(  # type: ignore[attr-defined]
        source=catalogue, products=catalogue, tiers=catalogue
    )


def test_a_zero_total_order_is_paid_at_once_without_a_provider_exactly_once(
    world: World,
) -> None:
    _free_world(world, price=0)
    oid = world.confirmed(quantity=2)
    assert world.order(oid).total == 0 and world.order(oid).payment_due == "intent"
    assert world.effects(oid, S.PENDING, S.CONFIRMED) == "paid: nothing to charge"
    order = world.order(oid)
    assert order.status is S.PROCESSING and order.history[-1].actor == "system"
    assert order.payment is not None and order.payment.provider == "none"
    assert order.payment.intent_id is None and order.payment.status == "succeeded"
    assert order.payment_due is None and order.hold_expires_at is None
    assert world.stripe.calls == []  # no provider asked
    # A redelivered trigger, and the re-drive, change nothing more.
    assert world.payments.settle(oid) == "nothing due"
    assert world.payments._pay_free(oid).startswith("nothing due")
    assert world.payments.redrive(now=NOW, stale_before=NOW) == 0
    assert [c.status for c in world.order(oid).history].count(S.PROCESSING) == 1
    # Nothing was paid, so nothing can be refunded; it ships like any paid order.
    with pytest.raises(Conflict, match="not paid"):
        world.payments.refund(oid, RefundRequest(reason="r"), idempotency_key="k")
    world.orders.set_status(oid, S.SHIPPED, expected_version=None)


def test_placing_a_total_below_the_minimum_is_400_and_writes_nothing(world: World) -> None:
    from celeste.accounts.profiles import Identity
    from celeste.orders.requests import OrderLineRequest, OrderRequest

    _free_world(world, price=20)  # 2 x 0.20 EUR: Stripe charges at least 0.50 EUR
    request = OrderRequest(
        store_id=STORE,
        shipping_address=DELIVERY_ADDRESS,
        lines=[OrderLineRequest(product_id="apple", quantity=2)],
    )
    with pytest.raises(ValidationFailed) as caught:
        world.orders.place(request, identity=Identity("alice", None), idempotency_key="k1")
    assert caught.value.errors[0].field == "total"
    assert world.commerce.orders == {}
    # Three of them reach the minimum.
    three = OrderRequest(
        store_id=STORE,
        shipping_address=DELIVERY_ADDRESS,
        lines=[OrderLineRequest(product_id="apple", quantity=3)],
    )
    placed = world.orders.place(three, identity=Identity("alice", None), idempotency_key="k2")
    assert placed.order.value.total == 60


def test_an_old_order_below_the_minimum_never_asks_the_provider(world: World) -> None:
    from celeste.kernel.versions import Versioned

    oid = world.confirmed(quantity=1)
    stored = world.commerce.orders[oid]
    cheap = stored.value.model_copy(update={"total": 10})  # placed before the rule
    world.commerce.orders[oid] = Versioned(cheap, stored.version)
    assert world.payments.settle(oid).startswith("below the provider's minimum")
    assert world.stripe.calls == [] and world.order(oid).payment is None


# --- issue 17: Stripe events the shop must act on (finding 9) --------------------------------


@pytest.mark.parametrize(
    ("status", "by_hand", "got", "outcome"),
    [
        (S.PROCESSING, True, intent(), "accept"),  # marked paid by hand, then Stripe's money
        (S.SHIPPED, True, intent(), "accept"),
        (S.DELIVERED, True, intent(), "accept"),
        (S.PROCESSING, True, intent(amount_received=999), "mismatch"),
        (S.CANCELLED, True, intent(), "void"),  # the goods do not ship: the money goes back
        (S.REFUNDED, True, intent(), "void"),
        (S.PROCESSING, False, intent(), "void"),
        (S.CONFIRMED, True, intent(), "pay"),
    ],
)
def test_money_for_an_order_paid_by_hand_that_ships_is_kept(
    status: OrderStatus, by_hand: bool, got: Intent, outcome: str
) -> None:
    assert (
        success_outcome(status=status, payment=payment(), intent=got, paid_by_hand=by_hand)
        == outcome
    )


def _dispute(status: str, *, dispute_id: str = "dp_1", intent_id: str = "pi_1") -> ProviderDispute:
    return ProviderDispute(
        id=dispute_id,
        intent_id=intent_id,
        status=status,
        reason="fraudulent",
        amount=1_000,
        currency="eur",
    )


def test_a_dispute_holds_the_order_until_won_and_a_lost_one_is_not_refundable() -> None:
    paid = PAID
    opened = disputed(paid, _dispute("needs_response"), at=NOW)
    assert opened is not None and opened.on_hold and opened.dispute is not None
    assert opened.dispute.opened_at == NOW and opened.dispute.currency == "EUR"
    assert disputed(opened, _dispute("needs_response"), at=NOW) is None  # a replay
    assert disputed(opened, _dispute("won", intent_id="pi_other"), at=NOW) is None
    with pytest.raises(Conflict, match="disputed"):
        _plan(S.PROCESSING, opened, RefundRequest(reason="r"))
    won = disputed(opened, _dispute("won"), at=NOW)
    assert won is not None and not won.on_hold and won.refundable() == 1_000
    lost = disputed(opened, _dispute("lost"), at=NOW)
    assert lost is not None and lost.on_hold  # the bank took the money back: never ship
    assert lost.refundable() == 0 and lost.dispute is not None
    assert lost.dispute.opened_at == NOW
    with pytest.raises(Conflict, match="refunded already"):
        _plan(S.PROCESSING, lost, RefundRequest(reason="r"))


def test_refunds_made_outside_celeste_are_those_without_our_key_not_yet_recorded() -> None:
    ours = ProviderRefund(id="re_1", amount=100, key="o1-void")
    dash = ProviderRefund(id="re_2", amount=200)
    known = ProviderRefund(id="re_3", amount=300)
    recorded = pending_refund(300, "o1-ext-re_3").model_copy(
        update={"state": "succeeded", "refund_id": "re_3"}
    )
    pay = PAID.model_copy(update={"refunds": [recorded]})
    assert external_refunds(pay, [ours, dash, known]) == [dash]


def test_an_order_on_hold_cannot_ship(world: World) -> None:
    oid = world.paid()
    intent_id = world.order(oid).payment.intent_id
    dispute_id = world.stripe.dispute(intent_id)
    assert world.webhook(oid, kind=f"charge.dispute.created:{dispute_id}") == (
        "dispute needs_response recorded"
    )
    assert world.webhook(oid, kind=f"charge.dispute.created:{dispute_id}") == (
        "dispute needs_response already recorded"
    )
    assert world.order(oid).payment.on_hold and world.order(oid).on_hold
    with pytest.raises(Conflict, match="disputed"):
        world.orders.set_status(oid, S.SHIPPED, expected_version=None)
    world.stripe.dispute(intent_id, "won", dispute_id=dispute_id)
    assert world.webhook(oid, kind=f"charge.dispute.closed:{dispute_id}") == "dispute won recorded"
    assert not world.order(oid).on_hold
    world.orders.set_status(oid, S.SHIPPED, expected_version=None)
    assert world.order(oid).payment.dispute.status == "won"


def test_a_lost_dispute_keeps_the_hold_and_a_cancel_refunds_nothing_more(world: World) -> None:
    oid = world.paid()
    intent_id = world.order(oid).payment.intent_id
    # The closing event arrives before the opening one: the re-read state decides.
    dispute_id = world.stripe.dispute(intent_id, "lost")
    assert world.webhook(oid, kind=f"charge.dispute.closed:{dispute_id}") == "dispute lost recorded"
    assert world.webhook(oid, kind=f"charge.dispute.created:{dispute_id}").endswith(
        "already recorded"
    )
    with pytest.raises(Conflict, match="disputed"):
        world.orders.set_status(oid, S.SHIPPED, expected_version=None)
    world.orders.cancel(oid, uid="admin", is_admin=True, expected_version=None)
    world.effects(oid, S.PROCESSING, S.CANCELLED)
    assert world.order(oid).payment_due is None and world.stripe.refunds == {}


def test_a_dashboard_refund_is_recorded_once_like_an_admin_refund(world: World) -> None:
    oid = world.paid(quantity=4)  # 1 000
    intent_id = world.order(oid).payment.intent_id
    first = world.stripe.dashboard_refund(intent_id, 300)
    outcome = world.webhook(oid, kind="charge.refunded", event_id="evt_r1")
    assert outcome == f"refund made outside Celeste recorded: {first}"
    assert world.webhook(oid, kind="charge.refunded", event_id="evt_r1") == "replay"
    assert world.webhook(oid, kind="charge.refunded") == "no refund made outside Celeste"
    order = world.order(oid)
    assert order.status is S.PARTIALLY_REFUNDED and order.history[-1].actor == "stripe"
    assert [(r.amount, r.actor, r.refund_id, r.restock) for r in order.payment.refunds] == [
        (300, "stripe", first, [])
    ]
    assert order.payment.amount_refunded == 300 and order.payment.refundable() == 700
    # Celeste's own refund is announced too, and recorded by the path that made it.
    world.payments.refund(oid, RefundRequest(amount=200, reason="r"), idempotency_key="a")
    assert world.webhook(oid, kind="charge.refunded") == "no refund made outside Celeste"
    rest = world.stripe.dashboard_refund(intent_id, 500)
    world.webhook(oid, kind="charge.refunded")
    order = world.order(oid)
    assert order.status is S.REFUNDED and order.payment.status == "refunded"
    assert order.payment.amount_refunded == 1_000 == world.stripe.refunded(intent_id)
    assert [r.refund_id for r in order.payment.refunds][-1] == rest
    # Nothing restocked (the refund's stock commit is the trigger's, as for an admin refund).
    assert [m for m in world.commerce.ledger(STORE, "apple") if "restock" in m.id] == []


def test_stripes_money_on_an_order_marked_paid_by_hand_is_kept_not_refunded(
    world: World,
) -> None:
    oid = world.with_intent()
    intent_id = world.order(oid).payment.intent_id
    world.stripe.pay(intent_id)  # the customer pays; the webhook is still on its way
    world.orders.set_status(oid, S.PROCESSING, expected_version=None)  # admin: "paid"
    assert world.effects(oid, S.CONFIRMED, S.PROCESSING) == "paid twice: Stripe payment kept"
    assert world.webhook(oid) == "already recorded"
    order = world.order(oid)
    assert order.status is S.PROCESSING and order.payment.amount_received == 500
    assert [n.kind for n in order.payment.notes] == ["paid_twice"]
    assert order.payment.refunds == [] and world.stripe.refunds == {}
    world.orders.set_status(oid, S.SHIPPED, expected_version=None)
    assert world.payments.redrive(now=NOW, stale_before=NOW) == 0
    assert world.stripe.refunds == {}


def test_admin_marking_paid_while_unpaid_cancels_the_intent(world: World) -> None:
    oid = world.with_intent()
    world.orders.set_status(oid, S.PROCESSING, expected_version=None)
    assert world.effects(oid, S.CONFIRMED, S.PROCESSING) == "intent cancelled"
    assert world.order(oid).payment.status == "canceled"


# --- issue 17: money for no order (finding 13) -----------------------------------------------


def test_money_for_an_order_that_does_not_exist_is_refunded_and_recorded_once(
    world: World,
) -> None:
    made = world.stripe.create_intent(order_id="no-such-order", amount=1_234, currency="eur")
    world.stripe.pay(made.id)
    first = world.payment_events.handle_webhook(
        payload=world.stripe.event(made.id, event_id="evt_a"), signature=FakeStripe.SECRET
    )
    assert first.startswith("unmatched payment refunded (re_")
    again = world.payment_events.handle_webhook(
        payload=world.stripe.event(made.id, event_id="evt_b"), signature=FakeStripe.SECRET
    )
    assert again.startswith("unmatched payment refunded already")
    assert world.stripe.refunded(made.id) == 1_234 and len(world.stripe.refunds) == 1
    record = world.records.unmatched(made.id)
    assert record is not None and record.status == "refunded"
    assert (record.order_id, record.amount, record.currency) == ("no-such-order", 1_234, "EUR")
    assert record.event_id == "evt_a" and record.refund_id is not None
    assert world.payment_events.unmatched(limit=10) == [record]


def test_an_unmatched_refund_that_died_is_finished_by_the_next_delivery(world: World) -> None:
    made = world.stripe.create_intent(order_id="ghost", amount=700, currency="eur")
    world.stripe.pay(made.id)
    world.stripe.down = True
    with pytest.raises(ProviderUnavailable):
        # The intent is read first (not down yet in Stripe's terms): simulate by failing refund.
        world.payment_events._unmatched(world.stripe._intent(made.id), reason="r", event_id="evt_1")
    world.stripe.down = False
    assert world.records.unmatched(made.id).status == "refund_pending"  # type: ignore[union-attr]
    payload = world.stripe.event(made.id, event_id="evt_2")
    # Within the claim another delivery may still be refunding: 503, Stripe retries later.
    with pytest.raises(Contention, match="another delivery"):
        world.payment_events.handle_webhook(payload=payload, signature=FakeStripe.SECRET)
    assert world.stripe.refunds == {} and not world.records.event_seen("evt_2")
    world.clock.now = NOW + timedelta(seconds=61)
    assert world.payment_events.handle_webhook(
        payload=payload, signature=FakeStripe.SECRET
    ).startswith("unmatched payment refunded (re_")
    assert world.stripe.refunded(made.id) == 700 and len(world.stripe.refunds) == 1


def test_money_on_an_intent_the_order_does_not_hold_is_refunded_and_recorded(
    world: World,
) -> None:
    world.stripe.ignore_keys = True
    oid = world.with_intent()
    stray = world.stripe.create_intent(order_id=oid, amount=500, currency="eur")  # a duplicate
    world.stripe.pay(stray.id)
    payload = world.stripe.event(stray.id)
    outcome = world.payment_events.handle_webhook(payload=payload, signature=FakeStripe.SECRET)
    assert outcome.startswith("unmatched payment refunded")
    assert world.stripe.refunded(stray.id) == 500
    record = world.records.unmatched(stray.id)
    assert record is not None and record.order_id == oid and "another intent" in record.reason
    assert world.order(oid).status is S.CONFIRMED


def test_the_local_stack_registers_every_event_the_webhook_handles() -> None:
    from celeste.services.payment_events import HANDLED_EVENTS
    from tools.services import STRIPE_WEBHOOK_EVENTS

    assert sorted(STRIPE_WEBHOOK_EVENTS) == sorted(HANDLED_EVENTS)


def _counting_reads(world: World, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The order ids ``world``'s services read from now on, one entry per read."""
    reads: list[str] = []
    get = world.commerce.get

    def counted(order_id: str):  # type: ignore[no-untyped-def]
        reads.append(order_id)
        return get(order_id)

    monkeypatch.setattr(world.commerce, "get", counted)
    return reads


@pytest.mark.parametrize("kind", ["succeeded", "payment_failed"])
def test_a_webhook_event_reads_its_order_once(
    world: World, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    oid = world.with_intent()
    intent_id = world.order(oid).payment.intent_id
    if kind == "succeeded":
        world.stripe.pay(intent_id)
    payload = world.stripe.event(intent_id, kind, event_id="evt_once")
    reads = _counting_reads(world, monkeypatch)
    outcome = world.payment_events.handle_webhook(payload=payload, signature=FakeStripe.SECRET)
    assert outcome == ("paid" if kind == "succeeded" else "failure recorded")
    assert reads == [oid]


def test_a_late_payment_is_refunded_in_full_on_one_read_of_the_order(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    oid = world.with_intent()
    intent_id = world.order(oid).payment.intent_id
    world.stripe.pay(intent_id)
    world.orders.cancel(oid, uid="admin", is_admin=True, expected_version=None)
    payload = world.stripe.event(intent_id, "succeeded", event_id="evt_late")
    reads = _counting_reads(world, monkeypatch)
    outcome = world.payment_events.handle_webhook(payload=payload, signature=FakeStripe.SECRET)
    assert outcome.startswith("refunded in full: 500 refunded")
    assert reads == [oid]  # reserved, refunded and recorded on what each commit wrote
    order = world.order(oid)
    assert order.payment.status == "refunded" and world.stripe.refunded(intent_id) == 500


def test_an_order_changed_after_the_events_read_is_read_again_and_decided_again(
    world: World,
) -> None:
    oid = world.with_intent()
    intent_id = world.order(oid).payment.intent_id
    world.stripe.pay(intent_id)
    # An admin cancels between the event's read of the order and its commit: the version the
    # event read guards the commit, so it fails, and the retry sees the cancelled order.
    world.commerce.interleave(
        lambda: world.orders.cancel(oid, uid="admin", is_admin=True, expected_version=None)
    )
    outcome = world.webhook(oid, event_id="evt_raced")
    assert outcome.startswith("refunded in full: ")
    order = world.order(oid)
    assert order.status is S.CANCELLED
    assert S.PROCESSING not in [step.status for step in order.history]
    assert order.payment.amount_refunded == 500 and world.stripe.refunded(intent_id) == 500
    assert world.commerce.lost_races >= 1


def test_an_admin_refund_answers_the_order_as_recorded(world: World) -> None:
    oid = world.paid()
    refunded = world.payments.refund(oid, RefundRequest(reason="broken"), idempotency_key="k1")
    assert refunded == world.commerce.get(oid)  # the stored version, for a later If-Match
