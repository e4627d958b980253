"""What the shop sent through the local services: emails caught by MailDev (its REST API,
``/api/email`` since MailDev 3) and pushes received by the fake FCM (``tools/fake_fcm.py``)."""

from __future__ import annotations

import os
from typing import Any

import requests

TIMEOUT_S = 10


def _maildev() -> str:
    return os.environ["CELESTE_MAILDEV_URL"]


def _fcm() -> str:
    return os.environ["CELESTE_FCM_URL"]


def emails(to: str | None = None) -> list[dict[str, Any]]:
    """Every email MailDev holds, in arrival order (only those to ``to`` when given)."""
    response = requests.get(f"{_maildev()}/api/email", timeout=TIMEOUT_S)
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()
    if to is None:
        return found
    return [e for e in found if to in {a.get("address") for a in e.get("to") or []}]


def clear_emails() -> None:
    """Forget every email MailDev holds."""
    requests.delete(f"{_maildev()}/api/email/all", timeout=TIMEOUT_S).raise_for_status()


def pushes(token: str | None = None) -> list[dict[str, Any]]:
    """Every ``messages:send`` body the fake FCM received, in order (only to ``token``)."""
    response = requests.get(f"{_fcm()}/messages", timeout=TIMEOUT_S)
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()["messages"]
    return [m for m in found if token is None or m["message"]["token"] == token]


def clear_pushes() -> None:
    """Forget what the fake FCM received."""
    requests.delete(f"{_fcm()}/messages", timeout=TIMEOUT_S).raise_for_status()
