"""Task ids: what Cloud Tasks accepts (letters, digits, hyphens, underscores; at most 500)."""

from __future__ import annotations

from celeste_functions.adapters.tasks import task_id_of
from tests.fakes import InMemoryTasks


def test_task_id_keeps_allowed_characters_and_replaces_the_rest() -> None:
    assert task_id_of("order-abc_1", "2") == "order-abc_1-2"
    assert task_id_of("stock-s1:v/2", "x y") == "stock-s1_v_2-x_y"


def test_task_id_is_capped_at_500_characters() -> None:
    assert len(task_id_of("a" * 600)) == 500


def test_in_memory_tasks_drop_a_known_task_id() -> None:
    tasks = InMemoryTasks()
    tasks.enqueue("q", {"n": 1}, task_id="t1")
    tasks.enqueue("q", {"n": 2}, task_id="t1")
    tasks.enqueue("q", {"n": 3})
    assert [t.payload["n"] for t in tasks.take("q")] == [1, 3]
    tasks.enqueue("q", {"n": 4}, task_id="t1")
    assert tasks.take("q") == []
