"""Customer stats and tiers over HTTP against the emulators: spend per currency, a partial refund
of a delivered order lowers the stats by its share (and the tier with them), and trigger events
that are forged, repeated or out of order count nothing the stored order did not do."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
import stripe
from google.cloud import firestore

from tests.e2e.conftest import Api, Shop, problem
from tests.e2e.test_orders_e2e import (
    _Snapshot,
    _stock_state,
    audit_clean,
    move,
    order_body,
    place,
    wait_for_level,
)
from tests.e2e.test_payments_e2e import (
    apple_order,
    customer,  # noqa: F401 - a new customer per test (fixture)
    pay,
    refund,
    wait_order,
    wait_paid,
)
from tests.support.emulators import eventually
from tools.devauth import SignedIn

pytestmark = pytest.mark.e2e

#: A tier one level above the shop fixture's SILVER (``min_orders: 1``), earned by spend in EUR.
GOLD = {
    "code": "GOLD",
    "name": "Gold",
    "level": 3,
    "requirements": {"min_orders": 1, "min_lifetime_spend": 2_500, "currency": "EUR"},
}
#: The top of the ladder, so ``GET /me/tier`` shows progress for a GOLD customer.
PLATINUM = {
    "code": "PLATINUM",
    "name": "Platinum",
    "level": 4,
    "requirements": {"min_orders": 1, "min_lifetime_spend": 10_000, "currency": "EUR"},
}


def _me(api: Api, user: SignedIn) -> dict[str, Any]:
    response = api.request("GET", "me", user=user)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _wait_stats(api: Api, user: SignedIn, orders: int, spend: dict[str, int]) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        me = _me(api, user)
        stats = me["stats"]
        return me if (stats["orders_count"], stats["lifetime_spend"]) == (orders, spend) else None

    return eventually(probe, timeout_s=90, what=f"stats {orders} orders / {spend}")


def test_a_partial_refund_lowers_the_stats_by_its_share_and_the_tier_with_it(
    api: Api,
    admin: SignedIn,
    customer: SignedIn,  # noqa: F811
    shop: Callable[..., Shop],
    stripe_client: stripe.StripeClient,
) -> None:
    _, placed, intent_id = apple_order(api, customer, shop, stock=5, quantity=3, price=1_000)
    for tier in (GOLD, PLATINUM):
        created = api.request("POST", "tiers", user=admin, json=tier)
        assert created.status_code == 201, created.text
        assert created.json()["requirements"]["currency"] == "EUR"
    wrong = {**PLATINUM, "code": "ODD", "level": 8, "requirements": {"currency": "euro"}}
    refused = problem(api.request("POST", "tiers", user=admin, json=wrong), 400)
    assert [e["field"] for e in refused["errors"]] == ["requirements.currency"]  # type: ignore[attr-defined]

    pay(stripe_client, intent_id)
    wait_paid(api, customer, placed["id"])
    move(api, admin, placed["id"], "shipped")
    move(api, admin, placed["id"], "delivered")
    delivered = _wait_stats(api, customer, 1, {"EUR": 3_000})
    assert delivered["tier"] == "GOLD"
    standing = api.request("GET", "me", "/tier", user=customer).json()
    spend = next(p for p in standing["progress"] if p["name"] == "min_lifetime_spend")
    assert (spend["current"], spend["required"], spend["currency"]) == (3_000, 10_000, "EUR")

    # Almost everything goes back: the spend falls by the refunded share, the order still counts.
    first = refund(api, admin, placed["id"], {"amount": 2_600, "reason": "r"}, key="stats-1")
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "partially_refunded"
    partial = _wait_stats(api, customer, 1, {"EUR": 400})
    assert partial["tier"] == "SILVER"  # GOLD needs 2 500 spent
    again = refund(api, admin, placed["id"], {"amount": 2_600, "reason": "r"}, key="stats-1")
    assert again.status_code == 200  # a replay of the same refund: no second share
    second = refund(api, admin, placed["id"], {"amount": 150, "reason": "r2"}, key="stats-2")
    assert second.json()["status"] == "partially_refunded"  # status unchanged: share still due
    _wait_stats(api, customer, 1, {"EUR": 250})

    rest = refund(api, admin, placed["id"], {"reason": "all of it"}, key="stats-3")
    assert rest.json()["status"] == "refunded"
    refunded = _wait_stats(api, customer, 0, {})
    assert refunded["tier"] == "BRONZE" and refunded["stats"]["orders_last_30_days"] == 0
    wait_order(
        api,
        customer,
        placed["id"],
        lambda o: o["payment"]["amount_refunded"] == 3_000,
        "refunded in full",
    )


def test_forged_repeated_and_reordered_events_count_nothing_for_a_cancelled_order(
    api: Api,
    admin: SignedIn,
    customer: SignedIn,  # noqa: F811
    shop: Callable[..., Shop],
    db: firestore.Client,
) -> None:
    """A cancelled order (pending → confirmed → cancelled) gets ``on_order_updated`` events for
    moves that never happened (delivered, refunded, shipped), each three times, out of order:
    its customer's stats stay 0 / nothing spent, no stats marker is written, the stock stays
    released once."""
    from celeste_functions.triggers import orders as handlers

    store = shop({"lamp": 5}, price=2_000)
    created = place(api, customer, order_body(store, ("lamp", 1)), Prefer="wait=10")
    assert created.status_code == 201 and created.json()["status"] == "confirmed"
    order_id = created.json()["id"]
    cancelled = api.request("POST", "orders", f"/{order_id}/cancel", user=customer)
    assert cancelled.status_code == 200, cancelled.text
    wait_for_level(api, admin, store, "lamp", on_hand=5, reserved=0)
    released = _stock_state(db, store)
    moves = [
        ("shipped", "delivered"),
        ("confirmed", "cancelled"),
        ("delivered", "partially_refunded"),
        ("processing", "shipped"),
        ("delivered", "refunded"),
        ("partially_refunded", "partially_refunded"),
    ]
    for n, (before, after) in enumerate(reversed(moves * 3)):
        handlers.on_order_updated(
            SimpleNamespace(
                id=f"forged-{n}",
                params={"order_id": order_id},
                data=SimpleNamespace(
                    before=_Snapshot({"status": before}), after=_Snapshot({"status": after})
                ),
            )
        )
    me = _me(api, customer)
    assert (me["stats"]["orders_count"], me["stats"]["lifetime_spend"]) == (0, {})
    assert me["stats"]["orders_last_30_days"] == 0 and me["tier"] == "BRONZE"
    assert list(db.collection(f"orders/{order_id}/effects").stream()) == []
    assert _stock_state(db, store) == released
    stored = api.request("GET", "orders", f"/{order_id}", user=customer).json()
    assert [h["status"] for h in stored["history"]] == ["pending", "confirmed", "cancelled"]
    audit_clean(api, admin)
