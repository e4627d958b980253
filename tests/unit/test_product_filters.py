"""The canonical form of a catalogue query: equal for queries that select the same page."""

from __future__ import annotations

import pytest

from celeste.catalog.products import ProductFilters


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"q": "Green tea"}, {"q": "  tea   GREEN "}),
        ({"q": "tea tea"}, {"q": "tea"}),
        ({"min_price": "100"}, {"min_price": 100}),
        ({}, {"sort": "name"}),
    ],
)
def test_equivalent_queries_share_one_form(a: dict[str, object], b: dict[str, object]) -> None:
    assert (
        ProductFilters.model_validate(a).canonical() == ProductFilters.model_validate(b).canonical()
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"q": "tea"}, {"q": "teas"}),
        ({"min_price": 100}, {"min_price": 101}),
        ({"sort": "price"}, {"sort": "-price"}),
    ],
)
def test_different_queries_keep_different_forms(a: dict[str, object], b: dict[str, object]) -> None:
    assert (
        ProductFilters.model_validate(a).canonical() != ProductFilters.model_validate(b).canonical()
    )
