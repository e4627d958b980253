"""Rate limits: how many requests a caller may make per window, and when to come back."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Limit:
    """At most ``requests`` accepted requests in any ``window_s`` seconds (sliding window)."""

    requests: int
    window_s: int

    @classmethod
    def parse(cls, text: str, *, setting: str) -> Limit | None:
        """``"N/S"`` (N requests per S seconds); ``"off"`` or ``"0"`` is no limit. A malformed
        value is a ``ValueError`` naming ``setting`` (a configuration mistake, not a request's)."""
        value = text.strip().lower()
        if value in ("off", "0", "none", ""):
            return None
        try:
            requests, window = (int(part) for part in value.split("/"))
        except ValueError:
            raise ValueError(f"{setting}={text!r} is not N/SECONDS (e.g. 10/60)") from None
        if requests < 1 or window < 1:
            raise ValueError(f"{setting}={text!r}: both numbers must be positive")
        return cls(requests, window)

    def __str__(self) -> str:
        return f"{self.requests}/{self.window_s}s"


@dataclass(frozen=True)
class Policy:
    """The limits of one kind of request, per signed-in caller and per client IP address."""

    per_user: Limit | None
    per_ip: Limit | None


@dataclass(frozen=True)
class Decision:
    """Whether one more request is accepted, and if not, how many seconds until it would be."""

    allowed: bool
    retry_after_s: int = 0
    #: Where an accepted request was counted (opaque to all but its counter), so the counter
    #: can take it back (``RateCounter.give_back``); ``None`` when nothing was counted.
    counted: str | None = field(default=None, compare=False)


ALLOW = Decision(True)


def sliding_count(*, prior: int, count: int, elapsed_s: float, window_s: int) -> float:
    """The requests of the last ``window_s`` seconds, estimated from fixed-window counters:
    the current window's ``count`` plus the previous window's ``prior`` weighted by how much of
    it still overlaps (the classic sliding-window-counter approximation)."""
    overlap = max(0.0, 1.0 - elapsed_s / window_s)
    return prior * overlap + count


def decide(limit: Limit, *, prior: int, count: int, elapsed_s: float) -> Decision:
    """Accept one more request, given ``count`` accepted so far in the current window (opened
    ``elapsed_s`` ago) and ``prior`` accepted in the previous one? When not, ``retry_after_s``
    is the smallest whole number of seconds after which the same request would be accepted
    (if nothing else is accepted meanwhile)."""
    n, w = limit.requests, limit.window_s
    if sliding_count(prior=prior, count=count + 1, elapsed_s=elapsed_s, window_s=w) <= n:
        return ALLOW
    if count + 1 <= n:
        # The current window alone has room: wait until enough of the previous one slid out.
        # prior * (1 - (e + t) / w) <= n - count - 1
        wait = w * (1 - (n - count - 1) / prior) - elapsed_s
    else:
        # The current window is full: wait into the next one, where it becomes the prior.
        # count * (1 - e' / w) + 1 <= n, e' = t - (w - e)
        wait = (w - elapsed_s) + w * (1 - (n - 1) / count)
    return Decision(False, retry_after_s=max(1, math.ceil(wait - 1e-9)))
