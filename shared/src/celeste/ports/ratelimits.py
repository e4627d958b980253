"""Counting requests for rate limits."""

from __future__ import annotations

from typing import Protocol

from celeste.kernel.ratelimits import Decision, Limit


class RateCounter(Protocol):
    """Counts requests per key in sliding windows; a counter that cannot count allows."""

    def hit(self, key: str, limit: Limit) -> Decision:
        """Count one request for ``key`` if ``limit`` allows it; the decision either way."""
        ...

    def give_back(self, counted: str) -> None:
        """Take back a request an accepted ``hit`` counted (``Decision.counted``): it no longer
        uses the allowance. Best effort, like counting."""
        ...
