"""The ``inventory`` function (admin): stock levels per store and product, their movement
ledger, adjustments, and the auditor. Stock is live data: nothing here is cached."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from celeste.inventory.records import StockAdjustment, StockPut, StockRecord
from celeste.kernel.ids import DocId
from celeste.kernel.versions import Versioned
from celeste_functions.composition import services
from celeste_functions.http.auth import Caller
from celeste_functions.http.router import Reply, Router
from celeste_functions.resources.common import ListParams, etag

router = Router("inventory")


class InventoryListParams(ListParams):
    """``GET /inventory?store_id=&product_id=&low_stock=``."""

    model_config = ConfigDict(extra="forbid")

    store_id: DocId | None = None
    product_id: DocId | None = None
    low_stock: Literal["true", "false"] | None = None


class _NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


def level_view(record: StockRecord) -> dict[str, Any]:
    """A level as the API shows it, ``available`` and ``low_stock`` included."""
    return {
        **record.model_dump(mode="json"),
        "available": record.available,
        "low_stock": record.low_stock,
    }


def _level_reply(found: Versioned[StockRecord], *, status: int = 200) -> Reply:
    return Reply(level_view(found.value), status=status, headers={"ETag": etag(found.version)})


def _actor(caller: Caller) -> str:
    return f"admin:{caller.uid}"


@router.get("/", query=InventoryListParams, auth="admin")
def list_levels(query: InventoryListParams) -> Reply:
    """Admin: levels across stores, by store then product, filtered."""
    page = services.get().inventory.list(
        store_id=query.store_id,
        product_id=query.product_id,
        low_stock=None if query.low_stock is None else query.low_stock == "true",
        limit=query.limit,
        cursor=query.cursor,
    )
    return Reply({"items": [level_view(r) for r in page.items], "next_cursor": page.next_cursor})


@router.get("/audit", query=_NoParams, auth="admin")
def audit() -> Reply:
    """Admin: recompute every level from its ledger and the open orders; report any drift."""
    report = services.get().auditor.run()
    return Reply({**report.model_dump(mode="json"), "clean": report.clean})


@router.get("/{store_id}/{variant_id}", query=_NoParams, auth="admin")
def get_level(store_id: str, variant_id: str) -> Reply:
    """Admin: one level."""
    return _level_reply(services.get().inventory.get(store_id=store_id, variant_id=variant_id))


@router.put("/{store_id}/{variant_id}", body=StockPut, auth="admin", if_match=True)
def put_level(
    caller: Caller, store_id: str, variant_id: str, body: StockPut, if_match: str | None
) -> Reply:
    """Admin: set ``on_hand`` (and ``low_stock_threshold``); below ``reserved`` → 409.
    Creates the level on first use (201)."""
    found, created = services.get().inventory.put(
        store_id=store_id,
        variant_id=variant_id,
        body=body,
        actor=_actor(caller),
        expected_version=if_match,
    )
    reply = _level_reply(found, status=201 if created else 200)
    if created:
        reply.headers["Location"] = f"inventory/{store_id}/{variant_id}"
    return reply


@router.post("/{store_id}/{variant_id}/adjustments", body=StockAdjustment, status=201, auth="admin")
def adjust_level(caller: Caller, store_id: str, variant_id: str, body: StockAdjustment) -> Reply:
    """Admin: add ``delta`` units (negative removes) with a ``reason`` → 201 with the level and
    the ledger row."""
    adjusted = services.get().inventory.adjust(
        store_id=store_id, variant_id=variant_id, body=body, actor=_actor(caller)
    )
    return Reply(
        {
            "level": level_view(adjusted.level.value),
            "movement": adjusted.movement.model_dump(mode="json"),
        },
        status=201,
        headers={"ETag": etag(adjusted.level.version)},
    )


@router.get("/{store_id}/{variant_id}/movements", query=ListParams, auth="admin")
def list_movements(store_id: str, variant_id: str, query: ListParams) -> Reply:
    """Admin: the level's ledger, newest first."""
    page = services.get().inventory.movements(
        store_id=store_id, variant_id=variant_id, limit=query.limit, cursor=query.cursor
    )
    return Reply(
        {
            "items": [m.model_dump(mode="json") for m in page.items],
            "next_cursor": page.next_cursor,
        }
    )
