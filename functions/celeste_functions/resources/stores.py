"""The ``stores`` function: the public store list and near search, kept by admins."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from celeste.catalog.stores import (
    DEFAULT_RADIUS_KM,
    MAX_RADIUS_KM,
    GeoPoint,
    Store,
    StoreCreate,
    StorePatch,
)
from celeste.kernel.errors import ValidationFailed
from celeste_functions.adapters.cache import Bounded
from celeste_functions.cache_scopes import STORES
from celeste_functions.composition import services
from celeste_functions.http.router import Reply, RequestContext, Router
from celeste_functions.resources.common import (
    ListParams,
    cached_reply,
    page_body,
    page_family,
    resource_reply,
)

router = Router("stores")
#: Near searches cached per version of the stores scope: at most 200, for a minute each.
NEAR = Bounded(family="near", cap=200, ttl_s=60)

_NUMBER = r"[+-]?\d{1,3}(?:\.\d{1,15})?"
_NEAR = re.compile(rf"^\s*({_NUMBER})\s*,\s*({_NUMBER})\s*$")
_NEAR_FORMAT = "give near as 'lat,lng' in decimal degrees, e.g. near=38.7223,-9.1393"


def _point(value: object) -> GeoPoint:
    """``near=lat,lng`` as a point; every flaw is reported on the ``near`` parameter itself."""
    match = _NEAR.match(value) if isinstance(value, str) and len(value) <= 64 else None
    if match is None:
        raise PydanticCustomError("near", _NEAR_FORMAT)
    try:
        return GeoPoint(lat=float(match[1]), lng=float(match[2]))
    except ValidationError:
        raise PydanticCustomError(
            "near", "latitude must be within [-90, 90] and longitude within [-180, 180]"
        ) from None


class StoreListParams(ListParams):
    """``?near=lat,lng&radius_km=`` for a near search (nearest first), else the list by name."""

    model_config = ConfigDict(extra="forbid")

    near: (
        Annotated[
            GeoPoint,
            BeforeValidator(_point),
            # In the query string it is text; the OpenAPI document describes that, not the point.
            WithJsonSchema(
                {
                    "type": "string",
                    "pattern": rf"^\s*{_NUMBER}\s*,\s*{_NUMBER}\s*$",
                    "description": _NEAR_FORMAT,
                    "examples": ["38.7223,-9.1393"],
                },
                mode="validation",
            ),
        ]
        | None
    ) = None
    radius_km: Annotated[float, Field(gt=0, le=MAX_RADIUS_KM, allow_inf_nan=False)] | None = None


class _NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@router.get("/", query=StoreListParams)
def list_stores(ctx: RequestContext, query: StoreListParams) -> Reply:
    """Public: stores by name, or with ``near`` the stores within ``radius_km`` (default 50)
    nearest first, each with ``distance_km``; admins also see inactive stores."""
    admin = ctx.is_admin
    if query.near is None:
        if query.radius_km is not None:
            raise ValidationFailed.on("radius_km", "radius_km needs near=lat,lng")

        def compute() -> Reply:
            page = services.get().stores.list(
                include_inactive=admin, limit=query.limit, cursor=query.cursor
            )
            return Reply(page_body(page))

        key = f"list:{'admin' if admin else 'public'}:{query.model_dump_json()}"
        return cached_reply(scope=STORES, key=key, compute=compute, bounded=page_family(query))
    origin, radius = query.near, query.radius_km
    radius = radius if radius is not None else DEFAULT_RADIUS_KM

    def nearby() -> Reply:
        found = services.get().stores.near(
            origin=origin,
            radius_km=radius,
            include_inactive=admin,
            limit=query.limit,
            cursor=query.cursor,
        )
        return Reply(page_body(found))

    # Coordinates vary without bound: a capped family of entries (the set of stores itself is
    # one cache entry below, so a near search that is not cached still reads no Firestore).
    key = (
        f"near:{'admin' if admin else 'public'}:{origin.lat!r},{origin.lng!r}:{radius!r}:"
        f"{query.limit}:{query.cursor}"
    )
    return cached_reply(scope=STORES, key=key, compute=nearby, bounded=NEAR)


@router.get("/{store_id}", query=_NoParams, response=Store)
def get_store(ctx: RequestContext, store_id: str) -> Reply:
    """Public: one store (an inactive one only for admins)."""
    admin = ctx.is_admin

    def compute() -> Reply:
        return resource_reply(services.get().stores.get(store_id, include_inactive=admin))

    key = f"one:{'admin' if admin else 'public'}:{store_id}"
    return cached_reply(scope=STORES, key=key, compute=compute)


@router.post("/", body=StoreCreate, response=Store, status=201, auth="admin")
def create_store(body: StoreCreate) -> Reply:
    """Admin: add a store → 201 with ``Location``."""
    created = services.get().stores.create(body)
    return resource_reply(created, status=201, location=f"stores/{created.value.id}")


@router.patch("/{store_id}", body=StorePatch, response=Store, auth="admin", if_match=True)
def update_store(store_id: str, body: StorePatch, if_match: str | None) -> Reply:
    """Admin: change the fields sent (``If-Match`` honoured)."""
    updated = services.get().stores.update(store_id, body, expected_version=if_match)
    return resource_reply(updated)


@router.delete("/{store_id}", status=204, auth="admin", if_match=True)
def delete_store(store_id: str, if_match: str | None) -> Reply:
    """Admin: delete a store (``If-Match`` honoured)."""
    services.get().stores.delete(store_id, expected_version=if_match)
    return Reply(status=204)
