"""The webhook domain's pure rules: signatures, the address policy, the retry schedule, the
subscription list and a delivery's state machine."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest

from celeste.kernel.events import Aggregate, Event
from celeste.orders.events import EVENT_TYPES
from celeste.webhooks.addresses import address_refusal, resolved_refusal, url_refusal
from celeste.webhooks.deliveries import (
    DEFAULT_SCHEDULE,
    LEASE,
    DeliveryStatus,
    Outcome,
    backoff,
    claim_refusal,
    claimed,
    new_delivery,
    parse_schedule,
    recorded,
    replayed,
)
from celeste.webhooks.endpoints import Deactivation, Webhook, WebhookCreate, after_settled
from celeste.webhooks.signing import new_secret, signature, signature_header, verify
from celeste.webhooks.types import PING, SUBSCRIBABLE, subscribes

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)
SECRET = "whsec_test"


# --- signatures -------------------------------------------------------------------------------


def test_the_signature_header_is_t_and_v1_over_t_dot_body() -> None:
    import hashlib
    import hmac

    body = b'{"id":"order-a-1"}'
    header = signature_header(SECRET, 1700000000, body)
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert signature(SECRET, 1700000000, body) == expected


def test_a_signature_verifies_only_for_its_secret_body_and_time() -> None:
    body = b'{"a":1}'
    header = signature_header(SECRET, 1000, body)
    assert verify(SECRET, header, body, now=1000)
    assert verify(SECRET, header, body, now=1299)
    assert not verify(SECRET, header, body, now=1301)  # too old: a replayed capture
    assert not verify("whsec_other", header, body, now=1000)
    assert not verify(SECRET, header, b'{"a":2}', now=1000)
    assert not verify(SECRET, "v1=" + header.split("v1=")[1], body, now=1000)  # no t
    assert not verify(SECRET, "t=1000", body, now=1000)
    # During a rotation a header may carry several v1 entries: any one may match.
    assert verify(SECRET, f"t=1000,v1={'0' * 64},{header.split(',')[1]}", body, now=1000)


def test_secrets_are_fresh_and_prefixed() -> None:
    first, second = new_secret(), new_secret()
    assert first.startswith("whsec_") and len(first) >= 6 + 43
    assert first != second


# --- the address policy -----------------------------------------------------------------------

REFUSED = [
    "127.0.0.1",
    "127.1.2.3",
    "::1",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",
    "169.254.1.1",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "0.0.0.0",
    "::",
    "224.0.0.1",
    "ff02::1",
    "100.64.0.1",
    "100.127.255.254",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",  # documentation
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
]
ALLOWED = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "100.128.0.1"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address), allow_loopback=False) is not None


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address), allow_loopback=False) is None


def test_loopback_is_allowed_only_where_allowed_and_only_loopback() -> None:
    for address in ("127.0.0.1", "::1"):
        assert address_refusal(ipaddress.ip_address(address), allow_loopback=True) is None
    for address in ("10.0.0.1", "169.254.169.254", "::ffff:127.0.0.1", "0.0.0.0"):
        assert address_refusal(ipaddress.ip_address(address), allow_loopback=True) is not None


@pytest.mark.parametrize(
    ("url", "loopback", "allowed"),
    [
        ("https://hooks.example.com/celeste", False, True),
        ("https://93.184.216.34:8443/x?y=1", False, True),
        ("http://hooks.example.com/celeste", False, False),  # https only
        ("http://hooks.example.com/celeste", True, False),  # loopback only, even in demo
        ("https://10.0.0.1/", False, False),
        ("https://169.254.169.254/latest/meta-data", True, False),
        ("https://[::1]/", False, False),
        ("https://localhost/", False, False),
        ("http://127.0.0.1:8000/hook", False, False),
        ("http://127.0.0.1:8000/hook", True, True),
        ("http://localhost:8000/hook", True, True),
        ("http://[::1]:8000/hook", True, True),
        ("http://[::ffff:127.0.0.1]:8000/hook", True, False),
        ("ftp://hooks.example.com/", False, False),
        ("https://user:pw@hooks.example.com/", False, False),
        ("https:///nohost", False, False),
        ("https://hooks.example.com:99999/", False, False),
        ("not a url", False, False),
    ],
)
def test_url_rules(url: str, loopback: bool, allowed: bool) -> None:
    assert (url_refusal(url, allow_loopback=loopback) is None) is allowed


def test_a_host_is_refused_when_any_address_it_resolves_to_is() -> None:
    public, private = ipaddress.ip_address("8.8.8.8"), ipaddress.ip_address("10.1.1.1")
    assert resolved_refusal([public], allow_loopback=False) is None
    refused = resolved_refusal([public, private], allow_loopback=False)
    assert refused is not None and "10.1.1.1" in refused
    assert resolved_refusal([], allow_loopback=False) == "the host does not resolve"


# --- the retry schedule -----------------------------------------------------------------------


def test_the_default_schedule_retries_for_at_least_a_day() -> None:
    assert sum(DEFAULT_SCHEDULE) >= 24 * 3600
    assert list(DEFAULT_SCHEDULE) == sorted(DEFAULT_SCHEDULE)  # never shorter pauses later
    assert backoff(DEFAULT_SCHEDULE, 1) == 30
    assert backoff(DEFAULT_SCHEDULE, len(DEFAULT_SCHEDULE)) == DEFAULT_SCHEDULE[-1]
    assert backoff(DEFAULT_SCHEDULE, len(DEFAULT_SCHEDULE) + 1) is None


def test_a_schedule_setting_is_comma_separated_seconds() -> None:
    assert parse_schedule("1, 2,30") == (1, 2, 30)
    for bad in ("", "a,b", "1,-1", ","):
        with pytest.raises(ValueError):
            parse_schedule(bad)


# --- subscriptions ----------------------------------------------------------------------------


def test_every_order_event_type_is_subscribable_and_ping_is_not() -> None:
    assert set(EVENT_TYPES.values()) <= SUBSCRIBABLE
    assert {"product.created", "stock.low", "payment.refunded", "webhook.deactivated"} <= (
        SUBSCRIBABLE
    )
    assert PING not in SUBSCRIBABLE
    assert subscribes(["*"], "order.paid") and not subscribes(["*"], PING)
    assert subscribes(["order.paid"], "order.paid") and not subscribes(["order.paid"], "x.y")


def test_a_subscription_names_known_types_only() -> None:
    ok = WebhookCreate(url="https://a.example/", events=["order.paid", "order.paid", "*"])
    assert ok.events == ["*", "order.paid"]
    for events in (["order.nope"], ["ping"], []):
        with pytest.raises(ValueError):
            WebhookCreate(url="https://a.example/", events=events)


# --- a delivery's state machine ---------------------------------------------------------------


def _event(sequence: int = 1) -> Event:
    return Event(
        id=f"order-o1-{sequence}",
        type="order.placed",
        aggregate=Aggregate(kind="order", id="o1"),
        sequence=sequence,
        occurred_at=T0,
        data={},
    )


def test_an_attempt_is_claimed_once_then_recorded() -> None:
    delivery = new_delivery(_event(), at=T0)
    assert claim_refusal(delivery, 0, now=T0) is None
    leased = claimed(delivery, now=T0)
    assert claim_refusal(leased, 0, now=T0 + timedelta(seconds=5)) is not None
    assert claim_refusal(leased, 0, now=T0 + LEASE + timedelta(seconds=1)) is None  # lease over
    assert claim_refusal(leased, 1, now=T0) is not None  # not that attempt

    failed_once = recorded(leased, Outcome(500, "HTTP 500"), now=T0, schedule=(10, 20))
    assert failed_once.status is DeliveryStatus.PENDING and failed_once.attempts == 1
    assert failed_once.next_attempt_at == T0 + timedelta(seconds=10)
    assert failed_once.lease_until is None and failed_once.last_status_code == 500
    assert claim_refusal(failed_once, 1, now=T0) == "its retry is not due"
    assert claim_refusal(failed_once, 1, now=T0 + timedelta(seconds=10)) is None

    twice = recorded(failed_once, Outcome(None, "timed out"), now=T0, schedule=(10, 20))
    thrice = recorded(twice, Outcome(None, "timed out"), now=T0, schedule=(10, 20))
    assert twice.status is DeliveryStatus.PENDING
    assert thrice.status is DeliveryStatus.FAILED and thrice.attempts == 3
    assert claim_refusal(thrice, 3, now=T0) == "already failed"

    ok = recorded(failed_once, Outcome(204), now=T0, schedule=(10, 20))
    assert ok.status is DeliveryStatus.DELIVERED and ok.delivered_at == T0
    assert ok.last_error is None


def test_a_replay_keeps_a_delivered_delivery_delivered() -> None:
    done = recorded(new_delivery(_event(), at=T0), Outcome(200), now=T0, schedule=(1,))
    again = replayed(claimed(done, now=T0), Outcome(500, "HTTP 500"), now=T0)
    assert again.status is DeliveryStatus.DELIVERED and again.replays == 1
    assert again.lease_until is None and again.last_status_code == 500
    failed = recorded(new_delivery(_event(), at=T0), Outcome(500), now=T0, schedule=())
    assert failed.status is DeliveryStatus.FAILED
    assert replayed(failed, Outcome(200), now=T0).status is DeliveryStatus.DELIVERED


def _webhook(**changes: object) -> Webhook:
    base = Webhook(id="w1", url="https://a.example/", events=["*"], created_at=T0, updated_at=T0)
    return base.model_copy(update=changes)


def test_a_run_of_failures_deactivates_with_one_event() -> None:
    hook = _webhook(consecutive_failures=3)
    assert after_settled(hook, delivered=True, deactivate_after=5, at=T0) == _webhook()
    assert after_settled(_webhook(), delivered=True, deactivate_after=5, at=T0) is None
    grown = after_settled(hook, delivered=False, deactivate_after=5, at=T0)
    assert isinstance(grown, Webhook) and grown.consecutive_failures == 4 and grown.active
    off = after_settled(grown, delivered=False, deactivate_after=5, at=T0)
    assert isinstance(off, Deactivation)
    assert not off.webhook.active and off.webhook.revision == 2
    assert off.event.id == "webhook-w1-1" and off.event.type == "webhook.deactivated"
    assert off.event.sequence == 1 and off.webhook.event_count == 1
    assert off.event.aggregate.kind == "webhook"
    assert "secret" not in off.event.data and off.event.data["active"] is False
    # An endpoint already off counts on but is not deactivated again.
    again = after_settled(off.webhook, delivered=False, deactivate_after=5, at=T0)
    assert isinstance(again, Webhook) and again.revision == 2
    # Reactivated and deactivated again: the endpoint's next event is its second, no gap.
    back = off.webhook.model_copy(update={"active": True, "consecutive_failures": 4, "revision": 7})
    second = after_settled(back, delivered=False, deactivate_after=5, at=T0)
    assert isinstance(second, Deactivation) and second.event.id == "webhook-w1-2"
