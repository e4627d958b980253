"""The ``If-Match`` honouring optimistic write of an admin update or delete."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from celeste.kernel.errors import PreconditionFailed
from celeste.kernel.versions import Versioned
from celeste.services.retry import Backoff, optimistic

T = TypeVar("T")
V = TypeVar("V")


def check_version(*, current: str, expected: str | None, what: str) -> None:
    """Answer 412 early when ``If-Match`` named another version (the store checks it again)."""
    if expected is not None and expected != current:
        raise PreconditionFailed(f"{what} changed since it was read")


def versioned_write(
    read: Callable[[], Versioned[V]],
    write: Callable[[Versioned[V]], T],
    *,
    expected_version: str | None,
    subject: str,
    what: str,
    backoff: Backoff,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Read, answer 412 when ``If-Match`` named another version of ``subject``, then ``write``
    the current one (which commits under the version read), retried by ``optimistic`` (``what``
    names the attempt) unless the client pinned a version."""

    def attempt() -> T:
        current = read()
        check_version(current=current.version, expected=expected_version, what=subject)
        return write(current)

    return optimistic(
        attempt,
        backoff=backoff,
        what=what,
        sleep=sleep,
        pinned=expected_version is not None,
    )
