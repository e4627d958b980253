"""The ``orders`` function: customers place, read and cancel orders; admins move them along."""

from __future__ import annotations

import re
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from pydantic import BaseModel, ConfigDict

from celeste.kernel.errors import ValidationFailed
from celeste.kernel.ids import DocId
from celeste.kernel.versions import Versioned
from celeste.orders.order import Order
from celeste.orders.payments import RefundRequest
from celeste.orders.requests import OrderRequest, PlacementTerms
from celeste.orders.status import OrderStatus
from celeste.pricing.discount_codes import is_refused_code
from celeste.services.placing import MAX_WAIT_S, Placed
from celeste_functions.composition import services
from celeste_functions.http.auth import Caller
from celeste_functions.http.router import Reply, RequestContext, Router
from celeste_functions.resources.common import ListParams, etag
from celeste_functions.resources.me import identity_of

router = Router("orders")

#: Stripe's rule: up to 255 characters; we also keep to visible ASCII.
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")
_WAIT = re.compile(r"^\s*wait\s*=\s*\"?(\d{1,6})\"?\s*$", re.IGNORECASE)


class OrderListParams(ListParams):
    """``GET /orders?status=&user_id=`` (``user_id`` is for admins)."""

    model_config = ConfigDict(extra="forbid")

    status: OrderStatus | None = None
    user_id: DocId | None = None


class StatusChangeRequest(BaseModel):
    """Body of ``POST /orders/{id}/status``."""

    model_config = ConfigDict(extra="forbid")

    status: OrderStatus


class _NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


def order_view(order: Order, *, caller: Caller | None = None) -> dict[str, Any]:
    """An order as the API shows it: ``payment.client_secret`` only to its owner, and only
    while the payment can still be made."""
    view = order.model_dump(mode="json")
    if view.get("payment") is not None:
        secret = None
        if caller is not None and caller.uid == order.user_id:
            secret = services.get().payments.client_secret(order, uid=caller.uid)
        view["payment"]["client_secret"] = secret
    return view


def _order_reply(found: Versioned[Order], *, caller: Caller | None, status: int = 200) -> Reply:
    return Reply(
        order_view(found.value, caller=caller),
        status=status,
        headers={"ETag": etag(found.version)},
    )


def idempotency_key(ctx: RequestContext) -> str | None:
    """The ``Idempotency-Key`` header, validated (1-255 visible ASCII characters)."""
    value = ctx.request.headers.get("Idempotency-Key")
    if value is None:
        return None
    if not _IDEMPOTENCY_KEY.fullmatch(value):
        raise ValidationFailed.on(
            "Idempotency-Key", "must be 1 to 255 visible ASCII characters (a UUID is ideal)"
        )
    return value


def wait_preference(ctx: RequestContext) -> int:
    """``Prefer: wait=N`` (RFC 7240) in seconds, at most ``MAX_WAIT_S``; 0 when absent.

    Like any preference it is advisory: an unreadable one is ignored, a longer one shortened.
    """
    for header in ctx.request.headers.getlist("Prefer"):
        for preference in header.split(","):
            match = _WAIT.match(preference.split(";", 1)[0])
            if match:
                return min(int(match[1]), MAX_WAIT_S)
    return 0


def tries_code(request: PlacementTerms) -> bool:
    """Whether the request tries a discount code: it then counts as an attempt (policy
    ``discount-code``, per caller and per address) while it runs, and keeps counting only when
    the code is refused, so a caller past the limit of failed codes gets 429 for any code,
    right or wrong (``RequestContext.attempt_rate_limit``)."""
    return request.discount_code is not None


@router.post(
    "/",
    body=OrderRequest,
    response=Order,
    status=202,
    auth="user",
    limit="orders",
    handler_limits=("discount-code",),
)
def place_order(ctx: RequestContext, caller: Caller, body: OrderRequest) -> Reply:
    """Signed in: price and store a ``pending`` order → 202 (201 once settled within
    ``Prefer: wait``); an ``Idempotency-Key`` replay → the same order (200 once settled)."""
    key = idempotency_key(ctx)
    wait = wait_preference(ctx)
    attempt: AbstractContextManager[None] = nullcontext()
    if tries_code(body):
        attempt = ctx.attempt_rate_limit("discount-code", failed=is_refused_code)
    with attempt:
        placed = services.get().orders.place(
            body, identity=identity_of(caller), idempotency_key=key, wait_s=wait
        )
    return placed_reply(placed, wait=wait, caller=caller)


def placed_reply(placed: Placed, *, wait: int, caller: Caller | None) -> Reply:
    """The reply to placing an order (here or at checkout): 202 while the reservation runs,
    201 once settled within ``Prefer: wait``, 200 for a settled replay (``caller``: who sees
    the payment's client secret)."""
    order = placed.order.value
    settled = order.status is not OrderStatus.PENDING
    status = 202  # accepted: the reservation is still running
    if settled and placed.replayed:
        status = 200
    elif settled and wait:
        status = 201
    reply = _order_reply(placed.order, caller=caller, status=status)
    reply.headers["Location"] = f"orders/{order.id}"
    if wait:
        reply.headers["Preference-Applied"] = f"wait={wait}"
    if placed.replayed:
        reply.headers["Idempotent-Replayed"] = "true"
    return reply


@router.get("/", query=OrderListParams, auth="user")
def list_orders(caller: Caller, query: OrderListParams) -> Reply:
    """Signed in: the caller's orders newest first; admins see everyone's (``user_id=``)."""
    page = services.get().orders.list(
        uid=caller.uid,
        is_admin=caller.is_admin,
        user_id=query.user_id,
        status=query.status,
        limit=query.limit,
        cursor=query.cursor,
    )
    items = [order_view(o, caller=caller) for o in page.items]
    return Reply({"items": items, "next_cursor": page.next_cursor})


@router.get("/{order_id}", query=_NoParams, response=Order, auth="user")
def get_order(caller: Caller, order_id: str) -> Reply:
    """The owner or an admin: one order (anyone else: 404)."""
    found = services.get().orders.get(order_id, uid=caller.uid, is_admin=caller.is_admin)
    return _order_reply(found, caller=caller)


@router.post("/{order_id}/cancel", response=Order, auth="user", if_match=True)
def cancel_order(caller: Caller, order_id: str, if_match: str | None) -> Reply:
    """The owner while ``pending``/``confirmed``, an admin until shipped; otherwise 409."""
    cancelled = services.get().orders.cancel(
        order_id, uid=caller.uid, is_admin=caller.is_admin, expected_version=if_match
    )
    return _order_reply(cancelled, caller=caller)


@router.post(
    "/{order_id}/status",
    body=StatusChangeRequest,
    response=Order,
    auth="admin",
    if_match=True,
)
def set_order_status(
    caller: Caller, order_id: str, body: StatusChangeRequest, if_match: str | None
) -> Reply:
    """Admin: move the order along the state machine; any other move → 409."""
    moved = services.get().orders.set_status(order_id, body.status, expected_version=if_match)
    return _order_reply(moved, caller=caller)


@router.post("/{order_id}/refund", body=RefundRequest, response=Order, auth="admin")
def refund_order(ctx: RequestContext, caller: Caller, order_id: str, body: RefundRequest) -> Reply:
    """Admin, with ``Idempotency-Key``: refund all (``amount`` left out) or part of what was
    paid through Stripe, optionally restocking units; never more than was paid."""
    key = idempotency_key(ctx)
    if key is None:
        raise ValidationFailed.on("Idempotency-Key", "a refund needs an Idempotency-Key header")
    refunded = services.get().payments.refund(order_id, body, idempotency_key=key)
    return _order_reply(refunded, caller=caller)
