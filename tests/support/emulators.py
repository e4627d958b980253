"""Helpers over the running emulators and Redis: reset state, poll for trigger effects."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

import requests

T = TypeVar("T")
PROJECT = os.environ.get("GCLOUD_PROJECT", "demo-celeste")


def clear_firestore(database: str = "(default)") -> None:
    """Delete every document of ``database`` in the Firestore emulator."""
    host = os.environ["FIRESTORE_EMULATOR_HOST"]
    url = f"http://{host}/emulator/v1/projects/{PROJECT}/databases/{database}/documents"
    requests.delete(url, timeout=30).raise_for_status()


def eventually(check: Callable[[], T | None], *, timeout_s: float = 20, what: str = "") -> T:
    """Poll ``check()`` until it returns a truthy value (trigger effects are asynchronous)."""
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what or check}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
