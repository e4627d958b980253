"""The ``pricing`` function: price lists, tax rates and discount codes (admin), quotes (anyone)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from celeste.kernel.addresses import CountryCode
from celeste.kernel.errors import ValidationFailed
from celeste.kernel.ids import DocId
from celeste.kernel.paging import page_of
from celeste.pricing.discount_codes import DiscountCode, DiscountCodeCreate, DiscountCodePatch
from celeste.pricing.price_lists import MAX_QUANTITY, PriceList, PriceListBody, PriceListPatch
from celeste.pricing.quotes import Quote
from celeste.pricing.tax import TaxRate, TaxRateBody
from celeste.services.pricing import QuoteLine
from celeste_functions.composition import services
from celeste_functions.http.router import Reply, RequestContext, Router
from celeste_functions.resources.common import (
    ListParams,
    page_body,
    resource_reply,
)

router = Router("pricing")
_COUNTRY: TypeAdapter[str] = TypeAdapter(CountryCode)


class QuoteLineRequest(BaseModel):
    """One line of a quote request: ``variant_id`` may be left out for a product with one
    variant (400 naming it otherwise)."""

    model_config = ConfigDict(extra="forbid")

    product_id: DocId
    variant_id: DocId | None = None
    quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY, strict=True)]


class QuoteRequest(BaseModel):
    """Body of ``POST /pricing/quote``."""

    model_config = ConfigDict(extra="forbid")

    lines: Annotated[list[QuoteLineRequest], Field(min_length=1, max_length=100)]
    store_id: DocId | None = None


def quote_view(quote: Quote) -> dict[str, Any]:
    """A quote as the API shows it (decimals as strings, money as integers)."""
    return quote.model_dump(mode="json")


@router.get("/price-lists", query=ListParams, auth="admin")
def list_price_lists(query: ListParams) -> Reply:
    """Admin: the price lists by priority then id, a page at a time (``limit``, ``cursor``)."""
    lists = services.get().price_lists.list()
    return Reply(page_body(page_of(lists, limit=query.limit, cursor=query.cursor)))


@router.post("/price-lists", body=PriceListBody, response=PriceList, status=201, auth="admin")
def create_price_list(body: PriceListBody) -> Reply:
    """Admin: add a price list → 201 with ``Location``."""
    created = services.get().price_lists.create(body)
    return resource_reply(created, status=201, location=f"pricing/price-lists/{created.value.id}")


@router.get("/price-lists/{price_list_id}", response=PriceList, auth="admin")
def get_price_list(price_list_id: str) -> Reply:
    """Admin: one price list."""
    return resource_reply(services.get().price_lists.get(price_list_id))


@router.patch(
    "/price-lists/{price_list_id}",
    body=PriceListPatch,
    response=PriceList,
    auth="admin",
    if_match=True,
)
def update_price_list(price_list_id: str, body: PriceListPatch, if_match: str | None) -> Reply:
    """Admin: change the fields sent; the whole list is validated again."""
    updated = services.get().price_lists.update(price_list_id, body, expected_version=if_match)
    return resource_reply(updated)


@router.delete("/price-lists/{price_list_id}", status=204, auth="admin", if_match=True)
def delete_price_list(price_list_id: str, if_match: str | None) -> Reply:
    """Admin: remove a price list."""
    services.get().price_lists.delete(price_list_id, expected_version=if_match)
    return Reply(status=204)


@router.post("/quote", body=QuoteRequest, response=Quote, limit="quote")
def create_quote(ctx: RequestContext, body: QuoteRequest) -> Reply:
    """Anyone (rate limited per caller and per address): price lines for the caller's tier,
    with a trace per line; with ``store_id``, each line's ``available`` units at that store.
    Admins see the whole trace and the exact stock; anyone else only the lists open to their
    tier now, and ``available`` up to the quantity asked for (``Quote.for_shopper``)."""
    caller = ctx.caller
    lines = [QuoteLine(line.product_id, line.quantity, line.variant_id) for line in body.lines]
    quote = services.get().pricing.quote(
        lines, uid=caller.uid if caller else None, store_id=body.store_id
    )
    return Reply(quote_view(quote if ctx.is_admin else quote.for_shopper()))


# --- tax rates ------------------------------------------------------------------------------


def _country(value: str) -> str:
    """The ``{country}`` path segment as an assigned ISO 3166-1 alpha-2 code (400 otherwise)."""
    try:
        return _COUNTRY.validate_python(value)
    except ValidationError:
        raise ValidationFailed.on(
            "country", "not an assigned ISO 3166-1 alpha-2 country code"
        ) from None


#: The ``{country}`` path parameter, checked before the body is read.
_COUNTRY_PATH = {"country": _country}


@router.get("/tax-rates/{country}", response=TaxRate, auth="admin", converters=_COUNTRY_PATH)
def get_tax_rate(country: str) -> Reply:
    """Admin: a country's rate (404 when it has none: it is taxed 0)."""
    return resource_reply(services.get().tax_rates.get(country))


@router.put(
    "/tax-rates/{country}",
    body=TaxRateBody,
    response=TaxRate,
    auth="admin",
    if_match=True,
    converters=_COUNTRY_PATH,
)
def put_tax_rate(country: str, body: TaxRateBody, if_match: str | None) -> Reply:
    """Admin: set a country's rate in basis points (``If-Match`` honoured); 201 when new."""
    stored, created = services.get().tax_rates.put(country, body, expected_version=if_match)
    if created:
        return resource_reply(stored, status=201, location=f"pricing/tax-rates/{country}")
    return resource_reply(stored)


@router.delete(
    "/tax-rates/{country}", status=204, auth="admin", if_match=True, converters=_COUNTRY_PATH
)
def delete_tax_rate(country: str, if_match: str | None) -> Reply:
    """Admin: remove a country's rate (its orders are then taxed 0)."""
    services.get().tax_rates.delete(country, expected_version=if_match)
    return Reply(status=204)


# --- discount codes -------------------------------------------------------------------------


@router.get("/codes", query=ListParams, auth="admin")
def list_codes(query: ListParams) -> Reply:
    """Admin: codes by code, each with ``times_used``."""
    return Reply(
        page_body(services.get().discount_codes.page(limit=query.limit, cursor=query.cursor))
    )


@router.post("/codes", body=DiscountCodeCreate, response=DiscountCode, status=201, auth="admin")
def create_code(body: DiscountCodeCreate) -> Reply:
    """Admin: add a code (stored upper case) → 201 with ``Location``; 409 when it exists."""
    created = services.get().discount_codes.create(body)
    return resource_reply(created, status=201, location=f"pricing/codes/{created.value.code}")


@router.get("/codes/{code}", response=DiscountCode, auth="admin")
def get_code(code: str) -> Reply:
    """Admin: one code (any case), with ``times_used``."""
    return resource_reply(services.get().discount_codes.get(code))


@router.patch(
    "/codes/{code}", body=DiscountCodePatch, response=DiscountCode, auth="admin", if_match=True
)
def update_code(code: str, body: DiscountCodePatch, if_match: str | None) -> Reply:
    """Admin: change the fields sent; ``times_used`` is counted by orders, never set."""
    updated = services.get().discount_codes.update(code, body, expected_version=if_match)
    return resource_reply(updated)


@router.delete("/codes/{code}", status=204, auth="admin", if_match=True)
def delete_code(code: str, if_match: str | None) -> Reply:
    """Admin: remove a code (orders that used it keep their frozen discount)."""
    services.get().discount_codes.delete(code, expected_version=if_match)
    return Reply(status=204)
