"""Optimistic concurrency: read, decide, write with a version precondition, retry when raced."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from celeste.errors import Contention, PreconditionFailed

T = TypeVar("T")

#: How often a read-decide-write is attempted before the caller is told to retry.
ATTEMPTS = 5


def retry_unless_pinned(attempt: Callable[[], T], *, pinned: bool) -> T:
    """Run ``attempt``; when a concurrent write beat it, run it again on fresh data.

    With ``pinned`` (the client sent ``If-Match``) a stale version is the client's answer (412),
    not ours to retry. Without it, races that outlive the attempts become ``Contention`` (503).
    """
    for _ in range(ATTEMPTS):
        try:
            return attempt()
        except PreconditionFailed:
            if pinned:
                raise
    raise Contention("the resource kept changing while we wrote it", retry_after_s=1)


def check_version(*, current: str, expected: str | None, what: str) -> None:
    """Answer 412 early when ``If-Match`` named another version (the store checks it again)."""
    if expected is not None and expected != current:
        raise PreconditionFailed(f"{what} changed since it was read")
