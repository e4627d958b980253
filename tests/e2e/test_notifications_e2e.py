"""Notifications end to end (the functions emulator with its Tasks emulator, MailDev and the
fake FCM): a shopper with a registered device places an order that an admin pays and ships;
each event reaches their inbox once (however often the trigger runs), their email once and
their device once; ``email: false`` stops the emails; a token FCM reports unregistered is
dropped; read marks; and a guest gets the inbox alone."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from google.cloud import firestore

from tests.e2e.conftest import Api, Shop, problem
from tests.e2e.test_orders_e2e import move, order_body, place, settled
from tests.support import local_outbox
from tests.support.emulators import eventually
from tools.devauth import AuthEmulator, SignedIn

pytestmark = pytest.mark.e2e

#: Tasks retry with backoff, and a cold emulator worker takes a while: generous deadlines.
SLOW_S = 90
EVENTS = ["order.placed", "order.confirmed", "order.paid", "order.shipped"]


@pytest.fixture(autouse=True)
def _empty_outboxes() -> None:
    local_outbox.clear_emails()
    local_outbox.clear_pushes()


def inbox(api: Api, user: SignedIn, query: str = "") -> dict[str, Any]:
    response = api.request("GET", "me", f"/notifications{query}", user=user)
    assert response.status_code == 200, response.text
    return dict(response.json())


def types_in(api: Api, user: SignedIn) -> list[str]:
    return [item["type"] for item in inbox(api, user, "?limit=100")["items"]]


def channel_states(db: firestore.Client, uid: str, channel: str) -> dict[str, str]:
    return {
        s.id: ((s.to_dict() or {}).get("channels", {}).get(channel) or {}).get("status", "-")
        for s in db.collection("users").document(uid).collection("notifications").stream()
    }


def all_final(db: firestore.Client, uid: str, channel: str, count: int) -> dict[str, str] | None:
    states = channel_states(db, uid, channel)
    done = len(states) >= count and all(v in {"sent", "skipped", "failed"} for v in states.values())
    return states if done else None


def paid_and_shipped(api: Api, admin: SignedIn, db: firestore.Client, order_id: str) -> None:
    assert settled(db, [order_id])[order_id] == "confirmed"
    move(api, admin, order_id, "processing")
    move(api, admin, order_id, "shipped")


def fresh_user(auth: AuthEmulator) -> SignedIn:
    tag = uuid.uuid4().hex[:10]
    return auth.user(f"notify-{tag}@e2e.test", f"password-{tag}")


def test_an_order_reaches_inbox_email_and_push_once_per_event(
    api: Api,
    admin: SignedIn,
    auth: AuthEmulator,
    shop: Callable[..., Shop],
    db: firestore.Client,
) -> None:
    user = fresh_user(auth)
    assert api.request("GET", "me", user=user).json()["notifications"] == {
        "email": True,
        "push": True,
    }
    token = f"device-{uuid.uuid4().hex[:8]}:APA91b{uuid.uuid4().hex}"  # FCM tokens hold ":"
    dead = f"unregistered-{uuid.uuid4().hex}"
    for t in (token, dead):
        put = api.request("PUT", "me", f"/devices/{t}", user=user, json={"platform": "web"})
        assert put.status_code == 204, put.text
    store = shop({"kettle": 3})
    placed = place(api, user, order_body(store, ("kettle", 2)), Prefer="wait=10")
    assert placed.status_code in (201, 202), placed.text
    order_id = placed.json()["id"]
    paid_and_shipped(api, admin, db, order_id)

    eventually(
        lambda: sorted(types_in(api, user)) == sorted(EVENTS),
        timeout_s=SLOW_S,
        what="an inbox entry per event",
    )
    body = inbox(api, user)
    assert [i["type"] for i in body["items"]] == EVENTS[::-1]  # newest first
    assert body["unread_count"] == 4 and body["next_cursor"] is None
    shipped = body["items"][0]
    assert shipped["id"] == shipped["event_id"] == f"order-{order_id}-4"
    assert shipped["order_id"] == order_id and shipped["read_at"] is None
    assert shipped["title"] == "Order shipped"

    # The trigger delivered again (as Cloud Functions may): still one entry, one send each.
    redeliver(db, [i["event_id"] for i in body["items"]])

    emails = eventually(
        lambda: (found := local_outbox.emails(user.email)) and len(found) >= 4 and found,
        timeout_s=SLOW_S,
        what="an email per event",
    )
    sent = eventually(
        lambda: all_final(db, user.uid, "email", 4), timeout_s=SLOW_S, what="emails recorded"
    )
    assert set(sent.values()) == {"sent"}
    pushed = eventually(
        lambda: all_final(db, user.uid, "push", 4), timeout_s=SLOW_S, what="pushes recorded"
    )
    assert set(pushed.values()) == {"sent"}
    emails = local_outbox.emails(user.email)
    subjects = sorted(e["subject"] for e in emails)
    assert len(emails) == 4, subjects
    assert any("Order shipped" in s and order_id in s for s in subjects), subjects
    assert len({e["headers"]["message-id"] for e in emails}) == 4
    shipped_mail = next(e for e in emails if "Order shipped" in e["subject"])
    assert "Kettle" in shipped_mail["text"] and "EUR 20.00" in shipped_mail["text"]
    assert "<table>" in shipped_mail["html"]

    to_device = local_outbox.pushes(token)
    assert sorted(p["message"]["data"]["type"] for p in to_device) == sorted(EVENTS)
    assert all(p["message"]["data"]["order_id"] == order_id for p in to_device)
    assert all(p["accepted"] for p in to_device)
    # The dead token answered UNREGISTERED and was dropped: each push that read it before the
    # drop (the first event's, and any event's pushed at the same moment by another task) hit
    # it at most once per event, and it is gone from the user's devices.
    to_dead = [p["message"]["data"]["event_id"] for p in local_outbox.pushes(dead)]
    assert 1 <= len(to_dead) <= len(EVENTS) and len(set(to_dead)) == len(to_dead), to_dead
    devices = db.collection("users").document(user.uid).collection("devices").stream()
    assert [(d.to_dict() or {}).get("token") for d in devices] == [token]

    # Read marks: one, idempotent, then all; another user's entry is a 404.
    read = api.request("POST", "me", f"/notifications/{shipped['id']}/read", user=user)
    assert read.status_code == 200, read.text
    assert read.json()["read_at"] is not None
    again = api.request("POST", "me", f"/notifications/{shipped['id']}/read", user=user)
    assert again.json()["read_at"] == read.json()["read_at"]
    unread = inbox(api, user, "?unread=true")
    assert unread["unread_count"] == 3 and len(unread["items"]) == 3
    assert shipped["id"] not in {i["id"] for i in unread["items"]}
    problem(api.request("POST", "me", f"/notifications/{shipped['id']}/read", user=admin), 404)
    everything = api.request("POST", "me", "/notifications/read-all", user=user)
    assert everything.status_code == 200 and everything.json() == {"updated": 3}
    assert inbox(api, user)["unread_count"] == 0
    page = inbox(api, user, "?limit=3")
    rest = inbox(api, user, f"?limit=3&cursor={page['next_cursor']}")
    assert [i["type"] for i in page["items"] + rest["items"]] == EVENTS[::-1]


def redeliver(db: firestore.Client, event_ids: list[str]) -> None:
    """Run the events trigger again for each event, in this process, as a redelivery would."""
    from types import SimpleNamespace

    from celeste_functions.triggers import notifications as handlers

    for event_id in event_ids:
        snapshot = db.collection("events").document(event_id).get()
        handlers.on_event_created(SimpleNamespace(id=f"again-{event_id}", data=snapshot))


def test_email_off_sends_no_email_and_a_guest_gets_the_inbox_alone(
    api: Api,
    auth: AuthEmulator,
    admin: SignedIn,
    shop: Callable[..., Shop],
    db: firestore.Client,
) -> None:
    user = fresh_user(auth)
    patched = api.request("PATCH", "me", user=user, json={"notifications": {"email": False}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["notifications"] == {"email": False, "push": True}
    assert api.request("GET", "me", user=user).json()["notifications"]["email"] is False
    problem(api.request("PATCH", "me", user=user, json={"notifications": {"sms": True}}), 400)
    guest = auth.sign_in_anonymously()
    store = shop({"kettle": 5})
    placed = place(api, user, order_body(store, ("kettle", 1)), Prefer="wait=10")
    guest_order = place(api, guest, order_body(store, ("kettle", 1)), Prefer="wait=10")
    assert guest_order.status_code in (201, 202), guest_order.text
    settled(db, [placed.json()["id"], guest_order.json()["id"]])

    eventually(
        lambda: len(types_in(api, user)) == 2, timeout_s=SLOW_S, what="the user's two entries"
    )
    states = channel_states(db, user.uid, "email")
    assert set(states.values()) == {"-"}, states  # email was never a channel of theirs
    pushes = eventually(
        lambda: all_final(db, user.uid, "push", 2), timeout_s=SLOW_S, what="pushes decided"
    )
    assert set(pushes.values()) == {"skipped"}  # no device registered
    assert local_outbox.emails(user.email) == []
    eventually(lambda: len(types_in(api, guest)) == 2, timeout_s=SLOW_S, what="the guest's entries")
    entries = db.collection("users").document(guest.uid).collection("notifications")
    assert all((s.to_dict() or {})["channels"] == {} for s in entries.stream())


def test_an_admin_gets_stock_low_in_the_inbox_and_by_email(
    api: Api,
    admin: SignedIn,
    customer: SignedIn,
    shop: Callable[..., Shop],
    db: firestore.Client,
) -> None:
    for user in (admin, customer):  # their profiles: the admin's says admin
        assert api.request("GET", "me", user=user).status_code == 200
    store = shop({"torch": 5})  # threshold 1: ok
    pid = store.products["torch"]
    put = api.request(
        "PUT",
        "inventory",
        f"/{store.store_id}/{pid}",
        user=admin,
        json={"on_hand": 1, "low_stock_threshold": 1},
    )
    assert put.status_code == 200, put.text  # 1 left at threshold 1: low
    eventually(
        lambda: "stock.low" in types_in(api, admin), timeout_s=SLOW_S, what="the admin's entry"
    )
    entry = next(i for i in inbox(api, admin)["items"] if i["type"] == "stock.low")
    assert entry["title"] == "Low stock" and entry["order_id"] is None
    assert "1 left" in entry["body"]
    [email] = eventually(
        lambda: local_outbox.emails(admin.email), timeout_s=SLOW_S, what="the admin's email"
    )
    assert "Low stock" in email["subject"] and pid in email["text"]
    sent = eventually(
        lambda: all_final(db, admin.uid, "email", 1), timeout_s=SLOW_S, what="email recorded"
    )
    assert set(sent.values()) == {"sent"}
    assert "stock.low" not in types_in(api, customer)  # shoppers are not told
