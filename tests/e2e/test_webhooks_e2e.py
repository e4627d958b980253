"""Webhooks through the functions emulator and its Tasks emulator, to a receiver in this test
process (``tests/support/webhook_receiver.py``) that checks every signature: each event of an
order arrives acknowledged exactly once and in sequence order, also after failed attempts; a
failing order does not hold up another; the deliveries log, retry (replay), test ping, secret
rotation, the address rules and the deactivation after a run of failures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google.cloud import firestore

from tests.e2e.conftest import Api, Shop, problem
from tests.e2e.test_orders_e2e import order_body, place, settled
from tests.support.emulators import eventually
from tests.support.webhook_receiver import Receiver, running_receiver
from tools.devauth import SignedIn

pytestmark = pytest.mark.e2e

#: The test stack's retry schedule is 1, 1, 2 s (tools/stack_config.py): 4 attempts in ~4 s.
WAIT_S = 90


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def register(api: Api, admin: SignedIn, receiver: Receiver, events: list[str]) -> str:
    response = api.request(
        "POST", "webhooks", "", user=admin, json={"url": receiver.url, "events": events}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["secret"].startswith("whsec_") and body["active"] is True
    receiver.secret = body["secret"]
    return str(body["id"])


def placed_order(api: Api, user: SignedIn, store: Shop, db: firestore.Client) -> str:
    response = place(api, user, order_body(store, ("kettle", 1)), Prefer="wait=10")
    assert response.status_code in (201, 202), response.text
    order_id = str(response.json()["id"])
    assert settled(db, [order_id])[order_id] == "confirmed"
    return order_id


def acknowledged_ids(receiver: Receiver, order_id: str) -> list[str]:
    return [e["id"] for e in receiver.acknowledged() if e["aggregate"]["id"] == order_id]


def deliveries(api: Api, admin: SignedIn, wid: str, query: str = "") -> list[dict[str, Any]]:
    response = api.request("GET", "webhooks", f"/{wid}/deliveries?limit=100{query}", user=admin)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_every_event_arrives_once_in_order_also_after_failures(
    api: Api,
    admin: SignedIn,
    customers: list[SignedIn],
    shop: Callable[..., Shop],
    db: firestore.Client,
    receiver: Receiver,
) -> None:
    # The order's types (the shop's products and stock levels tell events of their own).
    wid = register(api, admin, receiver, ["order.placed", "order.confirmed", "order.cancelled"])
    receiver.fail_first = 2  # the first event's first two attempts fail
    store = shop({"kettle": 5})
    user = customers[4]
    order_id = placed_order(api, user, store, db)
    cancelled = api.request("POST", "orders", f"/{order_id}/cancel", user=user)
    assert cancelled.status_code == 200, cancelled.text
    expected = [f"order-{order_id}-{n}" for n in (1, 2, 3)]
    eventually(
        lambda: acknowledged_ids(receiver, order_id) == expected or None,
        timeout_s=WAIT_S,
        what=f"events in order, got {receiver.summary()}",
    )
    assert all(r.verified for r in receiver.received)
    # Sent in order: nothing of event n+1 arrived before event n was acknowledged.
    arrivals = [r.event["sequence"] for r in receiver.received]
    assert arrivals == sorted(arrivals) and arrivals.count(1) == 3, receiver.summary()
    first = receiver.received[-1]
    assert first.headers["Celeste-Event-Id"] == expected[2]
    assert first.headers["Celeste-Event-Type"] == "order.cancelled"
    assert first.event["data"]["status"] == "cancelled" and first.event["sequence"] == 3

    log = {d["event_id"]: d for d in deliveries(api, admin, wid)}
    assert {k: (v["status"], v["attempts"]) for k, v in log.items()} == {
        expected[0]: ("delivered", 3),
        expected[1]: ("delivered", 1),
        expected[2]: ("delivered", 1),
    }
    assert log[expected[0]]["last_status_code"] == 204 and log[expected[0]]["delivered_at"]
    delivered = deliveries(api, admin, wid, "&status=delivered")
    assert len(delivered) == 3 and deliveries(api, admin, wid, "&status=failed") == []
    # Nothing is sent twice: no further request arrives (the queue has nothing left to send).
    assert len(receiver.received) == 5

    # Retry of a delivered event is an explicit replay: sent again, still delivered.
    retried = api.request("POST", "webhooks", f"/{wid}/deliveries/{expected[1]}/retry", user=admin)
    assert retried.status_code == 200, retried.text
    body = retried.json()
    assert body["outcome"] == {"status_code": 204, "error": None, "delivered": True, "replay": True}
    assert body["delivery"]["status"] == "delivered" and body["delivery"]["replays"] == 1
    assert receiver.received[-1].event["id"] == expected[1]


def test_a_failing_order_does_not_hold_up_another(
    api: Api,
    admin: SignedIn,
    customers: list[SignedIn],
    shop: Callable[..., Shop],
    db: firestore.Client,
    receiver: Receiver,
) -> None:
    wid = register(api, admin, receiver, ["order.placed", "order.confirmed"])
    store = shop({"kettle": 5})
    # Order A's first event fails until order B is through (A is told by its owner: the
    # queue may run B's first task before A's).
    owner_a = customers[5].uid
    first: list[str] = []
    released: list[bool] = []

    def fail(event: dict[str, Any]) -> bool:
        blocked = event["sequence"] == 1 and event["data"].get("user_id") == owner_a
        if blocked and not first:
            first.append(event["id"])
        return blocked and not released

    receiver.fail_when = fail
    order_a = placed_order(api, customers[5], store, db)
    eventually(lambda: first or None, timeout_s=WAIT_S, what="order A's first event refused")
    order_b = placed_order(api, customers[6], store, db)  # while A's first event is failing
    eventually(
        lambda: len(acknowledged_ids(receiver, order_b)) == 2 or None,
        timeout_s=WAIT_S,
        what=f"order B's events, got {receiver.summary()}",
    )
    released.append(True)
    eventually(
        lambda: (
            (
                len(acknowledged_ids(receiver, order_a)) >= 1
                and acknowledged_ids(receiver, order_a)[-1] == f"order-{order_a}-2"
            )
            or None
        ),
        timeout_s=WAIT_S,
        what=f"order A's last event, got {receiver.summary()}",
    )
    assert first == [f"order-{order_a}-1"]
    summary = receiver.summary()
    a_first = [i for i, (eid, _, _) in enumerate(summary) if eid == f"order-{order_a}-1"]
    a_second = [i for i, (eid, _, _) in enumerate(summary) if eid == f"order-{order_a}-2"]
    assert a_first and a_second and max(a_first) < min(a_second), summary  # A stayed in order
    assert len(a_second) == 1 and [s for (_, _, s) in summary].count(204) >= 3
    log = {d["event_id"]: d for d in deliveries(api, admin, wid)}
    assert log[f"order-{order_a}-1"]["attempts"] >= 2
    assert log[f"order-{order_a}-1"]["last_error"] in (None, "HTTP 500")


def test_ping_rotation_and_access(
    api: Api, admin: SignedIn, customers: list[SignedIn], receiver: Receiver
) -> None:
    wid = register(api, admin, receiver, ["order.paid"])
    ping = api.request("POST", "webhooks", f"/{wid}/test", user=admin)
    assert ping.status_code == 200, ping.text
    assert ping.json()["outcome"]["delivered"] is True
    assert receiver.received[-1].event["type"] == "ping" and receiver.received[-1].verified

    old = receiver.secret
    rotated = api.request("POST", "webhooks", f"/{wid}/rotate-secret", user=admin)
    assert rotated.status_code == 200 and rotated.json()["secret"] != old
    refused = api.request("POST", "webhooks", f"/{wid}/test", user=admin)
    assert refused.json()["outcome"] == {  # the receiver still checks with the old secret
        "status_code": 401,
        "error": "HTTP 401",
        "delivered": False,
        "replay": False,
    }
    assert not receiver.received[-1].verified
    receiver.secret = rotated.json()["secret"]
    assert api.request("POST", "webhooks", f"/{wid}/test", user=admin).json()["outcome"][
        "delivered"
    ]

    shown = api.request("GET", "webhooks", f"/{wid}", user=admin)
    assert shown.status_code == 200 and "secret" not in shown.json() and shown.headers["ETag"]
    listed = api.request("GET", "webhooks", "", user=admin).json()["items"]
    assert [w["id"] for w in listed] == [wid] and "secret" not in listed[0]
    patched = api.request(
        "PATCH",
        "webhooks",
        f"/{wid}",
        user=admin,
        json={"description": "ops"},
        headers={"If-Match": '"0"'},
    )
    problem(patched, 412)
    patched = api.request(
        "PATCH",
        "webhooks",
        f"/{wid}",
        user=admin,
        json={"description": "ops", "events": ["*"]},
        headers={"If-Match": shown.headers["ETag"]},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["events"] == ["*"] and patched.json()["description"] == "ops"

    user = customers[7]
    problem(api.request("GET", "webhooks", "", user=user), 403)
    problem(api.request("GET", "webhooks", ""), 401)
    problem(api.request("POST", "webhooks", f"/{wid}/test", user=user), 403)
    deleted = api.request("DELETE", "webhooks", f"/{wid}", user=admin)
    assert deleted.status_code == 204, deleted.text
    problem(api.request("GET", "webhooks", f"/{wid}", user=admin), 404)


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",  # https only (plain http only to loopback, demo projects)
        "https://10.0.0.1/x",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/x",
        "http://[::ffff:127.0.0.1]:8080/x",  # loopback in a disguise
        "https://[fd00::1]/x",
        "http://0.0.0.0:8080/x",
        "ftp://hooks.example.com/x",
    ],
)
def test_forbidden_urls_are_refused_naming_url(api: Api, admin: SignedIn, url: str) -> None:
    response = api.request(
        "POST", "webhooks", "", user=admin, json={"url": url, "events": ["order.paid"]}
    )
    body = problem(response, 400)
    assert [e["field"] for e in body["errors"]] == ["url"], body  # type: ignore[union-attr]


def test_unknown_event_types_are_refused(api: Api, admin: SignedIn) -> None:
    for events in (["order.nope"], ["ping"], []):
        response = api.request(
            "POST",
            "webhooks",
            "",
            user=admin,
            json={"url": "http://127.0.0.1:9/x", "events": events},
        )
        body = problem(response, 400)
        assert "events" in str(body["errors"]), body


def test_a_run_of_failures_deactivates_the_endpoint_with_an_event(
    api: Api,
    admin: SignedIn,
    customers: list[SignedIn],
    shop: Callable[..., Shop],
    db: firestore.Client,
    receiver: Receiver,
) -> None:
    wid = register(api, admin, receiver, ["order.placed", "order.confirmed"])
    receiver.fail_when = lambda event: True
    store = shop({"kettle": 5})
    order_id = placed_order(api, customers[8], store, db)
    placed_order(api, customers[9], store, db)

    def deactivated() -> list[dict[str, Any]] | None:
        response = api.request("GET", "events", "?type=webhook.deactivated", user=admin)
        assert response.status_code == 200, response.text
        return response.json()["items"] or None

    events = eventually(deactivated, timeout_s=WAIT_S, what="the deactivation event")
    assert len(events) == 1, events
    event = events[0]
    assert event["aggregate"] == {"kind": "webhook", "id": wid}
    assert event["id"] == f"webhook-{wid}-{event['sequence']}" and "secret" not in event["data"]
    assert event["data"]["active"] is False
    shown = api.request("GET", "webhooks", f"/{wid}", user=admin).json()
    assert shown["active"] is False and shown["consecutive_failures"] >= 3
    failed = deliveries(api, admin, wid, "&status=failed")
    assert len(failed) >= 3 and all(d["attempts"] == 4 for d in failed)
    assert f"order-{order_id}-1" in {d["event_id"] for d in failed}
    assert receiver.acknowledged() == []
