"""Unit tests of in-memory paging: every item once, in order, whatever the page size."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from celeste.kernel.errors import ValidationFailed
from celeste.kernel.paging import decode_offset, encode_offset, page_of


@given(items=st.lists(st.integers(), max_size=60), limit=st.integers(min_value=1, max_value=25))
def test_pages_cover_every_item_once_in_order(items: list[int], limit: int) -> None:
    seen: list[int] = []
    cursor = None
    for _ in range(len(items) + 2):
        page = page_of(items, limit=limit, cursor=cursor)
        assert len(page.items) <= limit
        seen += page.items
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == items


@given(offset=st.integers(min_value=0, max_value=1_000_000))
def test_offsets_round_trip(offset: int) -> None:
    assert decode_offset(encode_offset(offset), max_offset=1_000_000) == offset


@pytest.mark.parametrize("cursor", ["junk", "o.", "o.!!", encode_offset(5)[:-2] + "zz", "o.e30"])
def test_a_foreign_cursor_is_a_400_on_cursor(cursor: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        page_of([1, 2, 3], limit=2, cursor=cursor)
    assert [e.field for e in raised.value.errors] == ["cursor"]


def test_a_cursor_past_the_end_is_an_empty_last_page() -> None:
    page = page_of([1, 2], limit=2, cursor=encode_offset(10))
    assert (page.items, page.next_cursor) == ([], None)
