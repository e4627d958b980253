"""The ``events`` function (admin): the outbox, the log of what changed, newest first
(``docs/events.md``). Events are live data: nothing here is cached."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

from celeste.kernel.ids import DocId
from celeste_functions.composition import services
from celeste_functions.http.router import Reply, Router
from celeste_functions.resources.common import ListParams, page_body

router = Router("events")

#: ``order.paid``: the aggregate's kind, a dot, what happened.
EventType = Annotated[str, Field(pattern=r"^[a-z][a-z_]*\.[a-z][a-z_]*$", max_length=64)]


class EventListParams(ListParams):
    """``GET /events?type=&aggregate_id=&limit=&cursor=``."""

    model_config = ConfigDict(extra="forbid")

    type: EventType | None = None
    aggregate_id: DocId | None = None


@router.get("/", query=EventListParams, auth="admin")
def list_events(query: EventListParams) -> Reply:
    """Admin: the events, newest first (``occurred_at``, then id), of one ``type`` and/or of
    one aggregate (``aggregate_id``: an order's id)."""
    page = services.get().events.page(
        event_type=query.type,
        aggregate_id=query.aggregate_id,
        limit=query.limit,
        cursor=query.cursor,
    )
    return Reply(page_body(page))
