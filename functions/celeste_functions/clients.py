"""Network clients, built lazily once per process behind a lock: nothing connects at import."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

from celeste_functions.config import settings

if TYPE_CHECKING:
    import firebase_admin
    import redis
    from google.cloud import firestore

T = TypeVar("T")
_UNSET = object()


class Lazy(Generic[T]):
    """A value built by ``factory`` on first ``get()``, at most once even under threads."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._value: T | object = _UNSET

    def get(self) -> T:
        """The value, building it on first use."""
        if self._value is _UNSET:
            with self._lock:
                if self._value is _UNSET:
                    self._value = self._factory()
        return self._value  # type: ignore[return-value]

    def reset(self) -> None:
        """Forget the value (tests, or after a fork)."""
        with self._lock:
            self._value = _UNSET


def _make_firestore() -> firestore.Client:
    # google.cloud.firestore.Client connects anonymously to FIRESTORE_EMULATOR_HOST when set, and
    # uses the runtime's service account in production; firebase_admin's wrapper demands credentials
    # even against the emulator.
    import grpc  # type: ignore[import-untyped]
    from google.cloud import firestore
    from google.cloud.firestore_v1 import base_client

    # Queries are server streams; by default gRPC starts a thread per streamed call (a sixth of
    # a product page's CPU here). Its single-threaded mode reads the stream on the caller's
    # thread. The client builds its channel options from these two lists (emulator and cloud).
    single = (grpc.experimental.ChannelOptions.SingleThreadedUnaryStream, 1)
    for options in (base_client._GRPC_MSG_SIZE_OPTIONS, base_client._DEFAULT_CHANNEL_OPTIONS):
        if single not in options:
            options.append(single)
    return firestore.Client(project=settings().project_id)


def make_redis(url: str, *, timeout_s: float) -> redis.Redis:
    """A Redis client that fails fast: short timeouts, no retries (a dead or black-holed Redis
    must cost milliseconds, not seconds). The cache and anything else using Redis share it."""
    import redis

    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry_on_timeout=False,
        retry=None,
        health_check_interval=0,
        decode_responses=False,
    )


def _make_redis() -> redis.Redis | None:
    url = settings().redis_url
    return make_redis(url, timeout_s=settings().redis_timeout_s) if url else None


def _make_firebase_app() -> firebase_admin.App:
    import firebase_admin

    try:
        return firebase_admin.get_app()
    except ValueError:
        return firebase_admin.initialize_app(options={"projectId": settings().project_id})


firestore_client: Lazy[firestore.Client] = Lazy(_make_firestore)
redis_client: Lazy[redis.Redis | None] = Lazy(_make_redis)
firebase_app: Lazy[firebase_admin.App] = Lazy(_make_firebase_app)
