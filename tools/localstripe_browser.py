"""The local Stripe as a browser sees it: Stripe.js's card confirmation, which localstripe lacks.

Real Stripe.js confirms a PaymentIntent from the page with the publishable key, the intent's
``client_secret`` and the card typed into its card element (``confirmCardPayment``); the card goes
from the browser to Stripe, never to the shop's server. localstripe's Stripe.js mock only
finishes a 3-D Secure step and its API confirms with the secret key alone. ``install(app)`` adds
the missing piece to localstripe's aiohttp application, for dev and tests only:

- ``POST /v1/payment_intents/{id}/confirm`` with ``key=pk_…``, the matching ``client_secret`` and
  ``payment_method_data[type]=card`` + ``payment_method_data[card][number|exp_month|exp_year|cvc]``
  makes the card a PaymentMethod, attaches it and confirms, as Stripe does; anything else goes
  to localstripe unchanged (the secret-key confirm stays as it was).
- ``GET /js.stripe.com/v3/`` serves localstripe's mock with ``confirmCardPayment`` doing that
  call for a card element (its 3-D Secure path is kept for everything else).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from importlib import resources as package_files
from typing import Any

from aiohttp import web

_CONFIRM = re.compile(r"^/v1/payment_intents/(pi_\w+)/confirm$")
_STRIPE_JS = "/js.stripe.com/v3/"

# Appended to localstripe's mock (same script, so its LOCALSTRIPE_BASE_API is in scope).
_CONFIRM_JS = r"""
;(() => {
  const MockStripe = Stripe;
  Stripe = window.Stripe = (apiKey, ...rest) => {
    const client = MockStripe(apiKey, ...rest);
    const threeDSecure = client.confirmCardPayment;
    client.confirmCardPayment = async (clientSecret, data) => {
      const card = data && data.payment_method && data.payment_method.card;
      if (!card || !card.value) return threeDSecure(clientSecret, data);
      const pi = clientSecret.match(/^(pi_\w+)_secret_/)[1];
      const body = new URLSearchParams({
        key: apiKey,
        client_secret: clientSecret,
        'payment_method_data[type]': 'card',
      });
      for (const [field, value] of Object.entries(card.value.card)) {
        body.set(`payment_method_data[card][${field}]`, value);
      }
      try {
        const response = await fetch(
          `${LOCALSTRIPE_BASE_API}/v1/payment_intents/${pi}/confirm`, {method: 'POST', body});
        const answer = await response.json().catch(() => ({}));
        if (response.status !== 200 || answer.error) {
          return {error: answer.error || {message: `HTTP ${response.status}`}};
        }
        return {paymentIntent: answer};
      } catch (err) {
        return {error: {message: String(err)}};
      }
    };
    return client;
  };
})();
"""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def install(app: web.Application) -> None:
    """Put the browser confirmation in front of localstripe's own handlers (before start)."""
    app.middlewares.insert(0, _browser_middleware)


@web.middleware
async def _browser_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method == "GET" and request.path == _STRIPE_JS:
        mock = package_files.files("localstripe").joinpath("localstripe-v3.js").read_text()
        return web.Response(text=mock + _CONFIRM_JS, content_type="application/javascript")
    match = _CONFIRM.match(request.path)
    if request.method == "POST" and match:
        from localstripe import server

        data = await server.get_post_data(request, remove_auth=False)
        if str(data.get("key", "")).startswith("pk_") and "client_secret" in data:
            return _confirm_from_browser(match[1], data)
    return await handler(request)


def _confirm_from_browser(intent_id: str, data: dict[str, Any]) -> web.Response:
    from localstripe import resources, server
    from localstripe.errors import UserError

    try:
        intent = resources.PaymentIntent._api_retrieve(intent_id)
        if data.get("client_secret") != intent.client_secret:
            raise UserError(401, "Unauthorized")
        method_data = data.get("payment_method_data") or {}
        if not isinstance(method_data, dict) or method_data.get("type") != "card":
            raise UserError(400, "payment_method_data[type] must be card")
        if intent.status not in ("requires_payment_method", "requires_confirmation"):
            raise UserError(400, f"This PaymentIntent's status is {intent.status}")
        method = resources.PaymentMethod._api_create(type="card", card=method_data.get("card"))
        intent.payment_method = method.id
        intent._confirm(on_failure_now=intent._report_failure)
        response: web.Response = server.json_response(intent._export())
        return response
    except UserError as error:
        failure: web.Response = error.to_response()
        return failure
