"""Jittered exponential backoff for optimistic writes that lost a race to a concurrent writer."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from celeste.kernel.errors import Contention, PreconditionFailed, Unavailable

T = TypeVar("T")
log = logging.getLogger("celeste.backoff")


@dataclass(frozen=True)
class Backoff:
    """How hard to retry: at most ``attempts`` tries within ``budget_s`` seconds, sleeping a
    random time up to ``base_s * 2**n`` (capped at ``cap_s``) between them ("full jitter")."""

    attempts: int = 30
    base_s: float = 0.02
    cap_s: float = 1.0
    budget_s: float = 25.0

    def delay(self, failures: int, *, rng: Callable[[], float] = random.random) -> float:
        """The pause after the ``failures``-th lost race (1-based)."""
        return rng() * min(self.cap_s, self.base_s * (1 << min(failures, 30)))


#: For triggers: they may spend most of their 60 s timeout winning the race.
TRIGGER = Backoff()
#: For HTTP requests: a client waits; give up sooner with 503 and ``Retry-After``.
REQUEST = Backoff(attempts=12, budget_s=8.0)


def optimistic(
    attempt: Callable[[], T],
    *,
    backoff: Backoff,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    pinned: bool = False,
    lost: tuple[type[Exception], ...] = (PreconditionFailed, Contention),
) -> T:
    """Run ``attempt`` (read, decide, commit with preconditions) until it commits.

    The one retry helper. ``PreconditionFailed`` (a version moved, or a create found its
    document) and ``Contention`` (the database aborted) mean another writer won: read again and
    decide again (``lost`` names other such signals). When the attempts or the time budget run
    out, ``Contention`` tells the caller to try later. With ``pinned`` (the client sent
    ``If-Match``) a moved version is the client's answer (412), not ours to retry: one attempt.
    ``Unavailable`` (a dependency is down, perhaps after the commit) is no lost race: it goes
    to the caller at once, never attempted again.
    """
    if pinned:
        return attempt()
    started = clock()
    failures = 0
    while True:
        try:
            result = attempt()
        except lost as exc:
            if isinstance(exc, Unavailable):
                raise
            failures += 1
            pause = backoff.delay(failures)
            if failures >= backoff.attempts or clock() - started + pause > backoff.budget_s:
                raise Contention(
                    f"{what} kept losing races to concurrent writes ({failures} attempts)",
                    retry_after_s=1,
                ) from None
            sleep(pause)
            continue
        if failures:
            log.info(
                "won after lost races",
                extra={
                    "fields": {
                        "what": what,
                        "lost_races": failures,
                        "elapsed_ms": round((clock() - started) * 1000),
                    }
                },
            )
        return result


def first_then_fresh(first: T | None, read: Callable[[], T]) -> Callable[[], T]:
    """What each attempt of an optimistic write reads: ``first`` (what the caller already read,
    or wrote) for the first attempt, ``read()`` for every retry (a lost race must see the
    winner's write). The commit still carries the version the attempt decided on."""
    given = [first] if first is not None else []

    def reads() -> T:
        return given.pop() if given else read()

    return reads
