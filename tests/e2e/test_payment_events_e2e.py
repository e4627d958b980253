"""Payments the shop must act on, through the functions emulator and the local Stripe (issue 17):
free and below-minimum totals, disputes, refunds made in the Stripe dashboard, an admin marking
an order paid while the real payment is under way, and money for an order that does not exist.

The local Stripe opens and closes disputes and announces every refund (``charge.refunded``) as
Stripe does (``tools/localstripe_events.py``); its webhook reaches the ``payments`` function
signed like any other event."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests
import stripe

from tests.conftest import require_env
from tests.e2e.conftest import Api, Shop, problem
from tests.e2e.test_checkout_e2e import PT
from tests.e2e.test_orders_e2e import level, move, order_body, place
from tests.e2e.test_payments_e2e import (
    PAYMENT_S,
    apple_order,
    order,
    pay,
    refund,
    refunded_at_stripe,
    signed,
    statuses,
    succeeded_event,
    wait_order,
    wait_paid,
    webhook,
)
from tests.support.emulators import eventually
from tools.devauth import AuthEmulator, SignedIn

pytestmark = pytest.mark.e2e


@pytest.fixture
def customer(auth: AuthEmulator) -> SignedIn:
    """A new customer per test (the per-user order rate limit counts each one's orders)."""
    return auth.user(f"payer-{uuid.uuid4().hex[:12]}@e2e.test", "password-payer")


def bank(path: str, **form: str) -> dict[str, Any]:
    """What the customer's bank and Stripe do to a dispute (the local Stripe's own hook)."""
    base = require_env("STRIPE_API_BASE")["STRIPE_API_BASE"]
    response = requests.post(f"{base}/_config/disputes{path}", data=form, timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json())


def paid_order(
    api: Api,
    user: SignedIn,
    shop: Callable[..., Shop],
    client: stripe.StripeClient,
    *,
    quantity: int = 2,
) -> tuple[Shop, dict[str, Any], str]:
    store, placed, intent_id = apple_order(api, user, shop, stock=5, quantity=quantity)
    pay(client, intent_id)
    wait_paid(api, user, placed["id"])
    return store, placed, intent_id


# --- finding 7: free and below-minimum totals ------------------------------------------------


def test_a_zero_total_order_is_paid_at_once_without_a_payment_provider(
    api: Api, admin: SignedIn, customer: SignedIn, shop: Callable[..., Shop]
) -> None:
    store = shop({"gift": 3}, price=0)
    response = place(
        api,
        customer,
        order_body(store, ("gift", 2)),
        **{"Idempotency-Key": f"free-{uuid.uuid4()}", "Prefer": "wait=10"},
    )
    assert response.status_code in (201, 202), response.text
    order_id = response.json()["id"]
    paid = wait_order(api, customer, order_id, lambda o: o["status"] == "processing", "paid")
    assert paid["total"] == 0
    assert paid["payment"]["provider"] == "none" and paid["payment"]["intent_id"] is None
    assert paid["payment"]["status"] == "succeeded" and paid["payment"]["amount"] == 0
    assert paid["payment"]["client_secret"] is None and paid["payment_due"] is None
    assert paid["history"][-1]["actor"] == "system"
    assert paid["hold_expires_at"] is None  # it holds its stock as a paid order does
    time.sleep(2)  # a redelivered trigger changes nothing more
    again = order(api, customer, order_id)
    assert statuses(again).count("processing") == 1
    assert level(api, admin, store, "gift")["reserved"] == 2
    move(api, admin, order_id, "shipped")


def test_a_total_below_the_minimum_charge_is_refused_at_placement_and_flagged_in_quotes(
    api: Api, admin: SignedIn, customer: SignedIn, shop: Callable[..., Shop]
) -> None:
    store = shop({"sticker": 10}, price=20)  # 0.20 EUR: Stripe charges at least 0.50 EUR
    refused = problem(
        place(
            api,
            customer,
            order_body(store, ("sticker", 2)),
            **{"Idempotency-Key": f"min-{uuid.uuid4()}"},
        ),
        400,
    )
    assert refused["errors"][0]["field"] == "total"  # type: ignore[index]
    assert "50" in str(refused["detail"]) + str(refused["errors"])

    method = {"code": "free", "name": "Free", "price": 0, "currency": "EUR"}
    created = api.request("POST", "shipping", "/methods", user=admin, json=method)
    assert created.status_code == 201, created.text
    put = api.request(
        "PUT", "me", f"/cart/items/{store.products['sticker']}", user=customer, json={"quantity": 1}
    )
    assert put.status_code in (200, 201), put.text
    body = {"store_id": store.store_id, "shipping_address": PT, "shipping_method": "free"}
    quote = api.request("POST", "checkout", "/quote", user=customer, json=body)
    assert quote.status_code == 200, quote.text
    assert quote.json()["total"] == 20 and quote.json()["below_minimum"] is True
    checkout = api.session.post(
        api.url("checkout"),
        json=body,
        timeout=120,
        headers={**customer.headers, "Idempotency-Key": f"co-{uuid.uuid4()}"},
    )
    assert problem(checkout, 400)["errors"][0]["field"] == "total"  # type: ignore[index]
    cart = api.request("GET", "me", "/cart", user=customer).json()
    assert [line["quantity"] for line in cart["lines"]] == [1]  # nothing written
    listed = api.request("GET", "orders", user=customer).json()
    assert listed["items"] == []


# --- finding 9: disputes, dashboard refunds, paid by hand while paying -----------------------


def test_a_dispute_puts_the_order_on_hold_until_it_is_won(
    api: Api,
    admin: SignedIn,
    customer: SignedIn,
    shop: Callable[..., Shop],
    stripe_client: stripe.StripeClient,
) -> None:
    _, placed, intent_id = paid_order(api, customer, shop, stripe_client)
    dispute = bank("", payment_intent=intent_id, reason="fraudulent")
    held = wait_order(
        api, admin, placed["id"], lambda o: o["payment"]["dispute"], "the dispute recorded"
    )
    assert held["on_hold"] is True and held["payment"]["dispute"]["id"] == dispute["id"]
    assert held["payment"]["dispute"]["status"] == "needs_response"
    assert held["payment"]["dispute"]["amount"] == placed["total"]
    ship = api.request(
        "POST", "orders", f"/{placed['id']}/status", user=admin, json={"status": "shipped"}
    )
    assert "disput" in str(problem(ship, 409)["detail"])
    problem(refund(api, admin, placed["id"], {"reason": "while disputed"}, key="r-disputed"), 409)

    bank(f"/{dispute['id']}", status="won")
    wait_order(
        api,
        admin,
        placed["id"],
        lambda o: o["payment"]["dispute"]["status"] == "won",
        "the dispute won",
    )
    assert order(api, admin, placed["id"])["on_hold"] is False
    assert move(api, admin, placed["id"], "shipped")["status"] == "shipped"


def test_a_lost_dispute_is_recorded_and_the_order_never_ships(
    api: Api,
    admin: SignedIn,
    customer: SignedIn,
    shop: Callable[..., Shop],
    stripe_client: stripe.StripeClient,
) -> None:
    store, placed, intent_id = paid_order(api, customer, shop, stripe_client)
    dispute = bank("", payment_intent=intent_id)
    wait_order(api, admin, placed["id"], lambda o: o["payment"]["dispute"], "the dispute")
    bank(f"/{dispute['id']}", status="lost")
    lost = wait_order(
        api,
        admin,
        placed["id"],
        lambda o: o["payment"]["dispute"]["status"] == "lost",
        "the dispute lost",
    )
    assert lost["status"] == "processing" and lost["on_hold"] is True
    ship = api.request(
        "POST", "orders", f"/{placed['id']}/status", user=admin, json={"status": "shipped"}
    )
    problem(ship, 409)
    # The admin cancels: the stock goes back, and nothing is refunded (the bank took it).
    cancel = api.request("POST", "orders", f"/{placed['id']}/cancel", user=admin)
    assert cancel.status_code == 200, cancel.text
    eventually(
        lambda: level(api, admin, store, "apple")["reserved"] == 0, timeout_s=60, what="release"
    )
    time.sleep(3)
    assert refunded_at_stripe(stripe_client, intent_id) == 0
    assert order(api, admin, placed["id"])["payment_due"] is None


def test_a_refund_made_in_the_stripe_dashboard_is_recorded_with_the_refund_rules(
    api: Api,
    admin: SignedIn,
    customer: SignedIn,
    shop: Callable[..., Shop],
    stripe_client: stripe.StripeClient,
) -> None:
    store, placed, intent_id = paid_order(api, customer, shop, stripe_client, quantity=2)
    move(api, admin, placed["id"], "shipped")
    move(api, admin, placed["id"], "delivered")
    eventually(
        lambda: api.request("GET", "me", user=customer).json()["stats"]["orders_count"] == 1,
        timeout_s=60,
        what="the delivery counted",
    )
    # Someone refunds part of it in the Stripe dashboard, then the rest.
    first = stripe_client.v1.refunds.create({"payment_intent": intent_id, "amount": 500})
    partial = wait_order(
        api,
        admin,
        placed["id"],
        lambda o: o["status"] == "partially_refunded",
        "the dashboard refund recorded",
    )
    assert [
        (r["refund_id"], r["amount"], r["actor"], r["state"], r["restock"])
        for r in partial["payment"]["refunds"]
    ] == [(first.id, 500, "stripe", "succeeded", [])]
    assert partial["history"][-1]["actor"] == "stripe"
    # The same stats rule as an admin's partial refund: its amount leaves the spend.
    eventually(
        lambda: (
            api.request("GET", "me", user=customer).json()["stats"]["lifetime_spend"]
            == {"EUR": 1_500}
        ),
        timeout_s=60,
        what="the partial refund taken out of the spend",
    )
    rest = stripe_client.v1.refunds.create({"payment_intent": intent_id, "amount": 1_500})
    done = wait_order(
        api, admin, placed["id"], lambda o: o["status"] == "refunded", "fully refunded"
    )
    assert [r["refund_id"] for r in done["payment"]["refunds"]] == [first.id, rest.id]
    assert done["payment"]["amount_refunded"] == placed["total"] == 2_000
    assert done["payment"]["status"] == "refunded"
    # The same stats rule as POST /orders/{id}/refund: a delivered order fully refunded is
    # taken back out; nothing was restocked.
    eventually(
        lambda: api.request("GET", "me", user=customer).json()["stats"]["orders_count"] == 0,
        timeout_s=60,
        what="the refund reversed the delivery",
    )
    assert api.request("GET", "me", user=customer).json()["stats"]["lifetime_spend"] in (
        {},
        {"EUR": 0},
    )
    assert level(api, admin, store, "apple")["on_hand"] == 3
    # Stripe sends the event again: recorded once, by refund id.
    time.sleep(3)
    again = order(api, admin, placed["id"])
    assert len(again["payment"]["refunds"]) == 2 and statuses(again).count("refunded") == 1
    assert refunded_at_stripe(stripe_client, intent_id) == 2_000


def test_an_admin_refund_is_not_recorded_twice_when_stripe_announces_it(
    api: Api,
    admin: SignedIn,
    customer: SignedIn,
    shop: Callable[..., Shop],
    stripe_client: stripe.StripeClient,
) -> None:
    _, placed, intent_id = paid_order(api, customer, shop, stripe_client)
    refunded = refund(api, admin, placed["id"], {"amount": 700, "reason": "late"}, key="r-admin")
    assert refunded.status_code == 200, refunded.text
    time.sleep(4)  # charge.refunded lands about 1 s later
    after = order(api, admin, placed["id"])
    assert [(r["amount"], r["actor"]) for r in after["payment"]["refunds"]] == [(700, "admin")]
    assert refunded_at_stripe(stripe_client, intent_id) == 700


def test_marking_paid_by_hand_while_the_real_payment_lands_never_refunds_shipped_goods(
    api: Api,
    admin: SignedIn,
    customer: SignedIn,
    shop: Callable[..., Shop],
    stripe_client: stripe.StripeClient,
) -> None:
    _, placed, intent_id = apple_order(api, customer, shop, stock=3, quantity=1)
    pay(stripe_client, intent_id)  # charged; Stripe's webhook is about a second away
    by_hand = api.request(
        "POST", "orders", f"/{placed['id']}/status", user=admin, json={"status": "processing"}
    )
    assert by_hand.status_code in (200, 409), by_hand.text  # 409: the webhook came first
    kept = wait_order(
        api,
        admin,
        placed["id"],
        lambda o: o["payment"]["amount_received"] == placed["total"],
        "Stripe's payment recorded",
    )
    assert move(api, admin, placed["id"], "shipped")["status"] == "shipped"
    time.sleep(3)  # the webhook and the trigger both had their say
    final = order(api, admin, placed["id"])
    assert final["status"] == "shipped" and final["payment"]["refunds"] == []
    assert refunded_at_stripe(stripe_client, intent_id) == 0
    if by_hand.status_code == 200:
        assert [n["kind"] for n in kept["payment"]["notes"]] == ["paid_twice"]
    print(f"paid by hand first: {by_hand.status_code == 200}")


# --- finding 13: money for an order that does not exist --------------------------------------


def test_money_for_an_order_that_does_not_exist_is_refunded_once_and_recorded(
    api: Api, admin: SignedIn, customer: SignedIn, stripe_client: stripe.StripeClient
) -> None:
    ghost = f"no-such-order-{uuid.uuid4().hex[:8]}"
    intent = stripe_client.v1.payment_intents.create(
        {
            "amount": 1_234,
            "currency": "eur",
            "metadata": {"order_id": ghost},
            "payment_method_types": ["card"],
        }
    )
    pay(stripe_client, intent.id)  # Stripe's own webhook follows
    eventually(
        lambda: refunded_at_stripe(stripe_client, intent.id) == 1_234,
        timeout_s=PAYMENT_S,
        what="the money for no order refunded",
    )

    def recorded() -> dict[str, Any] | None:
        listed = api.request("GET", "payments", "/unmatched", user=admin)
        assert listed.status_code == 200, listed.text
        items = [i for i in listed.json()["items"] if i["intent_id"] == intent.id]
        return items[0] if items and items[0]["status"] == "refunded" else None

    record = eventually(recorded, timeout_s=PAYMENT_S, what="the unmatched payment refunded")
    assert (record["order_id"], record["amount"], record["currency"]) == (ghost, 1_234, "EUR")
    assert record["refund_id"] and record["reason"] == "the order does not exist"
    assert refunded_at_stripe(stripe_client, intent.id) == 1_234
    # Delivered again (a new event about the same intent): refunded once, still.
    payload = succeeded_event(intent.id)
    answer = webhook(api, payload, signature=signed(payload))
    assert answer.status_code == 200 and "already" in answer.json()["outcome"]
    assert refunded_at_stripe(stripe_client, intent.id) == 1_234
    # Admins only.
    problem(api.request("GET", "payments", "/unmatched", user=customer), 403)
    problem(api.request("GET", "payments", "/unmatched"), 401)
