"""The ``checkout`` function: quote the caller's cart, then place it as an order."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

from celeste.kernel.errors import ValidationFailed
from celeste.orders.order import Order
from celeste.orders.requests import CheckoutRequest
from celeste.pricing.discount_codes import is_refused_code
from celeste.services.order_pricing import CheckoutQuote
from celeste_functions.composition import services
from celeste_functions.http.auth import Caller
from celeste_functions.http.router import Reply, RequestContext, Router
from celeste_functions.resources.me import identity_of
from celeste_functions.resources.orders import (
    idempotency_key,
    placed_reply,
    tries_code,
    wait_preference,
)

router = Router("checkout")


@router.post(
    "/quote",
    body=CheckoutRequest,
    response=CheckoutQuote,
    auth="user",
    handler_limits=("discount-code",),
)
def quote(ctx: RequestContext, caller: Caller, body: CheckoutRequest) -> Reply:
    """Signed in (anonymous users too): what the cart would cost now, with every total and the
    shipping methods that serve the address; nothing is written."""
    attempt: AbstractContextManager[None] = nullcontext()
    if tries_code(body):
        attempt = ctx.attempt_rate_limit("discount-code", failed=is_refused_code)
    with attempt:
        priced = services.get().orders.quote_checkout(body, identity=identity_of(caller))
    return Reply(priced)


@router.post(
    "/",
    body=CheckoutRequest,
    response=Order,
    status=202,
    auth="user",
    limit="orders",
    handler_limits=("discount-code",),
)
def checkout(ctx: RequestContext, caller: Caller, body: CheckoutRequest) -> Reply:
    """Signed in (anonymous users too), ``Idempotency-Key`` required: place the cart as an
    order and empty the cart in the same commit → 202 (201 once settled within ``Prefer:
    wait``); a replayed key → the same order."""
    key = idempotency_key(ctx)
    if key is None:
        raise ValidationFailed.on("Idempotency-Key", "required: send a fresh UUID per checkout")
    wait = wait_preference(ctx)
    attempt: AbstractContextManager[None] = nullcontext()
    if tries_code(body):
        attempt = ctx.attempt_rate_limit("discount-code", failed=is_refused_code)
    with attempt:
        placed = services.get().orders.checkout(
            body, identity=identity_of(caller), idempotency_key=key, wait_s=wait
        )
    return placed_reply(placed, wait=wait, caller=caller)
