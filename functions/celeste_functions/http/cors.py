"""The cross-origin policy for browser apps: which origins may call, with which headers."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import Request, Response

#: Every method some function serves (the browser asks before anything but GET/HEAD/POST).
ALLOWED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
#: The request headers the API reads.
ALLOWED_HEADERS = (
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "If-Match",
    "Prefer",
    "X-Request-Id",
)
#: The response headers apps need to read (a browser hides all but a few unless exposed).
EXPOSED_HEADERS = ("ETag", "Location", "X-Request-Id", "X-Cache", "Retry-After")
#: How long a browser may reuse a preflight answer.
MAX_AGE_S = 600
#: Origins a ``demo-`` project allows when ``CELESTE_CORS_ORIGINS`` is unset: the storefront
#: that ``make dev`` serves with the Hosting emulator.
DEMO_ORIGINS = ("http://127.0.0.1:5000", "http://localhost:5000")
_ORIGIN = re.compile(r"https?://[a-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9a-f:]+\](:[0-9]{1,5})?")


@dataclass(frozen=True)
class CorsPolicy:
    """The allowed origins (``*`` allows any) and the headers answered for them."""

    origins: frozenset[str]

    @classmethod
    def from_setting(cls, value: str | None, *, project_id: str) -> CorsPolicy:
        """Parse ``CELESTE_CORS_ORIGINS`` (comma-separated origins or ``*``).

        Unset: the local storefront's origins in ``demo-`` projects, none elsewhere; set but
        empty: none. An entry that is not ``scheme://host[:port]`` is a ``ValueError`` naming it.
        """
        if value is None:
            return cls(frozenset(DEMO_ORIGINS if project_id.startswith("demo-") else ()))
        origins = set()
        for raw in value.split(","):
            entry = raw.strip().rstrip("/").lower()
            if not entry:
                continue
            if entry != "*" and not _ORIGIN.fullmatch(entry):
                raise ValueError(
                    f"CELESTE_CORS_ORIGINS: {raw.strip()!r} is not an origin "
                    "(scheme://host[:port], or *)"
                )
            origins.add(entry)
        return cls(frozenset(origins))

    def allows(self, origin: str | None) -> bool:
        """Whether a browser page from ``origin`` may read our answers."""
        if not origin or origin == "null":
            return False
        return "*" in self.origins or origin.lower() in self.origins

    def preflight(self, request: Request) -> Response:
        """The answer to a preflight: 204, with the grants only when the origin is allowed."""
        response = Response(status=204)
        del response.headers["Content-Type"]  # no body, so no media type (not text/html)
        origin = request.headers.get("Origin")
        response.headers["Vary"] = "Origin"
        if self.allows(origin):
            response.headers.update(
                {
                    "Access-Control-Allow-Origin": str(origin),
                    "Access-Control-Allow-Methods": ", ".join(ALLOWED_METHODS),
                    "Access-Control-Allow-Headers": ", ".join(ALLOWED_HEADERS),
                    "Access-Control-Max-Age": str(MAX_AGE_S),
                }
            )
        return response

    def decorate(self, request: Request, response: Response) -> Response:
        """Add the grants to an actual response (errors included) for an allowed origin."""
        origin = request.headers.get("Origin")
        headers = response.headers
        # ``response.vary.add`` parses and rebuilds the header, and ``headers.get`` raises inside
        # when it is absent (a hit's 3 %); a separate field line means the same (RFC 9110 §5.3).
        varies = {
            token.strip().lower() for line in headers.getlist("Vary") for token in line.split(",")
        }
        if "origin" not in varies:
            headers.add("Vary", "Origin")
        if origin is not None and self.allows(origin):
            response.headers["Access-Control-Allow-Origin"] = str(origin)
            response.headers["Access-Control-Expose-Headers"] = ", ".join(EXPOSED_HEADERS)
        return response


def is_preflight(request: Request) -> bool:
    """Whether ``request`` is a browser's CORS preflight (not an app's own OPTIONS call)."""
    return (
        request.method == "OPTIONS"
        and "Origin" in request.headers
        and "Access-Control-Request-Method" in request.headers
    )
