"""The one error mapper: every failure becomes ``application/problem+json`` (RFC 9457)."""

from __future__ import annotations

import json
from typing import Any

from flask import Response
from pydantic import ValidationError

from celeste.kernel.errors import (
    CelesteError,
    Conflict,
    Contention,
    FieldError,
    Forbidden,
    NotConfigured,
    NotFound,
    PreconditionFailed,
    RateLimited,
    Unauthenticated,
    Unavailable,
    ValidationFailed,
)
from celeste.orders.holds import HoldLimitReached
from celeste_functions.config import Misconfigured
from celeste_functions.logs import get_logger

log = get_logger("http")
PROBLEM_BASE = "https://celeste.dev/problems/"


class HttpProblem(CelesteError):
    """A failure of the transport itself (body, media type, method, route)."""

    status = 400
    slug = "bad-request"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.headers = dict(headers or {})


class MalformedRequest(HttpProblem):
    """The body is not parseable JSON or a query parameter is malformed."""

    title = "Malformed request"


class PayloadTooLarge(HttpProblem):
    """The body is over the limit."""

    status, slug, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(HttpProblem):
    """The body is not JSON."""

    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class MethodNotAllowed(HttpProblem):
    """The path exists but does not serve this method."""

    status, slug, title = 405, "method-not-allowed", "Method not allowed"


# Domain error type -> (status, problem slug). Subclasses resolve through the MRO.
_DOMAIN_STATUS: dict[type[CelesteError], tuple[int, str]] = {
    ValidationFailed: (400, "validation"),
    Unauthenticated: (401, "unauthenticated"),
    Forbidden: (403, "forbidden"),
    NotFound: (404, "not-found"),
    HoldLimitReached: (409, "hold-limit"),
    Conflict: (409, "conflict"),
    PreconditionFailed: (412, "precondition-failed"),
    RateLimited: (429, "rate-limited"),
    Contention: (503, "contention"),
    Unavailable: (503, "unavailable"),
    NotConfigured: (503, "not-configured"),
    Misconfigured: (503, "not-configured"),
}


def field_path(loc: tuple[int | str, ...]) -> str:
    """Pydantic's error location as the API names fields: ``("lines", 0, "quantity")`` →
    ``lines[0].quantity``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


def validation_errors(exc: ValidationError, *, prefix: str = "") -> list[FieldError]:
    """Each pydantic error as a ``FieldError`` with a client-facing message."""
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        message = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        name = field_path(loc)
        out.append(FieldError(f"{prefix}{name}" if prefix else name, message))
    return out


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    errors: list[FieldError] | None = None,
) -> Response:
    """Build one problem+json response."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    response = Response(
        json.dumps(body), status=status, mimetype="application/problem+json", headers=headers
    )
    return response


def to_problem(exc: BaseException) -> Response:
    """Map any exception to its problem response; unknown ones become an opaque 500."""
    if isinstance(exc, HttpProblem):
        return problem(exc.status, exc.slug, exc.title, exc.detail, headers=exc.headers)
    if isinstance(exc, ValidationError):
        return problem(
            400,
            "validation",
            "Invalid input",
            "the request has invalid fields",
            errors=validation_errors(exc),
        )
    if isinstance(exc, CelesteError):
        for cls in type(exc).__mro__:
            if cls in _DOMAIN_STATUS:
                status, slug = _DOMAIN_STATUS[cls]
                break
        else:  # pragma: no cover - every domain error has a row above
            status, slug = 500, "internal"
        headers = {}
        if isinstance(exc, (Contention, RateLimited)):
            headers["Retry-After"] = str(exc.retry_after_s)
        errors = exc.errors if isinstance(exc, ValidationFailed | Conflict) else None
        return problem(status, slug, exc.title, exc.detail, headers=headers, errors=errors)
    log.exception("unhandled error", exc_info=exc)
    return problem(500, "internal", "Internal error", "something went wrong on our side")
