"""The one cache helper: Redis cache-aside under versioned scopes with durable epochs, fail-open.

Each entry lives in a *scope* (``cache_scopes.ALL_SCOPES``), stored under
``celeste:{scope}:entry:{key}`` and stamped with the scope's version ``{token}.{epoch}`` it was
computed under; only an entry whose stamp is the reader's current version is served. Two things
version a scope:

- the **token**, a random string in Redis (``celeste:{scope}:version``). Invalidating sets a new
  one, so while Redis answers, every older entry is unreachable at once, for every instance;
- the **epoch**, a counter in Firestore (``cache_epochs/{scope}``, owned by this module). Every
  invalidation also increments it, durably, so an invalidation that never reached Redis (Redis
  frozen, killed, or a reply lost) still retires the old entries. Readers keep the epochs in
  memory for at most ``window_s`` (the freshness bound of docs/caching.md), then read them again;
  prices for money (quotes, orders, carts) read them fresh on every call (``strict=True``).

A reader learns the token (and the epoch) *before* it reads Firestore, so a value computed from
data older than a write is stamped with a version that write retired. A hit costs one Redis
round trip, an ``MGET`` of the token and the entry (a twentieth of a Lua script's Redis CPU, so
Redis serves hits at its plain-read rate). Redis failures never fail a
request: short socket timeouts, and after a failure the breaker skips Redis reads for
``cooldown_s`` (invalidations still try it: they are rare and must not be skipped).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from celeste.services.retry import Backoff, optimistic
from celeste_functions.cache_scopes import ALL_SCOPES
from celeste_functions.logs import get_logger

if TYPE_CHECKING:
    import redis
    from google.cloud import firestore

log = get_logger("cache")
T = TypeVar("T")

NAMESPACE = "celeste"
#: Seconds a reader that lost the recompute race waits for the winner's value.
WAIT_FOR_PEER_S = 0.5
#: How long the recompute lock lives (longer than any computation should take).
LOCK_TTL_MS = 5_000
#: Firestore collection of the durable scope epochs (one document per scope, field ``n``).
EPOCHS = "cache_epochs"
#: How hard an invalidation retries its epoch increment while Firestore is busy.
EPOCH_BACKOFF = Backoff(attempts=6, base_s=0.05, cap_s=0.5, budget_s=3.0)

# Stores a stamped entry and drops its recompute lock; with a family cap (ARGV[3] > 0), only
# while fewer than the cap of that family's entries were stored under this version in the
# family's TTL (the counter lives that long from its first store, whatever the entry's own TTL,
# so at most twice the cap of the family's entries are alive at any moment). KEYS: entry, lock,
# family counter; ARGV: value, TTL seconds, cap, family TTL seconds.
_STORE = """
local cap = tonumber(ARGV[3])
if cap > 0 then
  local n = redis.call('INCR', KEYS[3])
  if n == 1 then redis.call('EXPIRE', KEYS[3], ARGV[4]) end
  if n > cap then
    redis.call('DEL', KEYS[2])
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('DEL', KEYS[2])
return 1
"""
_STORE_SHA = hashlib.sha1(_STORE.encode()).hexdigest()


@dataclass(frozen=True)
class Lookup(Generic[T]):
    """A cached (or freshly computed) value and whether it came from the cache."""

    value: T
    hit: bool


@dataclass(frozen=True)
class Bounded:
    """A family of entries with unbounded keys (e.g. arbitrary filters): at most ``cap`` of them
    are stored per scope version, each for at most ``ttl_s``; beyond, they are just computed."""

    family: str
    cap: int
    ttl_s: int


@dataclass(frozen=True)
class Retired:
    """Where an invalidation landed: the durable epoch, the Redis token, or both."""

    durable: bool
    redis: bool

    @property
    def reached(self) -> bool:
        """Whether readers will stop serving the old entries (at once, or within the window)."""
        return self.durable or self.redis


@dataclass(frozen=True)
class Codec(Generic[T]):
    """How a value becomes the bytes of an entry and back."""

    encode: Callable[[T], bytes]
    decode: Callable[[bytes], T]


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


#: JSON-able values (the default).
JSON: Codec[Any] = Codec(encode=_dumps, decode=json.loads)


class Epochs:
    """The durable scope epochs in Firestore, read at most every ``window_s`` per process."""

    def __init__(
        self,
        *,
        client: Callable[[], firestore.Client],
        window_s: float,
        scopes: Sequence[str] = ALL_SCOPES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._window_s = window_s
        self._scopes = tuple(scopes)
        self._clock = clock
        self._lock = threading.Lock()
        self._values: dict[str, int] = {}
        self._read_at = -math.inf

    @property
    def window_s(self) -> float:
        """The longest a process serves from epochs it read earlier."""
        return self._window_s

    def current(self) -> Mapping[str, int] | None:
        """Epochs read at most ``window_s`` ago (reading them again when older); ``None`` when
        Firestore cannot say (callers then bypass the cache)."""
        if self._clock() - self._read_at < self._window_s:
            return self._values
        with self._lock:
            if self._clock() - self._read_at < self._window_s:
                return self._values
            started = self._clock()
            values = self._read()
            if values is None:
                return None
            self._values, self._read_at = values, started
            return values

    def fresh(self) -> Mapping[str, int] | None:
        """Epochs read now (money paths: no edit acknowledged before this call is missed)."""
        started = self._clock()
        values = self._read()
        if values is not None:
            with self._lock:
                if started >= self._read_at:
                    self._values, self._read_at = values, started
        return values

    def bump(self, scopes: Sequence[str]) -> bool:
        """Increment the epochs of ``scopes`` (retried while Firestore is busy); ``False`` when
        it could not be written."""
        from google.cloud import firestore as fs

        from celeste_functions.adapters.firestore import storage_errors

        def attempt() -> None:
            client = self._client()
            batch = client.batch()
            for scope in scopes:
                ref = client.collection(EPOCHS).document(scope)
                batch.set(ref, {"n": fs.Increment(1)}, merge=True)
            with storage_errors():
                batch.commit()

        try:
            optimistic(attempt, backoff=EPOCH_BACKOFF, what="cache epoch increment")
        except Exception as exc:
            log.error(
                "cache epochs not incremented",
                extra={"fields": {"scopes": list(scopes), "error": type(exc).__name__}},
            )
            return False
        with self._lock:
            self._read_at = -math.inf  # this process sees its own write on its next read
        return True

    def _read(self) -> dict[str, int] | None:
        try:
            client = self._client()
            refs = [client.collection(EPOCHS).document(scope) for scope in self._scopes]
            values = dict.fromkeys(self._scopes, 0)
            for snapshot in client.get_all(refs):
                if snapshot.exists:
                    values[snapshot.id] = int((snapshot.to_dict() or {}).get("n", 0))
            return values
        except Exception as exc:
            log.warning(
                "cache epochs unreadable, serving without cache",
                extra={"fields": {"error": type(exc).__name__}},
            )
            return None


class _ThreadConnections:
    """One Redis connection per thread, made with the client's own settings, for the cache's
    lookups and scripts: a hit's round trip without redis-py's pool checkout, its liveness poll
    and its command wrappers (each blocking call also hands the GIL to another request thread;
    see docs/performance.md). A failed call disconnects the connection (redis-py does so
    itself) and the next one connects again; a connection the server closed while it sat idle
    (a restart) fails its next call with ``ConnectionError`` before anything ran, so that call
    is sent once more on a new connection."""

    def __init__(self) -> None:
        self._local = threading.local()

    def call(self, r: redis.Redis, *command: Any) -> Any:
        import redis as redis_lib

        local = self._local
        conn = getattr(local, "conn", None)
        if conn is None or local.client is not r or local.forks != _forks[0]:
            pool = r.connection_pool
            conn = pool.connection_class(**pool.connection_kwargs)
            local.conn, local.client, local.forks = conn, r, _forks[0]
        elif getattr(conn, "_sock", None) is not None:  # connected before: may have gone stale
            try:
                conn.send_command(*command)
                return conn.read_response()
            except redis_lib.ConnectionError:
                conn.disconnect()  # closed by the server (TimeoutError is not retried)
        conn.send_command(*command)
        return conn.read_response()


#: Forks of this process so far: a child never uses the connections its parent opened.
_forks = [0]
os.register_at_fork(after_in_child=lambda: _forks.__setitem__(0, _forks[0] + 1))


class Cache:
    """Cache-aside over Redis; with no Redis (or a dead one) it just computes.

    Without ``epochs`` (unit tests, scripts) every epoch is 0 and only the Redis token versions
    a scope. The breaker (``available``/``trip``) is shared with anything else that wants to
    skip a failing Redis for a while.
    """

    def __init__(
        self,
        *,
        client: Callable[[], redis.Redis | None],
        ttl_s: int,
        cooldown_s: float = 1.0,
        epochs: Epochs | None = None,
    ) -> None:
        self._client = client
        self._ttl_s = ttl_s
        self._cooldown_s = cooldown_s
        self._epochs = epochs
        self._open_until = 0.0
        self._lock = threading.Lock()
        self._connections = _ThreadConnections()

    @property
    def epochs(self) -> Epochs | None:
        """The durable epochs this cache reads (``None``: Redis tokens only)."""
        return self._epochs

    def get_or_compute(
        self,
        *,
        scope: str,
        key: str,
        compute: Callable[[], T],
        ttl_s: int | Callable[[T], int | None] | None = None,
        strict: bool = False,
        codec: Codec[T] = JSON,
        bounded: Bounded | None = None,
    ) -> Lookup[T]:
        """The value for ``key`` in ``scope``; ``compute()`` runs on a miss, at most once at a
        time per key across instances (others wait briefly for its result).

        ``ttl_s`` (at most the configured TTL) may be a function of the computed value, for
        entries that go stale at a known moment (a price list starting or ending). ``strict``
        reads the durable epochs now instead of the copy up to ``window_s`` old (prices for
        money). ``codec`` turns values into entry bytes (default: JSON). ``bounded`` caps how
        many entries of a family of keys may be stored.
        """
        r = self.available()
        epoch = self._epoch(scope, strict=strict) if r is not None else None
        if r is None or epoch is None:
            return Lookup(compute(), hit=False)
        entry = f"{NAMESPACE}:{scope}:entry:{key}"
        try:
            stamp, cached = self._read(r, scope, epoch, entry)
            if cached is not None:
                return Lookup(codec.decode(cached), hit=True)
            versioned = f"{NAMESPACE}:{scope}:{stamp.decode()}"  # this version's lock and counter
            # Without the lock, a peer computes: wait for its value (it drops its own lock).
            locked = bool(r.set(f"{versioned}:lock:{key}", b"1", nx=True, px=LOCK_TTL_MS))
            if not locked:
                waited = self._wait_for_peer(r, entry, stamp)
                if waited is not None:
                    return Lookup(codec.decode(waited), hit=True)
        except Exception as exc:
            self.trip(exc)
            return Lookup(compute(), hit=False)
        try:
            value = compute()
        except BaseException:
            # A refused or failed computation (429, 404, a bad cursor) stores nothing, and
            # leaves nothing behind either: its lock goes at once instead of after 5 s.
            if locked:
                self._drop(r, f"{versioned}:lock:{key}")
            raise
        wanted = ttl_s(value) if callable(ttl_s) else ttl_s
        ceiling = min(self._ttl_s, bounded.ttl_s) if bounded else self._ttl_s
        ttl = max(1, min(wanted or ceiling, ceiling))
        family = f"{versioned}:family:{bounded.family if bounded else ''}"
        try:
            self._script(
                r,
                _STORE,
                _STORE_SHA,
                (entry, f"{versioned}:lock:{key}", family),
                (
                    stamp + b"\n" + codec.encode(value),
                    ttl,
                    bounded.cap if bounded else 0,
                    bounded.ttl_s if bounded else 0,
                ),
            )
        except Exception as exc:
            self.trip(exc)
        return Lookup(value, hit=False)

    def invalidate(self, scopes: Iterable[str]) -> Retired:
        """Retire every entry of ``scopes``: the durable epoch first, then the Redis token.

        Idempotent in effect (retiring twice only costs one more recompute), so redelivered or
        reordered trigger events need no bookkeeping, and nothing is marked done before it is.
        Redis is tried even while the breaker is open.
        """
        wanted = sorted(set(scopes))
        if not wanted:
            return Retired(durable=True, redis=True)
        durable = self._epochs.bump(wanted) if self._epochs is not None else False
        # With no Redis configured nothing is cached there; without epochs either, nothing to do.
        reached_redis = self._epochs is None
        r = self._client()
        if r is not None:
            reached_redis = False
            try:
                r.mset({f"{NAMESPACE}:{scope}:version": _new_token() for scope in wanted})
                reached_redis = True
            except Exception as exc:
                self.trip(exc)
        if not reached_redis:
            log.warning(
                "invalidation did not reach redis",
                extra={"fields": {"scopes": wanted, "durable": durable}},
            )
        return Retired(durable=durable, redis=reached_redis)

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

    def _epoch(self, scope: str, *, strict: bool) -> int | None:
        if self._epochs is None:
            return 0
        epochs = self._epochs.fresh() if strict else self._epochs.current()
        return None if epochs is None else epochs.get(scope, 0)

    def _read(
        self, r: redis.Redis, scope: str, epoch: int, entry: str
    ) -> tuple[bytes, bytes | None]:
        """The scope's current version (``{token}.{epoch}``) and the entry's value if it was
        stamped with that version, in one round trip."""
        version_key = f"{NAMESPACE}:{scope}:version"
        token, stored = self._connections.call(r, "MGET", version_key, entry)
        if token is None:  # first use, or Redis lost the token: a new one (no entry has it)
            fresh = _new_token().encode()
            r.set(version_key, fresh, nx=True)
            token, stored = r.get(version_key) or fresh, None
        stamp = token + b"." + str(epoch).encode()
        return stamp, _if_stamped(stored, stamp)

    def _script(
        self, r: redis.Redis, source: str, sha: str, keys: Sequence[str], args: Sequence[Any]
    ) -> Any:
        """Run a Lua script by its SHA (one round trip), loading it on first use per server."""
        import redis as redis_lib

        try:
            return self._connections.call(r, "EVALSHA", sha, len(keys), *keys, *args)
        except redis_lib.exceptions.NoScriptError:
            return r.eval(source, len(keys), *keys, *args)

    def _drop(self, r: redis.Redis, key: str) -> None:
        """Delete ``key`` (best effort: a failure trips the breaker, the key expires anyway)."""
        try:
            self._connections.call(r, "DEL", key)
        except Exception as exc:
            self.trip(exc)

    def _wait_for_peer(self, r: redis.Redis, entry: str, stamp: bytes) -> bytes | None:
        deadline = time.monotonic() + WAIT_FOR_PEER_S
        delay = 0.01
        while time.monotonic() < deadline:
            time.sleep(delay)
            cached = _if_stamped(r.get(entry), stamp)  # type: ignore[arg-type]
            if cached is not None:
                return cached
            delay = min(delay * 2, 0.1)
        return None


def _new_token() -> str:
    """A scope token no entry can carry yet (random, 64 bits)."""
    return secrets.token_hex(8)


def _if_stamped(stored: bytes | None, stamp: bytes) -> bytes | None:
    """The value of a stored entry (``{stamp}\n{value}``) if it carries ``stamp``, else ``None``."""
    if stored is None:
        return None
    head, newline, value = stored.partition(b"\n")
    return value if newline and head == stamp else None
