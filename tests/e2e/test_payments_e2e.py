"""Payments through the functions emulator and the local Stripe: an intent for exactly the
total once stock is held, paid as Stripe.js would, signed webhooks (forged, missing, replayed,
wrong amount), cancels, the payment-vs-cancel race, and refunds with restock."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import stripe

from celeste_functions.adapters.stripe_payments import sign_payload
from tests.e2e.conftest import Api, Shop, problem
from tests.e2e.test_orders_e2e import ledger, level, move, order_body
from tests.support.emulators import eventually
from tools.devauth import AuthEmulator, SignedIn

pytestmark = pytest.mark.e2e

#: Webhooks arrive about 1 s after the event, then the emulator runs the function.
PAYMENT_S = 90
#: How many times the payment-vs-cancel race runs in ``make test`` (more with the env var).
RACE_RUNS = int(os.environ.get("CELESTE_PAYMENT_RACE_RUNS", "3"))
DEV_WEBHOOK_SECRET = "whsec_celeste_dev"


@pytest.fixture
def customer(auth: AuthEmulator) -> SignedIn:
    """A new customer per test (the per-user order rate limit counts each one's orders)."""
    return auth.user(f"payer-{uuid.uuid4().hex[:12]}@e2e.test", "password-payer")


def place_confirmed(api: Api, user: SignedIn, body: dict[str, Any]) -> dict[str, Any]:
    """Place an order and wait until it is confirmed and carries its PaymentIntent."""
    response = api.session.post(
        api.url("orders"),
        json=body,
        timeout=240,
        headers={**user.headers, "Idempotency-Key": f"pay-{uuid.uuid4()}", "Prefer": "wait=10"},
    )
    assert response.status_code in (201, 202), response.text
    order_id = response.json()["id"]
    return wait_order(
        api, user, order_id, lambda o: o["status"] == "confirmed" and o["payment"], "an intent"
    )


def apple_order(
    api: Api,
    user: SignedIn,
    shop: Callable[..., Shop],
    *,
    stock: int,
    quantity: int,
    price: int = 1_000,
) -> tuple[Shop, dict[str, Any], str]:
    """A store with ``stock`` apples and ``user``'s confirmed order of ``quantity`` of them: the
    store, the order and the id of its PaymentIntent."""
    store = shop({"apple": stock}, price=price)
    placed = place_confirmed(api, user, order_body(store, ("apple", quantity)))
    return store, placed, placed["payment"]["intent_id"]


def order(api: Api, user: SignedIn, order_id: str) -> dict[str, Any]:
    response = api.request("GET", "orders", f"/{order_id}", user=user)
    assert response.status_code == 200, response.text
    return dict(response.json())


def wait_order(
    api: Api,
    user: SignedIn,
    order_id: str,
    check: Callable[[dict[str, Any]], Any],
    what: str,
    timeout_s: float = PAYMENT_S,
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        found = order(api, user, order_id)
        return found if check(found) else None

    return eventually(probe, timeout_s=timeout_s, what=f"order {order_id}: {what}")


def wait_paid(api: Api, user: SignedIn, order_id: str) -> dict[str, Any]:
    """Wait until the webhook has moved the order to ``processing``."""
    return wait_order(api, user, order_id, lambda o: o["status"] == "processing", "paid")


def wait_released(api: Api, admin: SignedIn, store: Shop) -> None:
    """Wait until no apple of ``store`` is held any more."""
    eventually(
        lambda: level(api, admin, store, "apple")["reserved"] == 0, timeout_s=60, what="release"
    )


#: The test card that pays; and one the local Stripe declines when charged.
CARD_OK = "4242424242424242"
CARD_DECLINED = "4000000000000341"


def pay(client: stripe.StripeClient, intent_id: str, card: str = CARD_OK) -> None:
    """What Stripe.js does: a card PaymentMethod, set on the intent, then confirm (the local
    Stripe does not implement confirm with a ``payment_method`` argument)."""
    method = client.v1.payment_methods.create(
        {
            "type": "card",
            "card": {"number": card, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    )
    client.v1.payment_intents.update(intent_id, {"payment_method": method.id})
    confirmed = client.v1.payment_intents.confirm(intent_id)
    assert confirmed.status == "succeeded"


def refunded_at_stripe(client: stripe.StripeClient, intent_id: str) -> int:
    """The sum of the intent's refunds at Stripe (none without a charge: the local Stripe
    fails listing the refunds of an intent that was never charged)."""
    if not client.v1.payment_intents.retrieve(intent_id).to_dict().get("latest_charge"):
        return 0
    refunds = client.v1.refunds.list({"payment_intent": intent_id, "limit": 100})
    return sum(int(r.amount) for r in refunds.data)


def webhook(api: Api, payload: bytes, *, signature: str | None) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return api.session.post(
        api.url("payments", "/stripe/webhook"), data=payload, headers=headers, timeout=120
    )


def succeeded_event(intent_id: str, *, event_id: str | None = None) -> bytes:
    return json.dumps(
        {
            "id": event_id or f"evt_test_{uuid.uuid4().hex[:16]}",
            "object": "event",
            "type": "payment_intent.succeeded",
            "data": {"object": {"id": intent_id, "object": "payment_intent"}},
        }
    ).encode()


def signed(payload: bytes, secret: str = DEV_WEBHOOK_SECRET) -> str:
    return sign_payload(payload, secret=secret, timestamp=int(time.time()))


def statuses(found: dict[str, Any]) -> list[str]:
    return [step["status"] for step in found["history"]]


# --- the happy path ---------------------------------------------------------------------------


def test_payment_config_is_public(api: Api) -> None:
    response = api.request("GET", "payments", "/config")
    assert response.status_code == 200, response.text
    assert response.json() == {"provider": "stripe", "publishable_key": "pk_test_celeste_dev"}


def test_checkout_confirmed_intent_for_the_total_paid_then_processing(
    api: Api,
    admin: SignedIn,
    customer: SignedIn,
    shop: Callable[..., Shop],
    stripe_client: stripe.StripeClient,
) -> None:
    store = shop({"apple": 5, "pear": 5}, price=1_234)
    placed = place_confirmed(api, customer, order_body(store, ("apple", 2), ("pear", 1)))
    payment = placed["payment"]
    assert payment["provider"] == "stripe"
    assert payment["amount"] == placed["total"] == 3 * 1_234
    assert payment["currency"] == placed["currency"] == "EUR"
    assert payment["status"] == "requires_payment"
    assert payment["client_secret"].startswith(payment["intent_id"])
    # Only the owner sees the client secret.
    assert order(api, admin, placed["id"])["payment"]["client_secret"] is None
    intent = stripe_client.v1.payment_intents.retrieve(payment["intent_id"])
    assert intent.amount == placed["total"] and intent.currency == "eur"
    assert intent.metadata["order_id"] == placed["id"]

    pay(stripe_client, payment["intent_id"])
    paid = wait_paid(api, customer, placed["id"])
    assert paid["history"][-1]["actor"] == "stripe"
    assert paid["payment"]["status"] == "succeeded"
    assert paid["payment"]["amount_received"] == placed["total"]
    assert paid["payment"]["client_secret"] is None  # nothing left to pay
    assert level(api, admin, store, "apple")["reserved"] == 2  # still held until shipped


# --- the webhook's guard ----------------------------------------------------------------------


def test_forged_or_missing_signature_is_400_and_changes_nothing(
    api: Api,
    customer: SignedIn,
    shop: Callable[..., Shop],
    stripe_client: stripe.StripeClient,
) -> None:
    _, placed, intent_id = apple_order(api, customer, shop, stock=3, quantity=1)
    payload = succeeded_event(intent_id)
    problem(webhook(api, payload, signature=None), 400)
    problem(webhook(api, payload, signature=signed(payload, "whsec_forged")), 400)
    problem(webhook(api, payload, signature="t=1,v1=deadbeef"), 400)
    tampered = payload.replace(b"payment_intent.succeeded", b"payment_intent.succeeded ")
    problem(webhook(api, tampered, signature=signed(payload)), 400)
    after = order(api, customer, placed["id"])
    assert after["status"] == "confirmed" and after["payment"]["status"] == "requires_payment"
    assert after["history"] == placed["history"]


def test_same_signed_event_three_times_moves_the_order_once(
    api: Api,
    customer: SignedIn,
    shop: Callable[..., Shop],
    stripe_client: stripe.StripeClient,
) -> None:
    _, placed, intent_id = apple_order(api, customer, shop, stock=3, quantity=1)
    # Paid at Stripe but not yet told: our own signed copy of the event races the real one.
    pay(stripe_client, intent_id)
    payload = succeeded_event(intent_id)
    answers = [webhook(api, payload, signature=signed(payload)) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]
    assert [a.json()["outcome"] for a in answers][1:] == ["replay", "replay"]
    paid = wait_paid(api, customer, placed["id"])
    time.sleep(3)  # let the local Stripe's own delivery of the event land too
    final = order(api, customer, placed["id"])
    assert statuses(final).count("processing") == 1
    assert final["payment"]["refunds"] == [] and final["updated_at"] >= paid["updated_at"]


def test_success_for_the_wrong_amount_does_not_mark_the_order_paid(
    api: Api,
    admin: SignedIn,
    customer: SignedIn,
    shop: Callable[..., Shop],
    stripe_client: stripe.StripeClient,
) -> None:
    _, placed, intent_id = apple_order(api, customer, shop, stock=3, quantity=1, price=2_000)
    # A tampered client lowers the intent's amount before paying.
    stripe_client.v1.payment_intents.update(intent_id, {"amount": 1})
    pay(stripe_client, intent_id)
    voided = wait_order(
        api, customer, placed["id"], lambda o: o["payment"]["status"] == "refunded", "refund"
    )
    assert voided["status"] == "confirmed"  # not paid: it will expire and release its stock
    assert "processing" not in statuses(voided)
    assert [n["kind"] for n in voided["payment"]["notes"]] == ["amount_mismatch"]
    assert refunded_at_stripe(stripe_client, intent_id) == 1  # all that was taken went back


def test_a_declined_card_is_recorded_and_the_order_stays_confirmed(
    api: Api,
    customer: SignedIn,
    shop: Callable[..., Shop],
    stripe_client: stripe.StripeClient,
) -> None:
    _, placed, intent_id = apple_order(api, customer, shop, stock=3, quantity=1)
    with pytest.raises(stripe.CardError):
        pay(stripe_client, intent_id, card=CARD_DECLINED)
    failed = wait_order(
        api,
        customer,
        placed["id"],
        lambda o: [n["kind"] for n in o["payment"]["notes"]] == ["payment_failed"],
        "the failure recorded",
    )
    assert failed["status"] == "confirmed" and failed["payment"]["status"] == "requires_payment"
    assert failed["payment"]["client_secret"]  # Stripe.js may try another card on this intent
    # (The local Stripe cannot confirm an intent again after a declined charge; Stripe can.)


def test_other_event_types_are_200_and_ignored(api: Api) -> None:
    payload = json.dumps(
        {"id": "evt_other", "type": "customer.created", "data": {"object": {"object": "x"}}}
    ).encode()
    answer = webhook(api, payload, signature=signed(payload))
    assert answer.status_code == 200 and answer.json()["outcome"] == "ignored"


# --- cancels and the race ---------------------------------------------------------------------


def test_cancel_of_an_unpaid_order_cancels_its_intent_and_releases_stock(
    api: Api,
    admin: SignedIn,
    customer: SignedIn,
    shop: Callable[..., Shop],
    stripe_client: stripe.StripeClient,
) -> None:
    store = shop({"apple": 4})
    placed = place_confirmed(api, customer, order_body(store, ("apple", 3)))
    response = api.request("POST", "orders", f"/{placed['id']}/cancel", user=customer)
    assert response.status_code == 200, response.text
    done = wait_order(
        api, customer, placed["id"], lambda o: o["payment"]["status"] == "canceled", "cancel"
    )
    assert done["status"] == "cancelled"
    intent = stripe_client.v1.payment_intents.retrieve(placed["payment"]["intent_id"])
    assert intent.status == "canceled"
    wait_released(api, admin, store)
    assert level(api, admin, store, "apple")["on_hand"] == 4


#: How each run of the race ended (printed in the summary: ``-rA`` or ``-s`` shows it).
RACE_OUTCOMES: list[str] = []


def test_an_expired_hold_cancels_its_intent_and_a_late_payment_is_refunded(
    api: Api,
    admin: SignedIn,
    customer: SignedIn,
    shop: Callable[..., Shop],
    stripe_client: stripe.StripeClient,
) -> None:
    from celeste_functions.triggers.orders import expire_due

    store = shop({"apple": 3})
    unpaid = place_confirmed(api, customer, order_body(store, ("apple", 1)))
    late = place_confirmed(api, customer, order_body(store, ("apple", 1)))
    # The customer's card is charged just before the hold ends; the webhook is still on its way.
    pay(stripe_client, late["payment"]["intent_id"])
    report = expire_due(datetime.now(UTC) + timedelta(minutes=16))
    assert report.expired >= 1
    gone = wait_order(
        api, customer, unpaid["id"], lambda o: o["payment"]["status"] == "canceled", "cancel"
    )
    assert gone["status"] == "expired"
    assert stripe_client.v1.payment_intents.retrieve(gone["payment"]["intent_id"]).status == (
        "canceled"
    )
    final = wait_order(
        api,
        customer,
        late["id"],
        lambda o: o["status"] == "processing" or o["payment"]["status"] == "refunded",
        "paid in time, or expired and refunded",
    )
    taken = late["total"] if final["status"] == "expired" else 0
    assert final["status"] in ("expired", "processing")
    assert refunded_at_stripe(stripe_client, late["payment"]["intent_id"]) == taken
    eventually(
        lambda: level(api, admin, store, "apple")["reserved"] == (1 if not taken else 0),
        timeout_s=60,
        what="the expired holds released",
    )


@pytest.mark.parametrize("run", range(RACE_RUNS))
def test_payment_racing_an_admin_cancel_ends_cancelled_released_refunded(
    run: int,
    api: Api,
    admin: SignedIn,
    customer: SignedIn,
    shop: Callable[..., Shop],
    stripe_client: stripe.StripeClient,
) -> None:
    """Whichever lands first, the order ends cancelled with its stock released, and every
    cent Stripe took is refunded. (If the cancel reached Stripe before the card was charged,
    Stripe refuses the payment: nothing was taken, nothing is refunded.)"""
    store, placed, intent_id = apple_order(api, customer, shop, stock=2, quantity=2)
    barrier = threading.Barrier(2)
    cancel: list[requests.Response] = []
    charged: list[bool] = []

    def customer_pays() -> None:
        barrier.wait()
        if run % 2:
            time.sleep(0.4 * (1 + run % 3))  # vary who lands first
        try:
            pay(stripe_client, intent_id)
            charged.append(True)
        except stripe.StripeError:  # the cancel reached Stripe first: the intent is cancelled
            charged.append(False)

    def admin_cancels() -> None:
        barrier.wait()
        if not run % 2:
            time.sleep(0.4 * (1 + run % 3))
        cancel.append(api.request("POST", "orders", f"/{placed['id']}/cancel", user=admin))

    threads = [threading.Thread(target=customer_pays), threading.Thread(target=admin_cancels)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cancel[0].status_code == 200, cancel[0].text
    want = "refunded" if charged[0] else "canceled"
    final = wait_order(
        api,
        customer,
        placed["id"],
        lambda o: o["payment"]["status"] == want,
        f"payment {want}",
        timeout_s=180,
    )
    paid_first = "processing" in statuses(final)
    RACE_OUTCOMES.append(
        "paid, then cancelled"
        if paid_first
        else ("charged during the cancel" if charged[0] else "cancelled before the charge")
    )
    assert final["status"] == "cancelled"
    taken = placed["total"] if charged[0] else 0
    assert final["payment"]["amount_received"] == taken
    assert final["payment"]["amount_refunded"] == taken
    assert refunded_at_stripe(stripe_client, intent_id) == taken
    wait_released(api, admin, store)
    assert level(api, admin, store, "apple")["on_hand"] == 2
    time.sleep(2)  # a late webhook changes nothing more
    assert refunded_at_stripe(stripe_client, intent_id) == taken
    assert order(api, customer, placed["id"])["status"] == "cancelled"
    print(f"race run {run}: {RACE_OUTCOMES[-1]}")


# --- refunds ----------------------------------------------------------------------------------


def refund(
    api: Api, user: SignedIn, order_id: str, body: dict[str, Any], *, key: str | None
) -> requests.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return api.request(
        "POST", "orders", f"/{order_id}/refund", user=user, json=body, headers=headers
    )


def test_partial_then_full_refund_restocks_once_and_sums_to_the_total(
    api: Api,
    admin: SignedIn,
    customer: SignedIn,
    shop: Callable[..., Shop],
    stripe_client: stripe.StripeClient,
) -> None:
    store, placed, intent_id = apple_order(api, customer, shop, stock=5, quantity=3, price=1_000)
    pay(stripe_client, intent_id)
    wait_paid(api, customer, placed["id"])
    move(api, admin, placed["id"], "shipped")
    move(api, admin, placed["id"], "delivered")
    eventually(
        lambda: level(api, admin, store, "apple")["on_hand"] == 2, timeout_s=60, what="commit"
    )
    eventually(
        lambda: api.request("GET", "me", user=customer).json()["stats"]["orders_count"] >= 1,
        timeout_s=60,
        what="the delivery counted",
    )
    counted = api.request("GET", "me", user=customer).json()["stats"]

    partial = {"amount": 1_000, "reason": "one apple was bruised", "restock": []}
    partial["restock"] = [{"product_id": store.products["apple"], "quantity": 1}]
    first = refund(api, admin, placed["id"], partial, key="refund-1")
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "partially_refunded"
    again = refund(api, admin, placed["id"], partial, key="refund-1")  # a replay
    assert again.status_code == 200 and again.json()["payment"] == first.json()["payment"]
    problem(refund(api, admin, placed["id"], {**partial, "amount": 5}, key="refund-1"), 409)
    too_much = refund(api, admin, placed["id"], {"amount": 2_001, "reason": "x"}, key="refund-x")
    assert problem(too_much, 400)["errors"][0]["field"] == "amount"  # type: ignore[index]

    rest = refund(api, admin, placed["id"], {"reason": "customer unhappy"}, key="refund-2")
    assert rest.status_code == 200, rest.text
    done = rest.json()
    assert done["status"] == "refunded"
    assert done["payment"]["amount_refunded"] == placed["total"] == 3_000
    assert [r["amount"] for r in done["payment"]["refunds"]] == [1_000, 2_000]
    assert refunded_at_stripe(stripe_client, intent_id) == placed["total"]
    problem(refund(api, admin, placed["id"], {"reason": "more"}, key="refund-3"), 409)

    assert level(api, admin, store, "apple")["on_hand"] == 3  # 2 left + 1 restocked, once
    restocks = [row for row in ledger(api, admin, store, "apple") if "restock" in row["id"]]
    assert [(row["delta_on_hand"], row["order_id"]) for row in restocks] == [(1, placed["id"])]
    eventually(
        lambda: (
            api.request("GET", "me", user=customer).json()["stats"]["orders_count"]
            == counted["orders_count"] - 1
        ),
        timeout_s=60,
        what="the refund reversed the delivery in the stats",
    )


def test_refund_by_a_customer_is_403_and_of_an_unpaid_order_409(
    api: Api,
    admin: SignedIn,
    customer: SignedIn,
    shop: Callable[..., Shop],
) -> None:
    store = shop({"apple": 3})
    placed = place_confirmed(api, customer, order_body(store, ("apple", 1)))
    body = {"reason": "changed my mind"}
    problem(refund(api, customer, placed["id"], body, key="k-customer"), 403)
    problem(refund(api, admin, placed["id"], body, key="k-unpaid"), 409)
    missing_key = problem(refund(api, admin, placed["id"], body, key=None), 400)
    assert missing_key["errors"][0]["field"] == "Idempotency-Key"  # type: ignore[index]
    assert order(api, customer, placed["id"])["status"] == "confirmed"


def test_the_event_tool_signs_as_stripe_does(
    api: Api,
    customer: SignedIn,
    shop: Callable[..., Shop],
) -> None:
    import subprocess
    import sys
    from pathlib import Path

    store = shop({"apple": 2})
    placed = place_confirmed(api, customer, order_body(store, ("apple", 1)))
    tool = Path(__file__).resolve().parents[2] / "tools/stripe_event.py"
    url = api.url("payments", "/stripe/webhook")
    sent = subprocess.run(
        [sys.executable, str(tool), placed["payment"]["intent_id"], "--url", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert sent.stdout.startswith("200 ") and "stale event" in sent.stdout  # not paid yet
    assert order(api, customer, placed["id"])["status"] == "confirmed"
