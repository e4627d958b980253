"""A bounded map of recent answers, shared by threads: past its cap, the oldest written is
forgotten first. The one shape of the per-process memories (account states, tiers, tokens)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Remembered(Generic[K, V]):
    """At most ``cap`` entries; writing one makes it the newest."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value last written for ``key``, or ``None``."""
        with self._lock:
            return self._entries.get(key)

    def put(self, key: K, value: V) -> None:
        """Remember ``value`` for ``key`` (the newest entry), forgetting the oldest past the cap."""
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._cap:
                self._entries.popitem(last=False)

    def forget(self, key: K) -> None:
        """Drop ``key`` if remembered."""
        with self._lock:
            self._entries.pop(key, None)
