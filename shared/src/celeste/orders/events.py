"""The events an order's status moves write (``order.placed``, ``order.paid``, ...)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from celeste.kernel.events import Aggregate, Event, event_id
from celeste.orders.status import OrderStatus

if TYPE_CHECKING:
    from celeste.orders.order import Order

ORDER = "order"

#: The event type of each status an order moves to.
EVENT_TYPES: dict[OrderStatus, str] = {
    OrderStatus.PENDING: "order.placed",
    OrderStatus.CONFIRMED: "order.confirmed",
    OrderStatus.REJECTED: "order.rejected",
    OrderStatus.PROCESSING: "order.paid",
    OrderStatus.SHIPPED: "order.shipped",
    OrderStatus.DELIVERED: "order.delivered",
    OrderStatus.CANCELLED: "order.cancelled",
    OrderStatus.EXPIRED: "order.expired",
    OrderStatus.REFUNDED: "order.refunded",
    OrderStatus.PARTIALLY_REFUNDED: "order.partially_refunded",
}


def order_event(order: Order) -> Event:
    """The event of the order's latest history entry: its ``sequence`` is the history's
    length (the n-th status the order reached), its time that entry's, its ``data`` the order
    as an admin reads it after the change (an order holds no secret: the payment's client
    secret is kept beside it, ``payment_secrets/{order_id}``)."""
    if not order.history:
        raise ValueError(f"order {order.id} has no history: no event to tell")
    step = order.history[-1]
    sequence = len(order.history)
    data = order.model_dump(mode="json")
    if data.get("payment") is not None:  # as an admin's ``GET /orders/{id}`` shows it
        data["payment"]["client_secret"] = None
    return Event(
        id=event_id(ORDER, order.id, sequence),
        type=EVENT_TYPES[step.status],
        aggregate=Aggregate(kind=ORDER, id=order.id),
        sequence=sequence,
        occurred_at=step.at,
        data=data,
    )
