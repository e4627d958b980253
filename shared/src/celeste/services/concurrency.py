"""The early ``If-Match`` answer of an optimistic write (``backoff.optimistic`` retries it)."""

from __future__ import annotations

from celeste.errors import PreconditionFailed


def check_version(*, current: str, expected: str | None, what: str) -> None:
    """Answer 412 early when ``If-Match`` named another version (the store checks it again)."""
    if expected is not None and expected != current:
        raise PreconditionFailed(f"{what} changed since it was read")
