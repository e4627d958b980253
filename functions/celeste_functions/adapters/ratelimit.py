"""Redis rate counters: sliding-window counts per key, failing open through the cache's breaker.

Each key has one counter per fixed window (``{key}:{window number}``, expiring after two
windows); the sliding count is the current window plus the overlapping share of the previous
one. One round trip per request (INCR, EXPIRE, GET in a pipeline); a refused request is taken
back out (DECR), so only accepted requests count and ``Retry-After`` stays true; an accepted one
can be taken back later too (``give_back``: a discount code that applied, a request another limit
refused). When Redis is unset, down or slow, every request is allowed: limits protect the
service, they never fail it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from celeste.kernel.ratelimits import ALLOW, Decision, Limit, decide
from celeste_functions.adapters.cache import NAMESPACE, Cache

# Takes one count back out of a window's counter if it still exists (an expired window is not
# recreated, and a counter never goes below zero). KEYS: the counter.
_GIVE_BACK = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then return redis.call('DECR', KEYS[1]) end
return 0
"""


class RedisRateCounter:
    """``RateCounter`` on the cache's Redis client and breaker."""

    def __init__(self, *, cache: Cache, clock: Callable[[], float] = time.time) -> None:
        self._cache = cache
        self._clock = clock

    def hit(self, key: str, limit: Limit) -> Decision:
        r = self._cache.available()
        if r is None:
            return ALLOW
        now = self._clock()
        window = int(now // limit.window_s)
        elapsed = now - window * limit.window_s
        current = f"{NAMESPACE}:rate:{key}:{window}"
        try:
            pipe = r.pipeline(transaction=False)
            pipe.incr(current)
            pipe.expire(current, 2 * limit.window_s)
            pipe.get(f"{NAMESPACE}:rate:{key}:{window - 1}")
            counted, _, prior = pipe.execute()
            decision = decide(
                limit, prior=int(prior or 0), count=int(counted) - 1, elapsed_s=elapsed
            )
            if not decision.allowed:
                r.decr(current)
                return decision
            return Decision(True, counted=current)
        except Exception as exc:
            self._cache.trip(exc)
            return ALLOW

    def give_back(self, counted: str) -> None:
        r = self._cache.available()
        if r is None or not counted.startswith(f"{NAMESPACE}:rate:"):
            return
        try:
            r.eval(_GIVE_BACK, 1, counted)
        except Exception as exc:
            self._cache.trip(exc)
