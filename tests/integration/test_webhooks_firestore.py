"""Webhooks against the Firestore emulator and a real loopback receiver: two tasks claiming one
attempt at once send it once; a redelivered (or doubled) fan-out creates each delivery once;
a settlement with a deactivation commits the delivery, the endpoint and the event together; the
sender connects to the address it checked and refuses forbidden ones at send time."""

from __future__ import annotations

import ipaddress
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google.cloud import firestore

from celeste.kernel.events import Aggregate, Event
from celeste.services.webhooks import QUEUE, WebhookService
from celeste.webhooks.deliveries import DeliveryStatus
from celeste.webhooks.endpoints import WebhookCreate
from celeste_functions.adapters.events import FirestoreEvents, event_data, event_ref
from celeste_functions.adapters.webhook_sender import HttpWebhookSender
from celeste_functions.adapters.webhooks import FirestoreWebhooks
from tests.fakes import InMemoryTasks
from tests.support.webhook_receiver import Receiver, running_receiver

pytestmark = pytest.mark.integration


class World:
    def __init__(self, db: firestore.Client, receiver: Receiver, **options: object) -> None:
        self.db = db
        self.receiver = receiver
        self.repo = FirestoreWebhooks(client=lambda: db)
        self.tasks = InMemoryTasks()
        self.service = WebhookService(
            repository=self.repo,
            events=FirestoreEvents(client=lambda: db),
            sender=HttpWebhookSender(allow_loopback=True),
            tasks=self.tasks,
            allow_loopback=True,
            **options,  # type: ignore[arg-type]
        )

    def endpoint(self) -> str:
        created, secret = self.service.create(WebhookCreate(url=self.receiver.url, events=["*"]))
        self.receiver.secret = secret
        return created.value.id

    def event(self, order: str, sequence: int) -> Event:
        event = Event(
            id=f"order-{order}-{sequence}",
            type="order.placed" if sequence == 1 else "order.confirmed",
            aggregate=Aggregate(kind="order", id=order),
            sequence=sequence,
            occurred_at=datetime.now(UTC) + timedelta(seconds=sequence),
            data={"id": order},
        )
        event_ref(self.db, event.id).create(event_data(event))
        return event


@pytest.fixture
def receiver() -> Receiver:
    with running_receiver() as running:
        yield running  # type: ignore[misc]


def test_two_concurrent_claims_of_one_attempt_send_once(
    db: firestore.Client, receiver: Receiver
) -> None:
    world = World(db, receiver)
    wid = world.endpoint()
    for round_ in range(10):
        event = world.event(f"o{round_}", 1)
        world.service.fan_out(event)
        barrier = threading.Barrier(3)
        done: list[str] = []

        def task(
            event_id: str = event.id,
            barrier: threading.Barrier = barrier,
            done: list[str] = done,
        ) -> None:
            barrier.wait()
            done.append(world.service.deliver(wid, event_id, 0))

        threads = [threading.Thread(target=task) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        sent = [r for r in receiver.received if r.event["id"] == event.id]
        assert len(sent) == 1, done
        found = world.repo.delivery(wid, event.id)
        assert found is not None and found.value.status is DeliveryStatus.DELIVERED
        assert found.value.attempts == 1 and found.value.lease_until is None


def test_a_redelivered_fan_out_creates_each_delivery_once(
    db: firestore.Client, receiver: Receiver
) -> None:
    world = World(db, receiver)
    wid = world.endpoint()
    event = world.event("o1", 1)
    threads = [threading.Thread(target=world.service.fan_out, args=(event,)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ref = db.document(f"webhooks/{wid}/deliveries/{event.id}")
    created = ref.get().create_time
    tasks = world.tasks.take(QUEUE)
    assert [t.task_id for t in tasks] == [f"{wid}-{event.id}-0"]  # the same id: deduplicated
    world.service.deliver(wid, event.id, 0)
    world.service.fan_out(event)  # redelivered after the delivery
    assert world.tasks.take(QUEUE) == []
    assert ref.get().create_time == created
    assert len(list(db.collection(f"webhooks/{wid}/deliveries").stream())) == 1
    assert [r.event["id"] for r in receiver.received] == [event.id]


def test_order_deliveries_and_deactivation_against_firestore(
    db: firestore.Client, receiver: Receiver
) -> None:
    world = World(db, receiver, schedule=(0,), deactivate_after=2)
    wid = world.endpoint()
    second, first = world.event("a", 2), world.event("a", 1)
    receiver.fail_first = 1
    world.service.fan_out(second)  # fanned out first: parks, opens 1
    for _ in range(10):
        for task in world.tasks.take(QUEUE):
            p = task.payload
            world.service.deliver(p["webhook_id"], p["event_id"], p["attempt"])
    assert [e["id"] for e in receiver.acknowledged()] == [first.id, second.id]
    page = world.service.deliveries(wid, status=DeliveryStatus.DELIVERED, limit=10, cursor=None)
    assert {d.event_id for d in page.items} == {first.id, second.id}
    assert [d.attempts for d in page.items if d.event_id == first.id] == [2]

    receiver.fail_when = lambda event: True
    for order in ("b", "c"):
        world.service.fan_out(world.event(order, 1))
        for _ in range(5):
            for task in world.tasks.take(QUEUE):
                p = task.payload
                world.service.deliver(p["webhook_id"], p["event_id"], p["attempt"])
    stored = db.document(f"webhooks/{wid}").get().to_dict() or {}
    assert stored["active"] is False and stored["revision"] == 2 and stored["secret"]
    event = db.document(f"events/webhook-{wid}-1").get()
    assert event.exists and (event.to_dict() or {})["type"] == "webhook.deactivated"
    assert "secret" not in (event.to_dict() or {})["data"]
    failed = world.service.deliveries(wid, status=DeliveryStatus.FAILED, limit=10, cursor=None)
    assert {d.event_id for d in failed.items} == {"order-b-1", "order-c-1"}


def test_the_sender_connects_to_the_address_it_checked(receiver: Receiver) -> None:
    receiver.secret = "whsec_x"
    resolved: list[str] = []

    def resolver(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        resolved.append(host)
        return [ipaddress.ip_address("127.0.0.1")]

    sender = HttpWebhookSender(allow_loopback=True, resolver=resolver)
    from celeste.webhooks.signing import signature_header

    body = b'{"id":"x"}'
    import time

    headers = {"Celeste-Signature": signature_header("whsec_x", int(time.time()), body)}
    # "localhost" is allowed in a demo project; the name resolves once, to the pinned address.
    outcome = sender.send(f"http://localhost:{receiver.port}/hook", headers=headers, body=body)
    assert outcome.acknowledged, outcome
    assert resolved == ["localhost"]
    assert receiver.received[0].headers["Host"] == f"localhost:{receiver.port}"


def test_the_sender_refuses_forbidden_addresses_at_send_time() -> None:
    private = HttpWebhookSender(
        allow_loopback=True, resolver=lambda host, port: [ipaddress.ip_address("10.0.0.7")]
    )
    outcome = private.send("https://hooks.example.com/x", headers={}, body=b"{}")
    assert outcome.status_code is None and outcome.error and "10.0.0.7" in outcome.error
    strict = HttpWebhookSender(allow_loopback=False)
    for url in ("http://127.0.0.1:1/x", "https://169.254.169.254/", "https://[::1]/"):
        refused = strict.send(url, headers={}, body=b"{}")
        assert refused.status_code is None and (refused.error or "").startswith("refused")
    assert strict.refusal("https://localhost/") is not None
    # A name that resolves to a loopback address is refused outside demo projects.
    named = HttpWebhookSender(
        allow_loopback=False, resolver=lambda host, port: [ipaddress.ip_address("127.0.0.1")]
    )
    assert "127.0.0.1" in (named.refusal("https://hooks.example.com/") or "")


def _certificates(tmp: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for ``hooks.test`` it signed: (ca, cert, key) files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("test ca"))
        .issuer_name(name("test ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("hooks.test"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("hooks.test")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = (tmp / "ca.pem", tmp / "cert.pem", tmp / "key.pem")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def test_https_is_sent_to_the_pinned_address_and_verified_against_the_host_name(
    tmp_path: Path, receiver: Receiver
) -> None:
    import ssl
    import time

    from celeste.webhooks.signing import signature_header

    ca, cert, key = _certificates(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    raw_socket = receiver._server.socket
    receiver._server.socket = context.wrap_socket(raw_socket, server_side=True)
    receiver.secret = "whsec_tls"
    body = b'{"id":"tls"}'
    headers = {"Celeste-Signature": signature_header("whsec_tls", int(time.time()), body)}
    loopback = [ipaddress.ip_address("127.0.0.1")]

    def sender() -> HttpWebhookSender:
        return HttpWebhookSender(
            allow_loopback=True, resolver=lambda host, port: loopback, ca_certs=str(ca)
        )

    # The name resolves (here, to loopback); the connection goes to that address, and TLS
    # checks the certificate against the name.
    ok = sender().send(f"https://hooks.test:{receiver.port}/hook", headers=headers, body=body)
    assert ok.acknowledged, ok
    assert receiver.received[-1].headers["Host"] == f"hooks.test:{receiver.port}"
    # Another name on the same address: the certificate does not match it, nothing is sent.
    wrong = sender().send(f"https://other.test:{receiver.port}/hook", headers=headers, body=body)
    assert wrong.status_code is None and wrong.error and "SSL" in wrong.error, wrong
    # Without trusting the test CA the certificate is refused too (verification is on).
    strict = HttpWebhookSender(allow_loopback=True, resolver=lambda host, port: loopback)
    refused = strict.send(f"https://hooks.test:{receiver.port}/hook", headers=headers, body=body)
    assert refused.status_code is None and refused.error and "SSL" in refused.error, refused
    assert len(receiver.received) == 1
