"""The ``shipping`` function: shipping methods, kept by admins, offered to shoppers."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from celeste.kernel.addresses import CountryCode
from celeste.kernel.money import Currency
from celeste.pricing.shipping import ShippingMethod, ShippingMethodCreate, ShippingMethodPatch
from celeste_functions.adapters.cache import Bounded
from celeste_functions.composition import services
from celeste_functions.http.router import Reply, RequestContext, Router
from celeste_functions.resources.common import cached_reply, resource_reply

router = Router("shipping")
SCOPE = "shipping"
#: ``currency`` is any three capital letters (17 576 of them, times each country): lists with a
#: currency are at most 100 entries per version of the scope, for a minute each; the rest are
#: computed from the cached set of methods. ``country`` alone is one of the assigned codes.
BY_CURRENCY = Bounded(family="by-currency", cap=100, ttl_s=60)


class MethodListParams(BaseModel):
    """``?country=&currency=``: the active methods that ship there, in that currency."""

    model_config = ConfigDict(extra="forbid")

    country: CountryCode | None = None
    currency: Currency | None = None


class _NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _items(methods: list[ShippingMethod]) -> dict[str, object]:
    return {"items": [m.model_dump(mode="json") for m in methods], "next_cursor": None}


@router.get("/methods", query=MethodListParams)
def list_methods(ctx: RequestContext, query: MethodListParams) -> Reply:
    """Public: the active methods serving ``country`` (and ``currency``), cheapest first; an
    admin without filters sees every method, inactive ones too (one page: the set is small)."""
    shipping = services.get().shipping
    if ctx.is_admin and query.country is None and query.currency is None:
        return Reply(_items(shipping.all()), headers={"X-Cache": "miss"})

    def compute() -> Reply:
        return Reply(_items(shipping.serving(country=query.country, currency=query.currency)))

    key = f"list:{query.country or '*'}:{query.currency or '*'}"
    bounded = None if query.currency is None else BY_CURRENCY
    return cached_reply(scope=SCOPE, key=key, compute=compute, bounded=bounded)


@router.post(
    "/methods", body=ShippingMethodCreate, response=ShippingMethod, status=201, auth="admin"
)
def create_method(body: ShippingMethodCreate) -> Reply:
    """Admin: add a method → 201 with ``Location``; its ``code`` is its id."""
    created = services.get().shipping.create(body)
    return resource_reply(created, status=201, location=f"shipping/methods/{created.value.code}")


@router.get("/methods/{code}", query=_NoParams, response=ShippingMethod, auth="admin")
def get_method(code: str) -> Reply:
    """Admin: one method."""
    return resource_reply(services.get().shipping.get(code))


@router.patch(
    "/methods/{code}",
    body=ShippingMethodPatch,
    response=ShippingMethod,
    auth="admin",
    if_match=True,
)
def update_method(code: str, body: ShippingMethodPatch, if_match: str | None) -> Reply:
    """Admin: change the fields sent (``If-Match`` honoured)."""
    updated = services.get().shipping.update(code, body, expected_version=if_match)
    return resource_reply(updated)


@router.delete("/methods/{code}", status=204, auth="admin", if_match=True)
def delete_method(code: str, if_match: str | None) -> Reply:
    """Admin: remove a method (orders that chose it keep their copy)."""
    services.get().shipping.delete(code, expected_version=if_match)
    return Reply(status=204)
