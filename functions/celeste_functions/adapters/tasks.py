"""``TaskQueue`` on Cloud Tasks through ``firebase_admin.functions`` (the Tasks emulator locally).

A task-queue function's queue is named after the function, and queue ids allow only letters,
digits and hyphens: task-queue functions are named without underscores (``functions/main.py``).
The task body is ``{"data": payload}``, the shape ``tasks_fn.on_task_dispatched`` reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from celeste_functions.logs import get_logger

if TYPE_CHECKING:
    import firebase_admin

log = get_logger("tasks")

#: What Cloud Tasks accepts as a task id (letters, digits, hyphens, underscores; ≤ 500).
_TASK_ID = re.compile(r"[^A-Za-z0-9_-]")


def task_id_of(*parts: str) -> str:
    """A task id made of ``parts``: characters Cloud Tasks refuses become ``_``."""
    return _TASK_ID.sub("_", "-".join(parts))[:500]


class CloudTasks:
    """Enqueues into the task queue of a task-queue function of this project."""

    def __init__(self, *, app: Callable[[], firebase_admin.App], emulated: bool) -> None:
        self._app = app
        self._emulated = emulated

    def enqueue(
        self,
        queue: str,
        payload: Mapping[str, Any],
        *,
        task_id: str | None = None,
        delay_seconds: int = 0,
    ) -> None:
        from firebase_admin import exceptions, functions

        options = functions.TaskOptions(
            task_id=task_id_of(task_id) if task_id else None,
            schedule_delay_seconds=max(0, int(delay_seconds)) or None,
        )
        try:
            functions.task_queue(queue, app=self._app()).enqueue({"data": dict(payload)}, options)
        except exceptions.ConflictError:
            # A task of this id exists already (or ran lately): the work is enqueued once.
            log.info("task already enqueued", extra={"queue": queue, "task_id": task_id})
        except ValueError:
            # firebase-admin 7.7 misreads the Tasks emulator's answer to a named task (it
            # strips a leading "/" the emulator does not send) after the task was accepted.
            if not (self._emulated and task_id):
                raise
