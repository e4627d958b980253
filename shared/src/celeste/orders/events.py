"""The events an order writes: its status moves (``order.placed``, ``order.paid``, ...) and the
refunds of its payment (``payment.refunded``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from celeste.kernel.events import Aggregate, Event, event_id
from celeste.orders.status import OrderStatus

if TYPE_CHECKING:
    from celeste.orders.order import Order
    from celeste.orders.payments import Payment

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


PAYMENT = "payment"
#: The event of each refund of an order's payment recorded as made (``state: succeeded``).
PAYMENT_REFUNDED = "payment.refunded"


def refund_events(order_id: str, *, before: Payment | None, after: Payment | None) -> list[Event]:
    """The events of the refunds ``after`` records as made that ``before`` (the payment as
    stored) did not: one ``payment.refunded`` each, in the payment's order. The payment's
    aggregate id is the order's; its ``sequence`` counts the refunds recorded on it (the n-th
    refund made is its n-th event), so several recorded in one commit take the next numbers."""
    if after is None:
        return []
    made_before = {r.key for r in before.refunds if r.state == "succeeded"} if before else set()
    count = len(made_before)
    events = []
    for refund in after.refunds:
        if refund.state != "succeeded" or refund.key in made_before:
            continue
        count += 1
        payment = after.model_dump(mode="json")
        payment["client_secret"] = None
        events.append(
            Event(
                id=event_id(PAYMENT, order_id, count),
                type=PAYMENT_REFUNDED,
                aggregate=Aggregate(kind=PAYMENT, id=order_id),
                sequence=count,
                occurred_at=refund.completed_at or refund.requested_at,
                data={
                    "order_id": order_id,
                    "refund": refund.model_dump(mode="json"),
                    "payment": payment,
                },
            )
        )
    return events
