"""Pages of a list held in memory (a small set, or a computed filter): offset cursors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from celeste.kernel.cursors import decode_cursor, encode_cursor, refused
from celeste.kernel.errors import ValidationFailed

T = TypeVar("T")

#: The first value of every offset cursor, so a keyset cursor is never mistaken for one.
OFFSET_TAG = "offset"
#: No in-memory list is longer; a larger offset is not one this code handed out.
MAX_OFFSET = 1_000_000


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list and the opaque cursor of the next page (``None`` at the end)."""

    items: list[T]
    next_cursor: str | None


def encode_offset(offset: int) -> str:
    """The opaque cursor of the page starting at ``offset`` (the one cursor codec's)."""
    return encode_cursor([OFFSET_TAG, offset])


def is_offset(cursor: str) -> bool:
    """Whether ``cursor`` is an offset cursor (not a keyset one)."""
    try:
        return bool(decode_cursor(cursor, arity=2)[0] == OFFSET_TAG)
    except ValidationFailed:
        return False


def decode_offset(cursor: str | None, *, max_offset: int) -> int:
    """The offset ``cursor`` stands for (0 without one); any other text → 400 on ``cursor``."""
    if cursor is None:
        return 0
    tag, offset = decode_cursor(cursor, arity=2)
    if tag != OFFSET_TAG or not isinstance(offset, int) or isinstance(offset, bool):
        raise refused()
    if not 0 <= offset <= max_offset:
        raise refused()
    return offset


def page_of(items: Sequence[T], *, limit: int, cursor: str | None) -> Page[T]:
    """The page of ``items`` (already in list order) that ``cursor`` names, ``limit`` long."""
    start = decode_offset(cursor, max_offset=MAX_OFFSET)
    chunk = list(items[start : start + limit])
    more = start + limit < len(items)
    return Page(chunk, encode_offset(start + limit) if more else None)
