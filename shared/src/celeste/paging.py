"""Pages of a list held in memory (a small set, or a computed filter): offset cursors."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import TypeVar

from celeste.errors import ValidationFailed
from celeste.ports import Page

T = TypeVar("T")

#: Every offset cursor starts with this, so a keyset cursor is never mistaken for one.
OFFSET_PREFIX = "o."
#: No in-memory list is longer; a larger offset is not one this code handed out.
MAX_OFFSET = 1_000_000


def encode_offset(offset: int) -> str:
    """The opaque cursor of the page starting at ``offset``."""
    raw = json.dumps({"offset": offset}).encode()
    return OFFSET_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_offset(cursor: str | None, *, max_offset: int) -> int:
    """The offset ``cursor`` stands for (0 without one); any other text → 400 on ``cursor``."""
    if cursor is None:
        return 0
    try:
        if not cursor.startswith(OFFSET_PREFIX):
            raise ValueError(cursor)
        body = cursor[len(OFFSET_PREFIX) :]
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        offset = int(data["offset"])
        if not 0 <= offset <= max_offset:
            raise ValueError(offset)
        return offset
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise ValidationFailed.on("cursor", "not a cursor this list returned") from None


def page_of(items: Sequence[T], *, limit: int, cursor: str | None) -> Page[T]:
    """The page of ``items`` (already in list order) that ``cursor`` names, ``limit`` long."""
    start = decode_offset(cursor, max_offset=MAX_OFFSET)
    chunk = list(items[start : start + limit])
    more = start + limit < len(items)
    return Page(chunk, encode_offset(start + limit) if more else None)
