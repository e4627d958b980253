"""The event types an endpoint may subscribe to: the one list (``docs/webhooks.md``).

Each context names its own event types; this is where they are gathered. An event of a type not
listed here is still in the outbox, but no endpoint receives it until the type is added.
"""

from __future__ import annotations

from collections.abc import Collection

from celeste.catalog import events as product_events
from celeste.inventory.events import FLIPS
from celeste.orders.events import EVENT_TYPES, PAYMENT_REFUNDED
from celeste.pricing import events as price_list_events

#: Every endpoint's wildcard: all subscribable types, also ones added later.
ALL = "*"
#: The test event ``POST /webhooks/{id}/test`` sends; never from the outbox, not subscribable.
PING = "ping"
#: The event written when an endpoint is deactivated after a run of failed deliveries.
WEBHOOK_DEACTIVATED = "webhook.deactivated"

SUBSCRIBABLE: frozenset[str] = frozenset(
    {
        *EVENT_TYPES.values(),
        product_events.CREATED,
        product_events.UPDATED,
        product_events.DELETED,
        price_list_events.CHANGED,
        *FLIPS.values(),
        PAYMENT_REFUNDED,
        WEBHOOK_DEACTIVATED,
    }
)


def unknown_types(events: Collection[str]) -> list[str]:
    """The entries of a subscription that are neither a subscribable type nor ``*``."""
    return sorted({name for name in events if name != ALL and name not in SUBSCRIBABLE})


def subscribes(events: Collection[str], event_type: str) -> bool:
    """Whether a subscription receives events of ``event_type`` (``ping`` is sent to every
    endpoint on request, never by subscription)."""
    if event_type not in SUBSCRIBABLE:
        return False
    return ALL in events or event_type in events
