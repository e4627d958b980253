"""The ``pricing`` function: price lists (admin) and quotes (anyone)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from celeste.ids import DocId
from celeste.paging import page_of
from celeste.pricing import MAX_QUANTITY, PriceList, PriceListBody, PriceListPatch, Quote
from celeste.services.pricing import QuoteLine
from celeste_functions.composition import services
from celeste_functions.http.router import Reply, RequestContext, Router
from celeste_functions.resources.common import (
    ListParams,
    catalogue_written,
    page_body,
    resource_reply,
)

router = Router("pricing")


class QuoteLineRequest(BaseModel):
    """One line of a quote request."""

    model_config = ConfigDict(extra="forbid")

    product_id: DocId
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
def list_price_lists(ctx: RequestContext) -> Reply:
    """Admin: the price lists by priority then id, a page at a time (``limit``, ``cursor``)."""
    ctx.require_admin()
    params = ctx.query(ListParams)
    lists = services.get().price_lists.list()
    return Reply(page_body(page_of(lists, limit=params.limit, cursor=params.cursor)))


@router.post("/price-lists", body=PriceListBody, response=PriceList, status=201, auth="admin")
def create_price_list(ctx: RequestContext) -> Reply:
    """Admin: add a price list → 201 with ``Location``."""
    ctx.require_admin()
    created = services.get().price_lists.create(ctx.body(PriceListBody))
    catalogue_written("price_lists")
    return resource_reply(created, status=201, location=f"pricing/price-lists/{created.value.id}")


@router.get("/price-lists/{price_list_id}", response=PriceList, auth="admin")
def get_price_list(ctx: RequestContext, price_list_id: str) -> Reply:
    """Admin: one price list."""
    ctx.require_admin()
    return resource_reply(services.get().price_lists.get(price_list_id))


@router.patch("/price-lists/{price_list_id}", body=PriceListPatch, response=PriceList, auth="admin")
def update_price_list(ctx: RequestContext, price_list_id: str) -> Reply:
    """Admin: change the fields sent; the whole list is validated again."""
    ctx.require_admin()
    patch = ctx.body(PriceListPatch)
    updated = services.get().price_lists.update(price_list_id, patch, expected_version=ctx.if_match)
    catalogue_written("price_lists")
    return resource_reply(updated)


@router.delete("/price-lists/{price_list_id}", status=204, auth="admin")
def delete_price_list(ctx: RequestContext, price_list_id: str) -> Reply:
    """Admin: remove a price list."""
    ctx.require_admin()
    services.get().price_lists.delete(price_list_id, expected_version=ctx.if_match)
    catalogue_written("price_lists")
    return Reply(status=204)


@router.post("/quote", body=QuoteRequest, response=Quote)
def create_quote(ctx: RequestContext) -> Reply:
    """Anyone: price lines for the caller's tier, with a trace per line; with ``store_id``, each
    line's ``available`` units at that store."""
    request = ctx.body(QuoteRequest)
    caller = ctx.caller
    lines = [QuoteLine(line.product_id, line.quantity) for line in request.lines]
    quote = services.get().pricing.quote(
        lines, uid=caller.uid if caller else None, store_id=request.store_id
    )
    return Reply(quote_view(quote))
