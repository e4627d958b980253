"""Unit tests of the ``pricing`` function over in-memory fakes: quotes (at a store) and the
price-list list contract."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Response

from celeste.catalog.stores import StoreFacts
from celeste.pricing.price_lists import PriceList
from celeste.services.pricing import PriceListService, PricingService
from celeste_functions import clients, composition
from celeste_functions.adapters.cache import Cache
from celeste_functions.composition import Services
from celeste_functions.resources.pricing import router
from tests.fakes import InMemoryCatalogue
from tests.support.handlers import AS_ADMIN, NO_BODY, body_of, error_fields, use_test_tokens
from tests.support.handlers import call as serve


class _Stock:
    """``StockReader`` and ``StoreDirectory`` over dicts."""

    def __init__(self) -> None:
        self.stores: dict[str, bool] = {"lisbon": True, "closed": False}
        self.levels: dict[tuple[str, str], int] = {("lisbon", "pear"): 7, ("lisbon", "fig"): -2}

    def available(self, *, store_id: str, keys: Sequence[str]) -> dict[str, int]:
        return {key: self.levels.get((store_id, key), 0) for key in keys}

    def store_facts(self, store_id: str) -> StoreFacts | None:
        active = self.stores.get(store_id)
        return None if active is None else StoreFacts(active=active, pickup=False, country="PT")


class _PriceLists:
    """``PriceListRepository`` reads over a list."""

    def __init__(self, lists: list[PriceList]) -> None:
        self.lists = lists

    def all(self) -> list[PriceList]:
        return list(self.lists)


def _list(n: int) -> PriceList:
    return PriceList.model_validate(
        {
            "id": f"pl{n:03d}",
            "name": f"List {n}",
            "priority": n % 5 + 1,
            "active": True,
            "valid_from": datetime(2026, 1, 1, tzinfo=UTC),
            "valid_until": None,
            "tiers": [],
            "rules": [{"scope": "all", "kind": "percentage", "value": "5"}],
        }
    )


@pytest.fixture(autouse=True)
def wired(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    catalogue = InMemoryCatalogue()
    for pid, price in (("pear", 120), ("fig", 300), ("kiwi", 80)):
        catalogue.add(pid, price=price)
    stock = _Stock()
    composition.use(
        Services(
            cache=Cache(client=lambda: None, ttl_s=60),
            pricing=PricingService(
                source=catalogue, products=catalogue, tiers=catalogue, stock=stock, stores=stock
            ),
            price_lists=PriceListService(repository=_PriceLists([_list(n) for n in range(45)])),  # type: ignore[arg-type]
        )
    )
    use_test_tokens(monkeypatch)
    yield
    composition.services.reset()
    assert clients.firebase_app._value is clients._UNSET, "a unit test reached Firebase"


def call(method: str, path: str, *, json_body: Any = NO_BODY, **kw: Any) -> Response:
    return serve(router, method, path, json_body=json_body, **kw)


LINES = [{"product_id": p, "quantity": 2} for p in ("pear", "fig", "kiwi")]


def test_a_quote_at_a_store_says_what_each_line_has_available() -> None:
    body = {"lines": LINES, "store_id": "lisbon"}
    response = call("POST", "/quote", json_body=body, headers=AS_ADMIN)
    assert response.status_code == 200, response.get_data(as_text=True)
    quote = body_of(response)
    assert quote["store_id"] == "lisbon"
    assert [(line["product_id"], line["available"]) for line in quote["lines"]] == [
        ("pear", 7),
        ("fig", 0),  # more reserved than on hand reads as none available
        ("kiwi", 0),  # no level at that store
    ]
    assert quote["total"] == 2 * (120 + 300 + 80)
    # Anyone else learns availability only up to the quantity asked for (2), never the stock.
    shopper = body_of(call("POST", "/quote", json_body=body))
    assert [(line["product_id"], line["available"]) for line in shopper["lines"]] == [
        ("pear", 2),
        ("fig", 0),
        ("kiwi", 0),
    ]
    assert shopper["total"] == quote["total"]


def test_a_quote_without_a_store_has_no_availability() -> None:
    quote = body_of(call("POST", "/quote", json_body={"lines": LINES}))
    assert quote["store_id"] is None
    assert {line["available"] for line in quote["lines"]} == {None}


@pytest.mark.parametrize("store_id", ["nowhere", "closed", "bad id", ""])
def test_a_quote_at_a_store_that_takes_no_orders_is_a_400_on_store_id(store_id: str) -> None:
    response = call("POST", "/quote", json_body={"lines": LINES, "store_id": store_id})
    assert error_fields(response) == ["store_id"]


def test_price_lists_page_with_limit_and_cursor() -> None:
    first = body_of(call("GET", "/price-lists", headers=AS_ADMIN))
    assert len(first["items"]) == 20 and first["next_cursor"]
    seen = [p["id"] for p in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = body_of(call("GET", f"/price-lists?limit=10&cursor={cursor}", headers=AS_ADMIN))
        assert len(page["items"]) <= 10
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
    expected = sorted((_list(n) for n in range(45)), key=lambda p: (p.priority, p.id))
    assert seen == [p.id for p in expected]
    assert body_of(call("GET", "/price-lists?limit=100", headers=AS_ADMIN))["next_cursor"] is None
    for bad in ("limit=0", "limit=101", "cursor=zzz", "sort=name"):
        assert error_fields(call("GET", f"/price-lists?{bad}", headers=AS_ADMIN)) == [
            bad.split("=")[0]
        ]
