"""The cache helper against a real redis-server: versions, invalidation, stampedes, Redis dying."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
import redis

from celeste_functions.adapters.cache import Bounded, Cache, Lookup
from celeste_functions.clients import make_redis
from celeste_functions.composition import Services, services, use
from celeste_functions.triggers.catalog import on_catalog_written
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.integration


def _cache(server: RedisServer, **kw: object) -> Cache:
    client = redis.Redis.from_url(
        server.url, socket_timeout=0.05, socket_connect_timeout=0.05, retry=None
    )
    return Cache(client=lambda: client, ttl_s=60, **kw)  # type: ignore[arg-type]


class Counter:
    """A compute function that counts its calls."""

    def __init__(self, value: object = "v") -> None:
        self.calls = 0
        self.value = value
        self.lock = threading.Lock()

    def __call__(self) -> object:
        with self.lock:
            self.calls += 1
        return self.value


def test_miss_then_hit(redis_server: RedisServer) -> None:
    cache, compute = _cache(redis_server), Counter({"a": [1, 2]})
    first = cache.get_or_compute(scope="s", key="k", compute=compute)
    second = cache.get_or_compute(scope="s", key="k", compute=compute)
    assert (first.hit, second.hit) == (False, True)
    assert second.value == {"a": [1, 2]} and compute.calls == 1


def test_invalidate_retires_every_entry_of_the_scope_only(redis_server: RedisServer) -> None:
    cache = _cache(redis_server)
    cache.get_or_compute(scope="s", key="k1", compute=lambda: 1)
    cache.get_or_compute(scope="other", key="k1", compute=lambda: 1)
    assert cache.invalidate(["s"]).redis
    assert not cache.get_or_compute(scope="s", key="k1", compute=lambda: 2).hit
    assert cache.get_or_compute(scope="s", key="k1", compute=lambda: 3).value == 2
    assert cache.get_or_compute(scope="other", key="k1", compute=lambda: 9).hit


def test_value_computed_before_a_write_is_never_served_after_it(redis_server: RedisServer) -> None:
    cache = _cache(redis_server)

    def slow_stale_read() -> str:
        # The write and its invalidation land while this reader is computing from old data.
        cache.invalidate(["s"])
        return "old"

    cache.get_or_compute(scope="s", key="k", compute=slow_stale_read)
    after = cache.get_or_compute(scope="s", key="k", compute=lambda: "new")
    assert after.value == "new" and not after.hit


def _commands(probe: redis.Redis) -> dict[str, int]:
    """Calls per command the server has run (``INFO commandstats``, scripts' own included)."""
    stats = probe.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def test_a_hit_is_one_round_trip(redis_server: RedisServer) -> None:
    client = make_redis(redis_server.url, timeout_s=0.05)
    cache = Cache(client=lambda: client, ttl_s=60)
    cache.get_or_compute(scope="s", key="k", compute=lambda: 1)
    probe = redis.Redis.from_url(redis_server.url)
    before = _commands(probe)
    assert cache.get_or_compute(scope="s", key="k", compute=lambda: 2).hit
    after = _commands(probe)
    ran = {name: n - before.get(name, 0) for name, n in after.items() if n != before.get(name)}
    # One MGET of the version and the entry (the INFO is the probe's own): no script.
    assert ran == {"mget": 1, "info": 1}


def test_an_entry_stamped_with_an_older_version_is_never_served(
    redis_server: RedisServer,
) -> None:
    cache = _cache(redis_server)
    r = redis.Redis.from_url(redis_server.url)
    cache.get_or_compute(scope="s", key="k", compute=lambda: "old")
    old_token = r.get("celeste:s:version")
    assert old_token is not None
    cache.invalidate(["s"])
    # A slow reader that learned the old version stores its value after the invalidation.
    r.set("celeste:s:entry:k", old_token + b'.0\n"stale"')
    assert cache.get_or_compute(scope="s", key="k", compute=lambda: "new") == Lookup("new", False)
    assert cache.get_or_compute(scope="s", key="k", compute=lambda: "x") == Lookup("new", True)
    # Redis losing the token (an eviction, a flush of that key) retires every entry too.
    r.delete("celeste:s:version")
    assert cache.get_or_compute(scope="s", key="k", compute=lambda: "newer") == Lookup(
        "newer", False
    )


def test_a_restarted_redis_is_reconnected_at_the_next_hit(redis_server: RedisServer) -> None:
    client = make_redis(redis_server.url, timeout_s=0.2)
    cache = Cache(client=lambda: client, ttl_s=60)
    cache.get_or_compute(scope="s", key="k", compute=lambda: 1)
    assert cache.get_or_compute(scope="s", key="k", compute=lambda: 2).hit
    redis_server.stop()
    redis_server.start()  # empty: no RDB snapshot was written
    # The idle connection to the old server is replaced, not failed on (no breaker trip).
    assert cache.get_or_compute(scope="s", key="k", compute=lambda: 3) == Lookup(3, hit=False)
    assert cache.get_or_compute(scope="s", key="k", compute=lambda: 4) == Lookup(3, hit=True)


def test_one_recompute_per_hot_key(redis_server: RedisServer) -> None:
    cache = _cache(redis_server)
    calls = Counter()
    release = threading.Event()

    def slow() -> object:
        calls()
        release.wait(0.2)
        return "v"

    results: list[object] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(
                cache.get_or_compute(scope="s", key="hot", compute=slow).value
            )
        )
        for _ in range(12)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["v"] * 12
    assert calls.calls == 1


def test_redis_dying_mid_run_fails_open_and_recovers(redis_server: RedisServer) -> None:
    cache = _cache(redis_server, cooldown_s=0.0)
    assert cache.get_or_compute(scope="s", key="k", compute=lambda: 1).value == 1
    redis_server.stop()
    for i in range(5):
        lookup = cache.get_or_compute(scope="s", key="k", compute=lambda i=i: i)
        assert (lookup.value, lookup.hit) == (i, False)
    assert not cache.invalidate(["s"]).reached  # no epochs wired, Redis dead: nowhere to land
    redis_server.start()
    assert not cache.get_or_compute(scope="s", key="k", compute=lambda: 7).hit
    assert cache.get_or_compute(scope="s", key="k", compute=lambda: 8).value == 7


def test_breaker_skips_redis_after_a_failure(redis_server: RedisServer) -> None:
    calls = Counter(None)
    client = redis.Redis.from_url(redis_server.url, socket_timeout=0.05)
    cache = Cache(client=lambda: (calls(), client)[1], ttl_s=60, cooldown_s=60)
    redis_server.stop()
    cache.get_or_compute(scope="s", key="k", compute=lambda: 1)
    asked = calls.calls
    for _ in range(10):
        assert cache.get_or_compute(scope="s", key="k", compute=lambda: 2).value == 2
    assert calls.calls == asked  # the breaker is open: Redis is not even asked


def test_no_redis_configured_just_computes() -> None:
    cache = Cache(client=lambda: None, ttl_s=60)
    assert cache.get_or_compute(scope="s", key="k", compute=lambda: 5).value == 5
    assert cache.invalidate(["s"]).reached  # nothing is cached anywhere: nothing to retire


def test_catalog_trigger_redelivery_retires_again_never_skips(redis_server: RedisServer) -> None:
    cache = _cache(redis_server)
    use(Services(cache=cache))
    try:
        r = redis.Redis.from_url(redis_server.url)
        cache.get_or_compute(scope="categories", key="k", compute=lambda: "old")
        event = SimpleNamespace(id="event-42", document="categories/abc")
        on_catalog_written(event)
        after_first = r.get("celeste:categories:version")
        assert cache.get_or_compute(scope="categories", key="k", compute=lambda: "new").value == (
            "new"
        )
        on_catalog_written(event)  # redelivered: retired again (one more recompute), not skipped
        assert r.get("celeste:categories:version") != after_first
        assert cache.get_or_compute(scope="categories", key="k", compute=lambda: "x").value == "x"
        # An older event arriving late still only retires versions: nothing stale comes back.
        on_catalog_written(SimpleNamespace(id="event-41", document="categories/abc"))
        assert not cache.get_or_compute(scope="categories", key="k", compute=lambda: "y").hit
    finally:
        services.reset()


def test_a_bounded_family_stores_at_most_its_cap_per_version(redis_server: RedisServer) -> None:
    cache = _cache(redis_server)
    family = Bounded(family="filtered", cap=10, ttl_s=30)
    for i in range(25):
        cache.get_or_compute(scope="s", key=f"f:{i}", compute=lambda i=i: i, bounded=family)
    r = redis.Redis.from_url(redis_server.url)
    stored = list(r.scan_iter("celeste:s:entry:f:*"))
    assert len(stored) == 10
    assert all(0 < r.ttl(k) <= 30 for k in stored)
    assert cache.get_or_compute(scope="s", key="f:3", compute=lambda: -1, bounded=family).hit
    assert not cache.get_or_compute(scope="s", key="f:20", compute=lambda: -1).hit
    # A new version of the scope starts a new budget.
    cache.invalidate(["s"])
    assert not cache.get_or_compute(scope="s", key="f:20", compute=lambda: 20, bounded=family).hit
    assert cache.get_or_compute(scope="s", key="f:20", compute=lambda: -1, bounded=family).hit
