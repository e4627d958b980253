"""The local Stripe honours ``Idempotency-Key`` as Stripe does.

localstripe ignores the header, so two requests racing with one key (an API call and a trigger
both finishing the same reserved refund) each create an object, where Stripe creates one and
answers the second with the first's result. ``install(app)`` adds that rule to localstripe's
aiohttp application, for dev and tests only: a ``POST`` carrying a key is run once per (secret
key, path, idempotency key); a request with the same key while the first runs waits for it, and
every later one gets the first's answer with ``Idempotent-Replayed: true``. Answers of 5xx are
not kept (Stripe lets those be retried); the memory lives as long as the process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_Ident = tuple[str, str, str]


def install(app: web.Application) -> None:
    """Add the idempotency middleware to localstripe's application (before it starts)."""
    answers: dict[_Ident, tuple[int, bytes, str]] = {}
    locks: dict[_Ident, asyncio.Lock] = {}

    @web.middleware
    async def idempotency(request: web.Request, handler: Handler) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key:
            return await handler(request)
        ident = (request.headers.get("Authorization", ""), request.path, key)
        async with locks.setdefault(ident, asyncio.Lock()):
            if ident in answers:
                status, body, content_type = answers[ident]
                replay = web.Response(status=status, body=body, content_type=content_type)
                replay.headers["Idempotent-Replayed"] = "true"
                return replay
            response = await handler(request)
            body = getattr(response, "body", None)
            if response.status < 500 and isinstance(body, bytes):
                answers[ident] = (response.status, body, response.content_type)
            return response

    app.middlewares.append(idempotency)
