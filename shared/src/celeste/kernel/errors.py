"""Domain errors: each says what went wrong in business terms; the HTTP layer maps them once."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One invalid input field, addressed like ``lines[0].quantity``."""

    field: str
    message: str


class CelesteError(Exception):
    """Base of every error the domain raises on purpose."""

    title = "Error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ValidationFailed(CelesteError):
    """Input broke a rule; ``errors`` names each offending field."""

    title = "Invalid input"

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.errors: list[FieldError] = list(errors or [])

    @classmethod
    def on(cls, field_name: str, message: str) -> ValidationFailed:
        """Build the error for a single field."""
        return cls(message, [FieldError(field_name, message)])


class Unauthenticated(CelesteError):
    """No valid credentials were presented."""

    title = "Unauthenticated"


class Forbidden(CelesteError):
    """The caller is known but may not do this."""

    title = "Forbidden"


class NotFound(CelesteError):
    """The resource does not exist (or the caller may not know it exists)."""

    title = "Not found"


class Conflict(CelesteError):
    """The request clashes with the current state: duplicate key, illegal move, still referenced;
    ``errors`` may name what clashed (e.g. the cart lines that cannot be ordered)."""

    title = "Conflict"

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.errors: list[FieldError] = list(errors or [])


class PreconditionFailed(CelesteError):
    """``If-Match`` named a version that is no longer current."""

    title = "Precondition failed"


class Contention(CelesteError):
    """Concurrent writers kept colliding; the client may retry after ``retry_after_s`` seconds."""

    title = "Busy, retry later"

    def __init__(self, detail: str, retry_after_s: int = 1) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class Unavailable(Contention):
    """A service the request needs (the identity provider, the database) is not answering; the
    client may retry after ``retry_after_s`` seconds (503 with ``Retry-After``)."""

    title = "Service unavailable"


class NotConfigured(CelesteError):
    """This deployment cannot do it at all (e.g. no payment provider keys): 503, no retry."""

    title = "Not configured"


class RateLimited(CelesteError):
    """The caller sent more requests of this kind than its limit allows; retry after
    ``retry_after_s`` seconds."""

    title = "Too many requests"

    def __init__(self, detail: str, retry_after_s: int = 1) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s
