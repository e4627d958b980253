"""The events a stock level writes when the state it announced flips (``stock.low``,
``stock.out``, ``stock.back_in_stock``; ``docs/events.md``).

A level is ``out`` when nothing is available, ``low`` when what is available has fallen to its
threshold (the one low-stock rule, ``stock.is_low``), else ``ok``. The level document keeps the
state it last took note of (``announced``) and its own count of events (``event_count``); a
write that flips the state writes the flip's event in the same commit, so a reservation of a hot
SKU costs nothing more (no read, and a create only when the state flips).
"""

from __future__ import annotations

from celeste.inventory.records import StockRecord, StockState
from celeste.inventory.stock import is_low
from celeste.kernel.events import Aggregate, Event, event_id

STOCK = "stock"

#: The event of each flip of a level's state (previous, new); a flip not listed (``low`` back
#: to ``ok``) is noted on the level without an event.
FLIPS: dict[tuple[StockState, StockState], str] = {
    ("ok", "low"): "stock.low",
    ("ok", "out"): "stock.out",
    ("low", "out"): "stock.out",
    ("out", "low"): "stock.back_in_stock",
    ("out", "ok"): "stock.back_in_stock",
}

#: What a level not stored yet counts as: nothing on hand (``StockRecord.empty``).
UNSTORED: StockState = "out"


def stock_state(record: StockRecord) -> StockState:
    """``out`` with nothing available, ``low`` at or under the threshold, else ``ok``."""
    available = record.available
    if available <= 0:
        return "out"
    return "low" if is_low(available=available, threshold=record.low_stock_threshold) else "ok"


#: Between the store's and the variant's id in a level's aggregate id: a document id may hold
#: only letters, digits, ``_`` and ``-`` (the log's filter and cursors check it), and the ids
#: the API makes (``kernel.ids.new_id``) have no ``_``.
SEPARATOR = "__"


def level_id(store_id: str, variant_id: str) -> str:
    """A level's aggregate id: ``{store_id}__{variant_id}``."""
    return f"{store_id}{SEPARATOR}{variant_id}"


def noted_state(record: StockRecord | None) -> StockState:
    """The state a stored level last took note of: ``announced``; a level stored before events
    (none noted) counts as what it holds now, one not stored yet as ``out``."""
    if record is None:
        return UNSTORED
    return record.announced if record.announced is not None else stock_state(record)


def level_data(record: StockRecord) -> dict[str, object]:
    """A level as ``GET /inventory/{store_id}/{variant_id}`` shows it, with its state."""
    return {
        "store_id": record.store_id,
        "product_id": record.product_id,
        "variant_id": record.variant_id,
        "on_hand": record.on_hand,
        "reserved": record.reserved,
        "available": record.available,
        "low_stock_threshold": record.low_stock_threshold,
        "low_stock": record.low_stock,
        "state": stock_state(record),
        "updated_at": record.updated_at.isoformat(),
    }


def announce(before: StockRecord | None, after: StockRecord) -> tuple[StockRecord, Event | None]:
    """The level to write (``after`` noting its state and event count) and the event of its
    flip, if the write flips it. ``before``: the level as stored and read (``None``: not
    stored). The count is the level's own: its n-th event is ``stock-{store}__{variant}-{n}``."""
    previous = noted_state(before)
    count = before.event_count if before is not None else 0
    state = stock_state(after)
    kind = FLIPS.get((previous, state))
    if kind is not None:
        count += 1
    noted = after.model_copy(update={"announced": state, "event_count": count})
    if kind is None:
        return noted, None
    aggregate = level_id(after.store_id, after.variant_id)
    return noted, Event(
        id=event_id(STOCK, aggregate, count),
        type=kind,
        aggregate=Aggregate(kind=STOCK, id=aggregate),
        sequence=count,
        occurred_at=after.updated_at,
        data=level_data(noted),
    )
