"""The backstop of cache invalidation: catalogue writes made outside the API (the console,
scripts). A write through the API already retired its scopes when it committed
(``adapters/writer.py``); both retire what ``cache_scopes.retired_by`` says."""

from __future__ import annotations

from typing import Any

from celeste_functions.cache_scopes import retired_by
from celeste_functions.composition import services
from celeste_functions.logs import get_logger

log = get_logger("triggers.catalog")


class InvalidationLost(RuntimeError):
    """Neither the durable epoch nor Redis took the invalidation (the execution fails loudly)."""


def on_catalog_written(event: Any) -> None:
    """Retire the cache scopes the written document's collection feeds.

    Idempotent in effect: a redelivered event retires the scopes again (one more recompute,
    never a lost invalidation), and since invalidation only retires versions, two events in
    either order leave no entry computed before the later write reachable. The durable epoch
    is incremented first, so even with Redis frozen or dead the old entries stop being served
    within the freshness window once the trigger has run.
    """
    scopes = retired_by([str(event.document)])
    retired = services.get().cache.invalidate(scopes)
    fields = {
        "document": event.document,
        "event_id": event.id,
        "scopes": list(scopes),
        "durable": retired.durable,
        "reached_redis": retired.redis,
    }
    if not retired.reached:
        log.error("catalogue write not invalidated", extra={"fields": fields})
        raise InvalidationLost(f"cache scopes {list(scopes)} not retired for {event.document}")
    log.info("catalogue write invalidated cache", extra={"fields": fields})
