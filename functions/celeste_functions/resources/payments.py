"""The ``payments`` function: Stripe's signed webhook and the app's payment configuration."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from celeste.orders.payment_provider import UnmatchedPayment
from celeste_functions.composition import services
from celeste_functions.http.problems import PayloadTooLarge
from celeste_functions.http.reading import MAX_BODY_BYTES
from celeste_functions.http.router import Reply, RequestContext, Router

router = Router("payments")


class PaymentConfigView(BaseModel):
    """``GET /payments/config``: what Stripe.js needs."""

    model_config = ConfigDict(extra="forbid")

    provider: str
    publishable_key: str


class WebhookReceipt(BaseModel):
    """What the webhook answers Stripe (any 2xx stops its retries)."""

    model_config = ConfigDict(extra="forbid")

    received: bool
    outcome: str


class _NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@router.get("/config", query=_NoParams, response=PaymentConfigView)
def payment_config() -> Reply:
    """Public: the provider and its publishable key (503 where payments are not configured)."""
    config = services.get().payments.config()
    return Reply(
        PaymentConfigView(provider=config.provider, publishable_key=config.publishable_key)
    )


@router.post("/stripe/webhook", response=WebhookReceipt)
def stripe_webhook(ctx: RequestContext) -> Reply:
    """Public, Stripe-signed: the signature is checked on the raw body (bad or missing → 400,
    nothing changed); each event id is handled once; unrelated event types are 200, ignored."""
    raw = ctx.request.get_data(cache=True)
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body may be at most {MAX_BODY_BYTES} bytes")
    outcome = services.get().payment_events.handle_webhook(
        payload=raw, signature=ctx.request.headers.get("Stripe-Signature")
    )
    return Reply(WebhookReceipt(received=True, outcome=outcome))


class UnmatchedParams(BaseModel):
    """``GET /payments/unmatched?limit=``."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=200)


class UnmatchedList(BaseModel):
    """Money that arrived for no order (an unknown order, or an intent the order does not
    hold), newest first, each refunded once."""

    model_config = ConfigDict(extra="forbid")

    items: list[UnmatchedPayment]


@router.get("/unmatched", query=UnmatchedParams, response=UnmatchedList, auth="admin")
def unmatched_payments(query: UnmatchedParams) -> Reply:
    """Admin: payments received for no order, and their refunds."""
    items = services.get().payment_events.unmatched(limit=query.limit)
    return Reply(UnmatchedList(items=items).model_dump(mode="json"))
