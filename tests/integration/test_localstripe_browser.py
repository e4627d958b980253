"""The local Stripe's browser confirmation (tools/localstripe_browser.py) against the real
localstripe the test command starts: what Stripe.js sends with the publishable key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import require_env

pytestmark = [
    pytest.mark.integration,
    # Switches on with the local Stripe launcher (which installs the confirmation).
    pytest.mark.skipif(
        not (Path(__file__).resolve().parents[2] / "tools/localstripe_server.py").exists(),
        reason="needs the local Stripe of the payments work",
    ),
]

CARD = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2034", "cvc": "123"}


@pytest.fixture
def stripe_api() -> tuple[str, dict[str, str]]:
    """The local Stripe's base URL and its secret-key header."""
    env = require_env("STRIPE_API_BASE", "STRIPE_SECRET_KEY")
    return env["STRIPE_API_BASE"], {"Authorization": f"Bearer {env['STRIPE_SECRET_KEY']}"}


def intent(stripe_api: tuple[str, dict[str, str]], amount: int = 1234) -> dict[str, Any]:
    base, secret = stripe_api
    answer = requests.post(
        f"{base}/v1/payment_intents",
        data={"amount": amount, "currency": "eur"},
        headers=secret,
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    created: dict[str, Any] = answer.json()
    return created


def browser_confirm(
    base: str, intent_id: str, client_secret: str, card: dict[str, str] = CARD, kind: str = "card"
) -> requests.Response:
    """The form Stripe.js (here: the served mock) posts from the page."""
    form = {"key": "pk_test_celeste_dev", "client_secret": client_secret}
    form["payment_method_data[type]"] = kind
    form.update({f"payment_method_data[card][{k}]": v for k, v in card.items()})
    return requests.post(f"{base}/v1/payment_intents/{intent_id}/confirm", data=form, timeout=30)


def status_of(stripe_api: tuple[str, dict[str, str]], intent_id: str) -> str:
    base, secret = stripe_api
    answer = requests.get(f"{base}/v1/payment_intents/{intent_id}", headers=secret, timeout=30)
    return str(answer.json()["status"])


def test_the_publishable_key_and_client_secret_pay_with_a_card(
    stripe_api: tuple[str, dict[str, str]],
) -> None:
    created = intent(stripe_api)
    answer = browser_confirm(stripe_api[0], created["id"], created["client_secret"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "succeeded"
    assert answer.json()["payment_method"].startswith("pm_")
    assert status_of(stripe_api, created["id"]) == "succeeded"


def test_a_wrong_client_secret_changes_nothing(stripe_api: tuple[str, dict[str, str]]) -> None:
    created = intent(stripe_api)
    answer = browser_confirm(stripe_api[0], created["id"], created["client_secret"] + "x")
    assert answer.status_code == 401
    assert status_of(stripe_api, created["id"]) == "requires_payment_method"


@pytest.mark.parametrize(
    ("card", "kind"),
    [({**CARD, "number": "42424242"}, "card"), (CARD, "sepa_debit"), ({}, "card")],
)
def test_a_bad_card_is_refused_and_the_intent_stays_payable(
    stripe_api: tuple[str, dict[str, str]], card: dict[str, str], kind: str
) -> None:
    created = intent(stripe_api)
    answer = browser_confirm(stripe_api[0], created["id"], created["client_secret"], card, kind)
    assert answer.status_code == 400, answer.text
    assert status_of(stripe_api, created["id"]) == "requires_payment_method"


def test_a_paid_intent_cannot_be_confirmed_again(stripe_api: tuple[str, dict[str, str]]) -> None:
    created = intent(stripe_api)
    first = browser_confirm(stripe_api[0], created["id"], created["client_secret"])
    assert first.status_code == 200
    again = browser_confirm(stripe_api[0], created["id"], created["client_secret"])
    assert again.status_code == 400


def test_without_the_publishable_key_confirm_is_localstripes_own(
    stripe_api: tuple[str, dict[str, str]],
) -> None:
    base, _ = stripe_api
    created = intent(stripe_api)
    answer = requests.post(
        f"{base}/v1/payment_intents/{created['id']}/confirm",
        data={"client_secret": created["client_secret"]},
        timeout=30,
    )
    assert answer.status_code == 401  # localstripe wants the secret key for its own confirm


def test_the_served_stripe_js_is_the_mock_with_the_card_confirmation(
    stripe_api: tuple[str, dict[str, str]],
) -> None:
    script = requests.get(f"{stripe_api[0]}/js.stripe.com/v3/", timeout=30)
    assert script.status_code == 200
    assert "javascript" in script.headers["Content-Type"]
    assert "LOCALSTRIPE_BASE_API" in script.text  # localstripe's mock
    assert "payment_method_data[card]" in script.text  # and the card confirmation after it
