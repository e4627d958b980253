"""The ``products`` function: the priced catalogue (public) and its upkeep (admin)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from celeste.catalog.products import Product, ProductCreate, ProductFilters, ProductPatch
from celeste.catalog.variants import VariantCreate, VariantPatch, ordered_options
from celeste.kernel.ids import DocId
from celeste.pricing.price_lists import MAX_QUANTITY
from celeste.pricing.quotes import PricedLine, shown_to_shopper
from celeste.services.products import SCAN_LIMIT, CatalogueItem
from celeste_functions.adapters.cache import Bounded
from celeste_functions.cache_scopes import PRODUCTS
from celeste_functions.composition import services
from celeste_functions.http.router import Reply, RequestContext, Router
from celeste_functions.resources.common import (
    ListParams,
    cached_reply,
    etag,
    page_family,
    resource_reply,
)

router = Router("products")
#: Text, price and sort queries vary without bound: at most 100 of them are cached per version
#: of the catalogue (about 1 MB at 20 items), for a minute each; the rest are computed.
FILTERED = Bounded(family="filtered", cap=100, ttl_s=60)
#: A product priced at a ``quantity`` other than 1 (1..10 000 of each): at most 500 such entries
#: per version of the catalogue, for a minute each (about 1 MB); the rest are computed.
QUANTITIES = Bounded(family="quantities", cap=500, ttl_s=60)


class ProductListParams(ListParams, ProductFilters):
    """``GET /products`` query: filters, sort and paging (frozen: shared by every request with
    the same query string, see ``http.reading.read_query``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@lru_cache(maxsize=512)
def _list_key(params: ProductListParams) -> str:
    """The canonical form of a list query, as the cache key names it (filters, limit, cursor)."""
    return json.dumps(params.canonical(), sort_keys=True)


class ProductPage(BaseModel):
    """``GET /products``: a page of priced products."""

    items: list[dict[str, Any]] = Field(
        description=(
            "Products, each with `pricing` for the caller (and `available` with store_id: for "
            "anyone but an admin 1 when in stock there, else 0)."
        )
    )
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )
    incomplete: bool = Field(
        description=(
            "True when a text (`q`), price (`min_price`/`max_price`, `sort=price`) or stock "
            f"(`in_stock`) filter stopped after the first {SCAN_LIMIT} products of the category "
            "scope: matches beyond them are missing. Narrow the filter (e.g. add `category_id`)."
        )
    )


class ProductParams(BaseModel):
    """``GET /products/{id}`` query: the quantity to price and an optional store for stock."""

    model_config = ConfigDict(extra="forbid")

    quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY)] = 1
    store_id: DocId | None = None


def pricing_view(line: PricedLine) -> dict[str, Any]:
    """The ``pricing`` object of the API for one priced line."""
    return {
        "base_price": line.unit_base_price,
        "final_price": line.unit_final_price,
        "currency": line.currency,
        "discount": line.unit_base_price - line.unit_final_price,
        "tier": line.tier,
        "applied_rule": line.applied_rule.model_dump(mode="json") if line.applied_rule else None,
        "quantity": line.quantity,
        "line_total": line.line_total,
    }


def _shown(available: int | None, asked: int | None) -> int | None:
    if available is None or asked is None:
        return available
    return shown_to_shopper(available, asked)


def item_view(item: CatalogueItem, *, asked: int | None = None) -> dict[str, Any]:
    """A product as the catalogue shows it: each variant with the caller's ``pricing`` (and,
    with a store, ``available``), the product's ``price_range`` over the variants on sale and
    its cheapest one's ``pricing``. With ``asked`` (anyone but an admin), ``available`` says at
    most that many units (``shown_to_shopper``), never the exact stock beyond it."""
    product = item.product
    body = product.model_dump(mode="json")
    body["pricing"] = pricing_view(item.pricing)
    low, high = item.price_range
    body["price_range"] = {"min": low, "max": high, "currency": product.currency}
    variants = []
    for entry in item.variants:
        view = entry.variant.model_dump(mode="json")
        view["options"] = ordered_options(product.options, entry.variant.options)
        view["pricing"] = pricing_view(entry.pricing)
        if entry.available is not None:
            view["available"] = _shown(entry.available, asked)
        variants.append(view)
    body["variants"] = variants
    if item.available is not None:
        body["available"] = _shown(item.available, asked)
    return body


def _tier(ctx: RequestContext) -> str | None:
    """The tier the caller holds; ``None`` (anonymous, or no tier on the profile) prices at the
    default tier, which the cached entry then names without reading the pricing snapshot."""
    caller = ctx.caller
    return services.get().pricing.held_tier(caller.uid if caller else None)


@router.get("/", query=ProductListParams, response=ProductPage, handler_limits=("catalogue-scan",))
def list_products(ctx: RequestContext, query: ProductListParams) -> Reply:
    """Public: the catalogue priced for the caller's tier (anonymous: the default tier)."""
    admin, tier = ctx.is_admin, _tier(ctx)
    filters: ProductFilters = query  # the filters, with the page's limit and cursor beside them

    def compute() -> Reply:
        if filters.needs_scan:  # only an uncached scan is expensive enough to limit
            ctx.rate_limit("catalogue-scan")
        result = services.get().products.catalogue(
            filters, tier=tier, include_inactive=admin, limit=query.limit, cursor=query.cursor
        )
        body = {
            "items": [item_view(i, asked=None if admin else 1) for i in result.page.items],
            "next_cursor": result.page.next_cursor,
            "incomplete": result.incomplete,
        }
        return Reply(body, fresh_for_s=result.fresh_for_s)

    key = f"list:{tier or '-'}:{'admin' if admin else 'public'}:{_list_key(query)}"
    return cached_reply(
        scope=PRODUCTS,
        key=key,
        compute=compute,
        enabled=query.store_id is None,
        bounded=FILTERED if filters.needs_scan else page_family(query),
    )


@router.get("/{product_id}", query=ProductParams, response=Product)
def get_product(ctx: RequestContext, product_id: str, query: ProductParams) -> Reply:
    """Public: one product priced for the caller at ``quantity``."""
    admin, tier = ctx.is_admin, _tier(ctx)

    def compute() -> Reply:
        found, item, fresh_for = services.get().products.item(
            product_id,
            tier=tier,
            include_inactive=admin,
            quantity=query.quantity,
            store_id=query.store_id,
        )
        view = item_view(item, asked=None if admin else query.quantity)
        return Reply(view, headers={"ETag": etag(found.version)}, fresh_for_s=fresh_for)

    key = f"one:{tier or '-'}:{'admin' if admin else 'public'}:{product_id}:{query.quantity}"
    return cached_reply(
        scope=PRODUCTS,
        key=key,
        compute=compute,
        enabled=query.store_id is None,
        bounded=None if query.quantity == 1 else QUANTITIES,
    )


@router.post("/", body=ProductCreate, response=Product, status=201, auth="admin")
def create_product(body: ProductCreate) -> Reply:
    """Admin: add a product → 201 with ``Location``."""
    created = services.get().products.create(body)
    return resource_reply(created, status=201, location=f"products/{created.value.id}")


@router.patch("/{product_id}", body=ProductPatch, response=Product, auth="admin", if_match=True)
def update_product(product_id: str, body: ProductPatch, if_match: str | None) -> Reply:
    """Admin: change the fields sent (``If-Match`` honoured)."""
    updated = services.get().products.update(product_id, body, expected_version=if_match)
    return resource_reply(updated)


@router.post(
    "/{product_id}/variants",
    body=VariantCreate,
    response=Product,
    status=201,
    auth="admin",
    if_match=True,
)
def add_variant(product_id: str, body: VariantCreate, if_match: str | None) -> Reply:
    """Admin: add a variant to a product with options → 201, the product with it (its
    ``ETag``), ``Location`` naming the variant. Its option values must be new (400) and its SKU
    free shop-wide (409)."""
    written, variant = services.get().products.add_variant(
        product_id, body, expected_version=if_match
    )
    return resource_reply(
        written, status=201, location=f"products/{product_id}/variants/{variant.id}"
    )


@router.patch(
    "/{product_id}/variants/{variant_id}",
    body=VariantPatch,
    response=Product,
    auth="admin",
    if_match=True,
)
def update_variant(
    product_id: str, variant_id: str, body: VariantPatch, if_match: str | None
) -> Reply:
    """Admin: change a variant's fields sent (``If-Match``: the product's version) → the
    product."""
    written, _ = services.get().products.update_variant(
        product_id, variant_id, body, expected_version=if_match
    )
    return resource_reply(written)


@router.delete("/{product_id}/variants/{variant_id}", status=204, auth="admin", if_match=True)
def delete_variant(product_id: str, variant_id: str, if_match: str | None) -> Reply:
    """Admin: remove a variant → 204; 409 while a store holds or reserves stock of it, an open
    order has it, or it is the product's last (deactivate it instead)."""
    services.get().products.delete_variant(product_id, variant_id, expected_version=if_match)
    return Reply(status=204)


@router.delete("/{product_id}", status=204, auth="admin", if_match=True)
def delete_product(product_id: str, if_match: str | None) -> Reply:
    """Admin: soft delete (``active=false``); orders keep referring to the product."""
    services.get().products.deactivate(product_id, expected_version=if_match)
    return Reply(status=204)
