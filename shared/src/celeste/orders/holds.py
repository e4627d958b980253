"""Fair holds: caps on the stock one customer may hold in open unpaid orders at once.

An order holds stock (or is about to) while it is ``pending`` or ``confirmed``: unpaid. Without a
cap one customer could order a product's whole stock and keep everyone else out for the hold
time, again and again. The caps bound, per customer, how many such orders are open at once and
how many units of one product they hold together; an order that would pass either cap is
refused when it is placed (409), so nobody else's order is ever rejected in its place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel

from celeste.kernel.errors import Conflict
from celeste.orders.status import OrderStatus

#: The statuses in which an order holds stock, or will once reserved, and is not paid.
OPEN_UNPAID = frozenset({OrderStatus.PENDING, OrderStatus.CONFIRMED})


@dataclass(frozen=True)
class HoldCaps:
    """How much one customer may hold at once (``CELESTE_HOLD_MAX_*``)."""

    max_open_orders: int = 5
    max_units_per_product: int = 20


class HoldLimitReached(Conflict):
    """Placing this order would pass one of the customer's hold caps."""

    title = "Hold limit reached"


class CustomerHolds(BaseModel):
    """``customer_holds/{uid}``: the customer's orders that may be open, with their units per
    variant (orders stored before variants: per product, its one variant). Placement reads it,
    drops the orders no longer open, and writes it back with the new order in the same commit,
    guarded by its version: concurrent placements of one customer serialise on it, so the caps
    hold under any concurrency."""

    uid: str
    orders: dict[str, dict[str, int]] = {}
    updated_at: datetime | None = None


def check_hold_caps(
    *, open_orders: Mapping[str, Mapping[str, int]], wanted: Mapping[str, int], caps: HoldCaps
) -> None:
    """Refuse an order of ``wanted`` units per variant when the customer already holds
    ``open_orders`` (order id -> units per variant) and one more would pass a cap. The unit cap
    is per variant, the key stock is held by: each size of a shirt is stock of its own, and a
    product without options is its one variant."""
    if len(open_orders) + 1 > caps.max_open_orders:
        raise HoldLimitReached(
            f"you already have {len(open_orders)} unpaid orders open (at most "
            f"{caps.max_open_orders} at once): pay for or cancel one first"
        )
    held: dict[str, int] = {}
    for lines in open_orders.values():
        for key, units in lines.items():
            held[key] = held.get(key, 0) + units
    for key, units in wanted.items():
        already = held.get(key, 0)
        if already + units > caps.max_units_per_product:
            raise HoldLimitReached(
                f"at most {caps.max_units_per_product} units of {key} may be "
                f"held in unpaid orders at once; you hold {already} and asked for {units}"
            )
