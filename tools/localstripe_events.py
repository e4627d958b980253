"""The local Stripe's missing events: refunds announce ``charge.refunded``, and disputes exist.

localstripe has no disputes and sends no event when a refund is made; Stripe does both, and the
``payments`` function acts on them. ``install(app)`` adds to localstripe's aiohttp application,
for dev and tests only:

- ``charge.refunded`` (the charge as data) after every refund, whoever made it (Celeste through
  the API, or a person "in the dashboard": a ``POST /v1/refunds`` without Celeste's key).
- Disputes as Stripe's API reads them: ``GET /v1/disputes/{id}`` and ``GET /v1/disputes``.
- What the customer's bank and Stripe do, which no API call of a shop can: ``POST
  /_config/disputes`` (form ``payment_intent``, ``reason``) opens a dispute of the intent's
  charge (``needs_response``, the charged amount) and sends ``charge.dispute.created``; ``POST
  /_config/disputes/{id}`` (form ``status``) moves it on and sends ``charge.dispute.closed``
  (``won``, ``lost``, ``warning_closed``) or ``charge.dispute.updated``.

Events go through localstripe's own webhook sender (signed, about 1 s later), to the webhooks
registered for their types.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

_CLOSED = ("won", "lost", "warning_closed")
_STATUSES = ("needs_response", "under_review", "warning_needs_response", *_CLOSED)


def install(app: web.Application) -> None:
    """Add disputes and refund events to localstripe's application (before it starts)."""
    from localstripe import resources
    from localstripe.errors import UserError
    from localstripe.webhooks import schedule_webhook

    class Dispute(resources.StripeObject):  # type: ignore[misc]
        object = "dispute"
        _id_prefix = "dp_"

        def __init__(self, payment_intent: Any = None, reason: Any = None, **kwargs: Any) -> None:
            if kwargs or not isinstance(payment_intent, str):
                raise UserError(400, "Bad request")
            intent = resources.PaymentIntent._api_retrieve(payment_intent)
            if intent.status != "succeeded" or intent.latest_charge is None:
                raise UserError(400, "Only a succeeded payment can be disputed")
            charge = intent.latest_charge
            super().__init__()
            self.amount = charge.amount
            self.currency = charge.currency
            self.charge = charge.id
            self.payment_intent = intent.id
            self.reason = reason or "fraudulent"
            self.status = "needs_response"
            self.metadata: dict[str, str] = {}

    original_create = resources.Refund._api_create

    def refund_and_announce(**data: Any) -> Any:
        refund = original_create(**data)
        charge = resources.Charge._api_retrieve(refund.charge)
        schedule_webhook(resources.Event("charge.refunded", charge))
        return refund

    resources.Refund._api_create = refund_and_announce

    def retrieve(request: web.Request) -> web.Response:
        found = Dispute._api_retrieve(request.match_info["id"])
        return _json(found._export())

    def list_all(request: web.Request) -> web.Response:
        return _json(Dispute._api_list_all("/v1/disputes")._export())

    async def open_dispute(request: web.Request) -> web.Response:
        form = await request.post()
        dispute = Dispute(
            payment_intent=form.get("payment_intent"), reason=form.get("reason") or None
        )
        schedule_webhook(resources.Event("charge.dispute.created", dispute))
        return _json(dispute._export())

    async def move_dispute(request: web.Request) -> web.Response:
        form = await request.post()
        dispute = Dispute._api_retrieve(request.match_info["id"])
        status = str(form.get("status", ""))
        if status not in _STATUSES:
            raise UserError(400, f"status must be one of {', '.join(_STATUSES)}")
        dispute.status = status
        kind = "closed" if status in _CLOSED else "updated"
        schedule_webhook(resources.Event(f"charge.dispute.{kind}", dispute))
        return _json(dispute._export())

    app.router.add_get("/v1/disputes/{id}", _guarded(retrieve))
    app.router.add_get("/v1/disputes", _guarded(list_all))
    app.router.add_post("/_config/disputes", _guarded(open_dispute))
    app.router.add_post("/_config/disputes/{id}", _guarded(move_dispute))


def _json(body: Any) -> web.Response:
    from localstripe import server

    response: web.Response = server.json_response(body)
    return response


def _guarded(handler: Any) -> Any:
    from localstripe.errors import UserError

    async def run(request: web.Request) -> web.StreamResponse:
        try:
            result = handler(request)
            if hasattr(result, "__await__"):
                result = await result
            response: web.StreamResponse = result
            return response
        except UserError as error:
            failure: web.Response = error.to_response()
            return failure

    return run
