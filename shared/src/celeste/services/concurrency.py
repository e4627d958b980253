"""Optimistic concurrency checks: the early ``If-Match`` answer (``backoff.optimistic`` retries)."""

from __future__ import annotations

from celeste.errors import PreconditionFailed

#: How often the cart re-reads a line or a price that changed under it before answering 503.
ATTEMPTS = 5


def check_version(*, current: str, expected: str | None, what: str) -> None:
    """Answer 412 early when ``If-Match`` named another version (the store checks it again)."""
    if expected is not None and expected != current:
        raise PreconditionFailed(f"{what} changed since it was read")
