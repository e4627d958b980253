"""The ``payments`` function's handlers and the payment configuration: the webhook's 400 on a
bad signature, replays, the public config, a project without keys refusing to take payment,
(the owner-only ``client_secret`` in the order view is in test_orders_http)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from celeste.services.payment_events import PaymentEventService
from celeste.services.payments import PaymentService
from celeste.services.refunds import Refunds
from celeste.services.retry import Backoff
from celeste_functions import composition
from celeste_functions.adapters.cache import Cache
from celeste_functions.composition import Services
from celeste_functions.config import Settings, payment_secrets
from celeste_functions.resources import payments as payments_resource
from tests.fakes import FakeStripe, InMemoryCommerce, InMemoryPaymentRecords, InventoryView
from tests.support.handlers import assert_problem, body_of, call

FAST = Backoff(attempts=5, base_s=0.0, cap_s=0.0, budget_s=5.0)


@pytest.fixture
def stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe()
    commerce = InMemoryCommerce()
    records = InMemoryPaymentRecords()
    refunds = Refunds(
        orders=commerce,
        writer=commerce,
        inventory=InventoryView(commerce),
        provider=lambda: fake,
        backoff=FAST,
    )
    events = PaymentEventService(
        orders=commerce,
        writer=commerce,
        records=records,
        provider=lambda: fake,
        refunds=refunds,
        backoff=FAST,
        request_backoff=FAST,
    )
    composition.use(
        Services(
            cache=Cache(client=lambda: None, ttl_s=60),
            payments=PaymentService(
                orders=commerce,
                writer=commerce,
                records=records,
                provider=lambda: fake,
                refunds=refunds,
                events=events,
                backoff=FAST,
                request_backoff=FAST,
            ),
            payment_events=events,
        )
    )
    yield fake
    composition.services.reset()


def test_config_is_public(stripe: FakeStripe) -> None:
    response = call(payments_resource.router, "GET", "/config")
    assert response.status_code == 200
    assert body_of(response) == {"provider": "stripe", "publishable_key": "pk_test_unit"}
    # A Hosting rewrite hands the function its own name in front.
    assert call(payments_resource.router, "GET", "/payments/config").status_code == 200


@pytest.mark.parametrize("signature", [None, "forged", ""])
def test_webhook_without_a_valid_signature_is_400_naming_the_header(
    stripe: FakeStripe, signature: str | None
) -> None:
    headers = {"Stripe-Signature": signature} if signature is not None else {}
    response = call(
        payments_resource.router,
        "POST",
        "/stripe/webhook",
        data=stripe.event("pi_1"),
        content_type="application/json",
        headers=headers,
    )
    problem = assert_problem(response, 400)
    assert problem["errors"][0]["field"] == "Stripe-Signature"


def test_webhook_replay_and_ignored_types(stripe: FakeStripe) -> None:
    def send(payload: bytes) -> str:
        response = call(
            payments_resource.router,
            "POST",
            "/stripe/webhook",
            data=payload,
            content_type="application/json; charset=utf-8",
            headers={"Stripe-Signature": FakeStripe.SECRET},
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        return str(body_of(response)["outcome"])

    other = b'{"id": "evt_x", "type": "charge.updated", "data": {"object": {"object": "charge"}}}'
    assert send(other) == "ignored"
    assert send(other) == "replay"
    assert call(payments_resource.router, "GET", "/stripe/webhook").status_code == 405


def test_a_project_without_keys_refuses_to_take_payment(monkeypatch: pytest.MonkeyPatch) -> None:
    live = Settings.from_env({"GCLOUD_PROJECT": "celeste-prod"})
    assert live.stripe_secret_key is None and live.stripe_webhook_secret is None
    demo = Settings.from_env({"GCLOUD_PROJECT": "demo-celeste"})
    assert demo.stripe_secret_key == "sk_test_celeste_dev"
    assert demo.stripe_webhook_secret == "whsec_celeste_dev"
    assert payment_secrets({"GCLOUD_PROJECT": "celeste-prod"}) == [
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
    ]
    assert payment_secrets({"GCLOUD_PROJECT": "demo-celeste"}) == []

    monkeypatch.setattr(composition, "settings", lambda: live)
    composition.stripe_provider.reset()
    commerce = InMemoryCommerce()
    records = InMemoryPaymentRecords()
    provider = composition.stripe_provider.get
    refunds = Refunds(
        orders=commerce, writer=commerce, inventory=InventoryView(commerce), provider=provider
    )
    events = PaymentEventService(
        orders=commerce, writer=commerce, records=records, provider=provider, refunds=refunds
    )
    composition.use(
        Services(
            cache=Cache(client=lambda: None, ttl_s=60),
            payments=PaymentService(
                orders=commerce,
                writer=commerce,
                records=records,
                provider=provider,
                refunds=refunds,
                events=events,
            ),
            payment_events=events,
        )
    )
    try:
        response = call(payments_resource.router, "GET", "/config")
        problem = assert_problem(response, 503)
        assert "STRIPE_SECRET_KEY" in problem["detail"] and "celeste-prod" in problem["detail"]
        webhook = call(
            payments_resource.router,
            "POST",
            "/stripe/webhook",
            data=b"{}",
            content_type="application/json",
            headers={"Stripe-Signature": "t=1,v1=x"},
        )
        assert_problem(webhook, 503)
    finally:
        composition.services.reset()
        composition.stripe_provider.reset()
