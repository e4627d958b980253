"""Ports of webhooks: the endpoints and their deliveries, the events they are sent from, and
the sender that reaches a receiver (``docs/webhooks.md``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from celeste.kernel.events import Event
from celeste.kernel.paging import Page
from celeste.kernel.versions import Versioned
from celeste.webhooks.deliveries import Delivery, DeliveryStatus, Outcome
from celeste.webhooks.endpoints import StoredWebhook, Webhook


@dataclass(frozen=True)
class Recorded:
    """What recording an attempt writes: the delivery, the endpoint when it changed, and the
    ``webhook.deactivated`` event when the endpoint was deactivated."""

    delivery: Delivery
    endpoint: Webhook | None = None
    event: Event | None = None


class WebhookRepository(Protocol):
    """``webhooks/{id}`` (the endpoint and its secret) and ``webhooks/{id}/deliveries/{event}``."""

    def create(self, stored: StoredWebhook) -> Versioned[Webhook]:
        """Store a new endpoint."""
        ...

    def get(self, webhook_id: str) -> Versioned[StoredWebhook]:
        """One endpoint with its secret; ``NotFound`` when there is none."""
        ...

    def list(self, *, limit: int, cursor: str | None) -> Page[Webhook]:
        """A page of endpoints, oldest first."""
        ...

    def endpoints(self) -> Sequence[Versioned[StoredWebhook]]:
        """Every endpoint (the fan-out's candidates)."""
        ...

    def replace(self, stored: StoredWebhook, *, expected_version: str) -> Versioned[Webhook]:
        """Overwrite an endpoint read at ``expected_version``."""
        ...

    def delete(self, webhook_id: str, *, expected_version: str) -> None:
        """Remove an endpoint read at ``expected_version`` (its deliveries with it)."""
        ...

    def create_delivery(self, webhook_id: str, delivery: Delivery) -> bool:
        """Create the delivery; ``False`` when it exists already (nothing is written)."""
        ...

    def delivery(self, webhook_id: str, event_id: str) -> Versioned[Delivery] | None:
        """One delivery, or ``None``."""
        ...

    def claim(
        self, webhook_id: str, event_id: str, decide: Callable[[Delivery], Delivery | None]
    ) -> Delivery | None:
        """In one transaction: read the delivery, ask ``decide`` for its leased state (``None``:
        not to be claimed) and write it. Of concurrent claims of one attempt one commits; the
        others run again and ``decide`` sees the lease. ``None`` when nothing was claimed."""
        ...

    def record(
        self,
        webhook_id: str,
        event_id: str,
        decide: Callable[[Delivery, Webhook | None], Recorded | None],
    ) -> Recorded | None:
        """In one transaction: read the delivery and its endpoint (``None``: gone), ask
        ``decide`` what to write (``None``: nothing), and write it: the delivery, the endpoint's
        new state (never its secret) and the event a deactivation adds (created: it must be
        new). Either all of it is written or none."""
        ...

    def deliveries(
        self, webhook_id: str, *, status: DeliveryStatus | None, limit: int, cursor: str | None
    ) -> Page[Delivery]:
        """A page of an endpoint's deliveries, newest first, of one status or any."""
        ...

    def next_pending(
        self, webhook_id: str, *, aggregate_id: str, after_sequence: int
    ) -> Delivery | None:
        """The aggregate's pending delivery with the lowest sequence above ``after_sequence``."""
        ...

    def pending(self, webhook_id: str, *, limit: int) -> Sequence[Delivery]:
        """Up to ``limit`` pending deliveries of an endpoint (to resume a reactivated one)."""
        ...


class EventReader(Protocol):
    """The outbox, one event at a time."""

    def event(self, event_id: str) -> Event | None:
        """``events/{event_id}``, or ``None``."""
        ...


class WebhookSender(Protocol):
    """Reaches receivers: resolves a URL's host, refuses addresses the policy forbids
    (``celeste.webhooks.addresses``), and posts to the address it checked."""

    def refusal(self, url: str) -> str | None:
        """Why ``url`` may not receive webhooks after resolving its host, or ``None``."""
        ...

    def send(self, url: str, *, headers: Mapping[str, str], body: bytes) -> Outcome:
        """POST ``body``; never raises for the receiver's failings (they are the outcome)."""
        ...
