"""The bounded map behind the per-process memories (account states, tiers, verified tokens)."""

from __future__ import annotations

import threading

from celeste_functions.remembered import Remembered


def test_the_oldest_written_is_forgotten_past_the_cap() -> None:
    memory: Remembered[str, int] = Remembered(2)
    memory.put("a", 1)
    memory.put("b", 2)
    memory.put("a", 3)  # written again: now the newest
    memory.put("c", 4)
    assert (memory.get("a"), memory.get("b"), memory.get("c")) == (3, None, 4)


def test_forget_drops_one_key_and_ignores_unknown_ones() -> None:
    memory: Remembered[str, int] = Remembered(5)
    memory.put("a", 1)
    memory.forget("a")
    memory.forget("never")
    assert memory.get("a") is None


def test_threads_writing_at_once_never_pass_the_cap() -> None:
    memory: Remembered[int, int] = Remembered(50)

    def write(start: int) -> None:
        for i in range(start, start + 1000):
            memory.put(i, i)

    threads = [threading.Thread(target=write, args=(n * 1000,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(memory.get(i) is not None for i in range(8000)) == 50
