"""Cache invalidation after catalogue writes, from any writer (API, console, scripts)."""

from __future__ import annotations

from typing import Any

from celeste_functions.catalog import scopes_for
from celeste_functions.composition import services
from celeste_functions.logs import get_logger

log = get_logger("triggers.catalog")


def on_catalog_written(event: Any) -> None:
    """Retire the cache scopes the written document's collection feeds.

    Idempotent: a redelivered event (same ``event.id``) does nothing the second time, and since
    invalidation only retires versions, two events in either order leave the same state: no entry
    computed before the later write is reachable.
    """
    collection = str(event.document).split("/", 1)[0]
    scopes = scopes_for(collection)
    reached = services.get().cache.invalidate(scopes, event_id=str(event.id))
    log.info(
        "catalogue write invalidated cache",
        extra={
            "fields": {
                "document": event.document,
                "event_id": event.id,
                "scopes": list(scopes),
                "reached_redis": reached,
            }
        },
    )
