"""The ``webhooks`` function (admin): endpoints, their deliveries, retries and test pings
(``docs/webhooks.md``). Nothing here is cached."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from celeste.webhooks.deliveries import DeliveryStatus, DeliveryView
from celeste.webhooks.endpoints import CreatedWebhook, Webhook, WebhookCreate, WebhookPatch
from celeste_functions.composition import services
from celeste_functions.http.router import Reply, Router
from celeste_functions.resources.common import ListParams, etag, page_body, resource_reply

router = Router("webhooks")


class _NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeliveryListParams(ListParams):
    """``GET /webhooks/{id}/deliveries?status=&limit=&cursor=``."""

    model_config = ConfigDict(extra="forbid")

    status: DeliveryStatus | None = None


class SecretReply(BaseModel):
    """``POST /webhooks/{id}/rotate-secret``: the new secret (shown only here)."""

    secret: str


class SendOutcome(BaseModel):
    """What one manual send came to: the receiver's status code (``null``: no answer), the
    error, whether it acknowledged, and whether it re-sent an acknowledged delivery."""

    status_code: int | None
    error: str | None
    delivered: bool
    replay: bool = False


class RetryReply(BaseModel):
    """``POST .../deliveries/{event_id}/retry``: the delivery after the attempt, and the send."""

    delivery: DeliveryView
    outcome: SendOutcome


class TestReply(BaseModel):
    """``POST /webhooks/{id}/test``: how the ``ping`` went."""

    outcome: SendOutcome
    sent_at: datetime


def _outcome(report: Any) -> SendOutcome:
    return SendOutcome(
        status_code=report.status_code,
        error=report.error,
        delivered=report.delivered,
        replay=report.replay,
    )


@router.post("/", body=WebhookCreate, response=CreatedWebhook, status=201, auth="admin")
def create_webhook(body: WebhookCreate) -> Reply:
    """Admin: register an endpoint → 201 with its ``secret`` (shown only here and by
    ``rotate-secret``)."""
    webhooks = services.get().webhooks
    created, secret = webhooks.create(body)
    view = webhooks.created_view(created, secret)
    return Reply(
        view.model_dump(mode="json"),
        status=201,
        headers={"ETag": etag(created.version), "Location": f"webhooks/{created.value.id}"},
    )


@router.get("/", query=ListParams, auth="admin")
def list_webhooks(query: ListParams) -> Reply:
    """Admin: the endpoints, oldest first (never their secrets)."""
    return Reply(page_body(services.get().webhooks.list(limit=query.limit, cursor=query.cursor)))


@router.get("/{webhook_id}", query=_NoParams, response=Webhook, auth="admin")
def get_webhook(webhook_id: str) -> Reply:
    """Admin: one endpoint (no secret), with its ``ETag``."""
    return resource_reply(services.get().webhooks.get(webhook_id))


@router.patch("/{webhook_id}", body=WebhookPatch, response=Webhook, auth="admin", if_match=True)
def update_webhook(webhook_id: str, body: WebhookPatch, if_match: str | None) -> Reply:
    """Admin: change ``url``, ``events``, ``description`` or ``active`` (``If-Match``
    honoured); reactivating resumes its pending deliveries."""
    return resource_reply(
        services.get().webhooks.update(webhook_id, body, expected_version=if_match)
    )


@router.delete("/{webhook_id}", status=204, auth="admin", if_match=True)
def delete_webhook(webhook_id: str, if_match: str | None) -> Reply:
    """Admin: remove an endpoint and its deliveries (``If-Match`` honoured)."""
    services.get().webhooks.delete(webhook_id, expected_version=if_match)
    return Reply(status=204)


@router.post("/{webhook_id}/rotate-secret", response=SecretReply, auth="admin")
def rotate_secret(webhook_id: str) -> Reply:
    """Admin: a new signing secret, used from the next send on (the old one stops verifying)."""
    secret = services.get().webhooks.rotate_secret(webhook_id)
    return Reply(SecretReply(secret=secret).model_dump(mode="json"))


@router.get("/{webhook_id}/deliveries", query=DeliveryListParams, auth="admin")
def list_deliveries(webhook_id: str, query: DeliveryListParams) -> Reply:
    """Admin: the endpoint's deliveries, newest first, of one ``status`` or all."""
    page = services.get().webhooks.deliveries(
        webhook_id, status=query.status, limit=query.limit, cursor=query.cursor
    )
    return Reply(page_body(page))


@router.post("/{webhook_id}/deliveries/{event_id}/retry", response=RetryReply, auth="admin")
def retry_delivery(webhook_id: str, event_id: str) -> Reply:
    """Admin: attempt a delivery now. A pending one makes its next attempt (409 while its
    predecessor is unsettled), a failed one gets one more try, a delivered one is re-sent as an
    explicit replay (``outcome.replay``)."""
    delivery, report = services.get().webhooks.retry(webhook_id, event_id)
    reply = RetryReply(delivery=delivery, outcome=_outcome(report))
    return Reply(reply.model_dump(mode="json"))


@router.post("/{webhook_id}/test", response=TestReply, auth="admin")
def test_webhook(webhook_id: str) -> Reply:
    """Admin: send a ``ping`` event now (not from the outbox, not recorded) and answer how the
    receiver took it."""
    from celeste.kernel.clock import utcnow

    sent_at = utcnow()
    report = services.get().webhooks.test(webhook_id)
    return Reply(TestReply(outcome=_outcome(report), sent_at=sent_at).model_dump(mode="json"))
