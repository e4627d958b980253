"""Ports of background work: tasks run later, each by a task-queue function (``docs/events.md``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class TaskQueue(Protocol):
    """Runs ``payload`` in the task-queue function ``queue``, once it is due.

    A ``task_id`` names the task: a second enqueue of the same id while the first is known is
    dropped (the queue deduplicates), so a redelivered trigger or a retried step may enqueue
    again safely. The task function must still be idempotent: a queue delivers at least once.
    """

    def enqueue(
        self,
        queue: str,
        payload: Mapping[str, Any],
        *,
        task_id: str | None = None,
        delay_seconds: int = 0,
    ) -> None:
        """Enqueue the task; ``delay_seconds`` from now (0: as soon as possible)."""
        ...
