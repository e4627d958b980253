"""Unit tests of the catalogue's computed filters: a result cut short says so."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from celeste.catalog.products import Product, ProductFilters
from celeste.services.pricing import PricingService
from celeste.services.products import SCAN_LIMIT, ProductService
from tests.fakes import InMemoryCatalogue


class _ScanOnly:
    """The reads the catalogue's scan path makes, over ``InMemoryCatalogue``."""

    def __init__(self, catalogue: InMemoryCatalogue) -> None:
        self.catalogue = catalogue

    def scan(
        self, *, category_ids: Sequence[str] | None, active_only: bool, limit: int
    ) -> list[Product]:
        found = sorted(self.catalogue.products.values(), key=lambda p: (p.name_key, p.id))
        return [p for p in found if p.active or not active_only][:limit]

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the scan path should not call {name}")


def _service(count: int) -> ProductService:
    catalogue = InMemoryCatalogue()
    for n in range(count):
        catalogue.add(f"p{n:05d}", price=100 + n)
    pricing = PricingService(source=catalogue, products=catalogue, tiers=catalogue)  # type: ignore[arg-type]
    return ProductService(
        repository=_ScanOnly(catalogue),  # type: ignore[arg-type]
        categories=None,  # type: ignore[arg-type]
        pricing=pricing,
        stock=None,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("count", "incomplete"), [(0, False), (SCAN_LIMIT, False), (SCAN_LIMIT + 1, True)]
)
@pytest.mark.parametrize("filters", [{"q": "p"}, {"min_price": 1}, {"sort": "price"}])
def test_a_scan_that_stops_at_the_limit_is_flagged(
    count: int, incomplete: bool, filters: dict[str, Any]
) -> None:
    result = _service(count).catalogue(
        ProductFilters.model_validate(filters),
        tier="BRONZE",
        include_inactive=False,
        limit=100,
        cursor=None,
    )
    assert result.incomplete is incomplete
    assert len(result.page.items) == min(count, 100)
