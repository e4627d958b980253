"""The one cursor codec: an opaque, URL-safe token holding a list's last order-by values."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from celeste.kernel.errors import ValidationFailed


def encode_cursor(values: list[Any]) -> str:
    """An opaque cursor for the last item of a page: its order-by values (datetimes kept)."""
    plain = [{"t": v.isoformat()} if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, arity: int) -> list[Any]:
    """The ``arity`` values of a cursor from :func:`encode_cursor`, or 400 on anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != arity:
            raise ValueError(cursor)
        return [
            datetime.fromisoformat(v["t"]) if isinstance(v, dict) and set(v) == {"t"} else v
            for v in values
        ]
    except (ValueError, TypeError, UnicodeDecodeError):
        raise refused() from None


def refused() -> ValidationFailed:
    """The 400 for a cursor this list did not return."""
    return ValidationFailed.on("cursor", "not a cursor this list returned")
