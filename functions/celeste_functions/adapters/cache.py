"""The one cache helper: Redis cache-aside with versioned keys, fail-open, one recompute per key.

Each cached entry lives under a *scope* (``categories``, ``products`` ...). A scope's current
version is a random token in Redis; entries are stored under ``{scope}:{version}:{key}``.
Invalidating a scope sets a new token, which makes every older entry unreachable at once (they
age out by TTL). A reader fetches the version *before* it reads Firestore, so a value computed
from data older than a write is always stored under a version that write already retired: the
old value can never be served again. Random tokens (not counters or clocks) stay correct when
Redis loses the version key or events arrive twice or out of order.

Redis failures never fail a request: every call has a short socket timeout, and after one
failure the breaker skips Redis for ``cooldown_s`` so a dead Redis costs one timeout, not one
per call.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from celeste_functions.logs import get_logger

if TYPE_CHECKING:
    import redis

log = get_logger("cache")

NAMESPACE = "celeste"
#: Seconds a reader that lost the recompute race waits for the winner's value.
WAIT_FOR_PEER_S = 0.5
#: How long the recompute lock lives (longer than any computation should take).
LOCK_TTL_MS = 5_000
#: Event ids remembered to drop duplicate trigger deliveries.
EVENT_MEMORY_S = 24 * 3600


@dataclass(frozen=True)
class Lookup:
    """A cached (or freshly computed) value and whether it came from the cache."""

    value: Any
    hit: bool


class Cache:
    """Cache-aside over Redis; with no Redis (or a dead one) it just computes.

    The breaker (``available``/``trip``) is shared with anything else that wants to skip a
    failing Redis for a while (the rate limiter).
    """

    def __init__(
        self, *, client: Callable[[], redis.Redis | None], ttl_s: int, cooldown_s: float = 1.0
    ) -> None:
        self._client = client
        self._ttl_s = ttl_s
        self._cooldown_s = cooldown_s
        self._open_until = 0.0
        self._lock = threading.Lock()

    def get_or_compute(
        self,
        *,
        scope: str,
        key: str,
        compute: Callable[[], Any],
        ttl_s: int | Callable[[Any], int] | None = None,
    ) -> Lookup:
        """The value for ``key`` in ``scope``; ``compute()`` (JSON-able) runs on a miss, at most
        once at a time per key across instances (others wait briefly for its result).

        ``ttl_s`` (at most the configured TTL) may be a function of the computed value, for
        entries that go stale at a known moment (a price list starting or ending).
        """
        r = self.available()
        if r is None:
            return Lookup(compute(), hit=False)
        try:
            version = self._version(r, scope)
            entry = f"{NAMESPACE}:{scope}:{version}:{key}"
            cached = r.get(entry)
            if cached is not None:
                return Lookup(json.loads(cached), hit=True)
            if not r.set(entry + ":lock", b"1", nx=True, px=LOCK_TTL_MS):
                waited = self._wait_for_peer(r, entry)
                if waited is not None:
                    return Lookup(waited, hit=True)
        except Exception as exc:
            self.trip(exc)
            return Lookup(compute(), hit=False)
        value = compute()
        wanted = ttl_s(value) if callable(ttl_s) else ttl_s
        ttl = max(1, min(wanted or self._ttl_s, self._ttl_s))
        try:
            pipe = r.pipeline(transaction=False)
            pipe.set(entry, json.dumps(value, separators=(",", ":")), ex=ttl)
            pipe.delete(entry + ":lock")
            pipe.execute()
        except Exception as exc:
            self.trip(exc)
        return Lookup(value, hit=False)

    def invalidate(self, scopes: Iterable[str], *, event_id: str | None = None) -> bool:
        """Retire every entry of ``scopes``; a repeated ``event_id`` does nothing the second time.

        Returns whether the invalidation reached Redis (``False`` with no Redis configured or
        Redis down: the TTL then bounds staleness, and the README says so).
        """
        r = self.available()
        if r is None:
            return False
        try:
            if event_id is not None and not r.set(
                f"{NAMESPACE}:event:{event_id}", b"1", nx=True, ex=EVENT_MEMORY_S
            ):
                return True
            pipe = r.pipeline(transaction=False)
            for scope in sorted(set(scopes)):
                pipe.set(f"{NAMESPACE}:{scope}:version", secrets.token_hex(8))
            pipe.execute()
            return True
        except Exception as exc:
            self.trip(exc)
            return False

    def _version(self, r: redis.Redis, scope: str) -> str:
        key = f"{NAMESPACE}:{scope}:version"
        version = r.get(key)
        if version is None:
            # First use, or Redis lost the key: start a fresh version nobody has written under.
            r.set(key, secrets.token_hex(8), nx=True)
            version = r.get(key)
        return version.decode() if isinstance(version, bytes) else str(version)

    def _wait_for_peer(self, r: redis.Redis, entry: str) -> Any | None:
        deadline = time.monotonic() + WAIT_FOR_PEER_S
        delay = 0.01
        while time.monotonic() < deadline:
            time.sleep(delay)
            cached = r.get(entry)
            if cached is not None:
                return json.loads(cached)
            delay = min(delay * 2, 0.1)
        return None

    def available(self) -> redis.Redis | None:
        """The Redis client, or ``None`` when none is configured or the breaker is open."""
        if time.monotonic() < self._open_until:
            return None
        return self._client()

    def trip(self, exc: Exception) -> None:
        """Skip Redis for ``cooldown_s`` after a failure (one timeout, not one per call)."""
        with self._lock:
            self._open_until = time.monotonic() + self._cooldown_s
        log.warning(
            "redis unavailable, serving without cache",
            extra={"fields": {"error": type(exc).__name__, "cooldown_s": self._cooldown_s}},
        )
