"""The event a price list's writes tell (``price_list.changed``; ``docs/events.md``).

A list's ``revision`` is its own version in event terms: the create writes 1, every update one
more, and its delete tells revision + 1 as its last event; the write of revision n creates
``price_list-{id}-{n}`` in the same commit (the price list repository takes it).
"""

from __future__ import annotations

from datetime import datetime

from celeste.kernel.events import Aggregate, Event, event_id
from celeste.pricing.price_lists import PriceList

PRICE_LIST = "price_list"
CHANGED = "price_list.changed"


def revised(before: PriceList | None, after: PriceList) -> PriceList:
    """``after`` as the next revision of ``before`` (``None``: a new list, revision 1)."""
    return after.model_copy(update={"revision": (before.revision if before else 0) + 1})


def price_list_event(price_list: PriceList, *, at: datetime, deleted: bool = False) -> Event:
    """The event of writing ``price_list`` (already ``revised``; for a delete, the list as it
    was last, revised once more). ``data``: the list as an admin reads it, and ``deleted``."""
    return Event(
        id=event_id(PRICE_LIST, price_list.id, price_list.revision),
        type=CHANGED,
        aggregate=Aggregate(kind=PRICE_LIST, id=price_list.id),
        sequence=price_list.revision,
        occurred_at=at,
        data={**price_list.model_dump(mode="json"), "deleted": deleted},
    )
