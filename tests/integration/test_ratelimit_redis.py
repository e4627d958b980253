"""The Redis rate counter against a real redis-server: counts, windows, expiry, Redis dying."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from celeste.kernel.ratelimits import Limit
from celeste_functions.adapters.cache import Cache
from celeste_functions.adapters.ratelimit import RedisRateCounter
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _counter(server: RedisServer, clock: Clock) -> tuple[RedisRateCounter, redis.Redis]:
    client = redis.Redis.from_url(
        server.url, socket_timeout=0.05, socket_connect_timeout=0.05, retry=None
    )
    cache = Cache(client=lambda: client, ttl_s=60, cooldown_s=60)
    return RedisRateCounter(cache=cache, clock=clock), client


def test_counts_up_to_the_limit_then_refuses_with_retry_after(redis_server: RedisServer) -> None:
    clock = Clock(1_800_000_000.0)  # a window boundary for 60 s windows
    counter, client = _counter(redis_server, clock)
    limit = Limit(3, 60)
    assert [counter.hit("k", limit).allowed for _ in range(3)] == [True, True, True]
    refused = counter.hit("k", limit)
    assert not refused.allowed and refused.retry_after_s >= 1
    assert counter.hit("other", limit).allowed  # keys are independent
    # The refusal was taken back out: the window holds exactly the three accepted requests.
    (stored,) = [k for k in client.keys("celeste:rate:k:*")]
    assert int(client.get(stored) or 0) == 3
    assert 60 < client.ttl(stored) <= 120
    clock.now += refused.retry_after_s
    assert counter.hit("k", limit).allowed


def test_concurrent_hits_accept_exactly_the_limit(redis_server: RedisServer) -> None:
    counter, _ = _counter(redis_server, Clock())
    limit = Limit(25, 3600)
    barrier = threading.Barrier(16)

    def burst(_: int) -> int:
        barrier.wait()
        return sum(counter.hit("hot", limit).allowed for _ in range(5))

    with ThreadPoolExecutor(16) as pool:
        assert sum(pool.map(burst, range(16))) == 25


def test_a_dead_redis_allows_everything_and_trips_the_shared_breaker(
    redis_server: RedisServer,
) -> None:
    clock = Clock()
    counter, _ = _counter(redis_server, clock)
    limit = Limit(1, 60)
    assert counter.hit("k", limit).allowed
    assert not counter.hit("k", limit).allowed
    redis_server.stop()
    assert counter.hit("k", limit).allowed  # fails open
    assert counter.hit("k", limit).allowed  # and the breaker now skips Redis entirely
