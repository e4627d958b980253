"""What each event says: the inbox's title and body, the email's subject, plain text and HTML.

Pure: an event and the shop's name in, a :class:`Message` out (``None`` for an event type that
notifies nobody). Every value from the event is escaped in the HTML; amounts are integer minor
units formatted per currency (``celeste.kernel.money.format_money``).
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from celeste.kernel.events import Event
from celeste.kernel.money import format_money
from celeste.orders.order import Order


@dataclass(frozen=True)
class Message:
    """One event's words for one kind of reader."""

    title: str
    body: str
    subject: str
    text: str
    html: str
    order_id: str | None = None


#: Order event type → (title, the sentence that tells it; ``{order}`` is the order's id).
ORDER_WORDS: dict[str, tuple[str, str]] = {
    "order.placed": ("Order received", "We have received your order {order}."),
    "order.confirmed": (
        "Order confirmed",
        "Your order {order} is confirmed: its items are reserved for you.",
    ),
    "order.rejected": (
        "Order not accepted",
        "We could not accept your order {order}: {reason}. You have not been charged.",
    ),
    "order.paid": ("Payment received", "Thank you: we have received the payment for {order}."),
    "order.shipped": ("Order shipped", "Your order {order} is on its way."),
    "order.delivered": ("Order delivered", "Your order {order} has been delivered."),
    "order.cancelled": ("Order cancelled", "Your order {order} has been cancelled."),
    "order.expired": (
        "Order expired",
        "Your order {order} expired before it was paid; its items are released.",
    ),
    "order.partially_refunded": (
        "Partial refund",
        "Part of your payment for {order} has been refunded.",
    ),
    "order.refunded": ("Order refunded", "Your payment for {order} has been refunded."),
}

_REASONS = {
    "out_of_stock": "some items are out of stock",
    "discount_code_exhausted": "the discount code has been used up",
}


def render(event: Event, *, shop_name: str) -> Message | None:
    """The message of ``event`` (``None``: its type notifies nobody)."""
    if event.type in ORDER_WORDS:
        return _order_message(event, shop_name)
    renderer = ADMIN_RENDERERS.get(event.type)
    return renderer(event, shop_name) if renderer else None


def message_id(event_id: str, recipient: str, *, domain: str) -> str:
    """The email's ``Message-ID``: the same for the same event and recipient, so a duplicate
    is recognisable as one (``<hash@domain>``)."""
    digest = hashlib.sha256(f"{event_id}\x00{recipient}".encode()).hexdigest()[:40]
    return f"<{digest}@{domain}>"


# --- orders -----------------------------------------------------------------------------------


def _order_of(event: Event) -> Order | None:
    try:
        return Order.model_validate(event.data)
    except ValidationError:
        return None


def _order_message(event: Event, shop: str) -> Message:
    title, sentence = ORDER_WORDS[event.type]
    order = _order_of(event)
    order_id = order.id if order else event.aggregate.id
    reason = order.rejection_reason if order else None
    body = sentence.format(order=order_id, reason=_REASONS.get(str(reason), "it could not be met"))
    lines, totals = _order_tables(order) if order else ([], [])
    text = [f"{shop}", "", title, "", body, ""]
    if lines:
        text += ["Order " + order_id, ""]
        text += [f"  {q} x {name} — {amount}" for name, q, amount in lines]
        text += [""] + [f"  {label}: {amount}" for label, amount in totals]
        text += [""]
    text += [f"Thank you for shopping at {shop}."]
    e = html.escape
    rows = "".join(
        f'<tr><td>{e(name)}</td><td align="right">{q}</td><td align="right">{e(amount)}</td></tr>'
        for name, q, amount in lines
    )
    sums = "".join(
        f'<tr><td colspan="2" align="right">{e(label)}</td><td align="right">{e(amount)}</td></tr>'
        for label, amount in totals
    )
    table = (
        f"<table><thead><tr><th>Item</th><th>Qty</th><th>Total</th></tr></thead>"
        f"<tbody>{rows}</tbody><tfoot>{sums}</tfoot></table>"
        if lines
        else ""
    )
    page = (
        f"<!doctype html><html><body><h1>{e(shop)}</h1><h2>{e(title)}</h2><p>{e(body)}</p>"
        f"<p>Order <strong>{e(order_id)}</strong></p>{table}"
        f"<p>Thank you for shopping at {e(shop)}.</p></body></html>"
    )
    return Message(
        title=title,
        body=body,
        subject=f"{shop}: {title} ({order_id})",
        text="\n".join(text) + "\n",
        html=page,
        order_id=order_id,
    )


def _order_tables(order: Order) -> tuple[list[tuple[str, int, str]], list[tuple[str, str]]]:
    """The order's lines (name with the variant's title, quantity, line total) and totals."""
    currency = order.currency or (order.lines[0].currency if order.lines else "EUR")
    lines = []
    for line in order.lines:
        name = line.name or line.product_id
        if line.variant_title:
            name = f"{name} — {line.variant_title}"
        lines.append((name, line.quantity, format_money(line.line_total, line.currency)))
    totals = [("Subtotal", format_money(order.subtotal, currency))]
    if order.discount_total:
        totals.append(("Discount", format_money(-order.discount_total, currency)))
    if order.shipping_total:
        totals.append(("Shipping", format_money(order.shipping_total, currency)))
    if order.tax_total:
        label = "Tax included" if order.tax_inclusive else "Tax"
        totals.append((label, format_money(order.tax_total, currency)))
    totals.append(("Total", format_money(order.total, currency)))
    return lines, totals


# --- admins -----------------------------------------------------------------------------------


def _admin_message(shop: str, title: str, body: str, facts: list[tuple[str, Any]]) -> Message:
    shown = [(label, str(value)) for label, value in facts if value not in (None, "")]
    text = [shop, "", title, "", body, ""] + [f"  {label}: {value}" for label, value in shown]
    e = html.escape
    items = "".join(f"<li>{e(label)}: {e(value)}</li>" for label, value in shown)
    page = (
        f"<!doctype html><html><body><h1>{e(shop)}</h1><h2>{e(title)}</h2><p>{e(body)}</p>"
        f"<ul>{items}</ul></body></html>"
    )
    return Message(
        title=title,
        body=body,
        subject=f"{shop}: {title}",
        text="\n".join(text) + "\n",
        html=page,
    )


def _stock_low(event: Event, shop: str) -> Message:
    data = event.data
    what = data.get("name") or data.get("variant_id") or event.aggregate.id
    level = data.get("available", data.get("on_hand"))
    body = f"Stock of {what} is low" + (f": {level} left." if level is not None else ".")
    facts = [
        ("Product", data.get("product_id")),
        ("Variant", data.get("variant_id")),
        ("Store", data.get("store_id")),
        ("Available", level),
        ("Threshold", data.get("threshold", data.get("low_stock_threshold"))),
    ]
    return _admin_message(shop, "Low stock", body, facts)


def _webhook_deactivated(event: Event, shop: str) -> Message:
    data = event.data
    url = data.get("url") or event.aggregate.id
    body = f"The webhook endpoint {url} was deactivated after repeated delivery failures."
    facts = [("Endpoint", data.get("id") or event.aggregate.id), ("URL", data.get("url"))]
    return _admin_message(shop, "Webhook deactivated", body, facts)


ADMIN_RENDERERS: dict[str, Callable[[Event, str], Message]] = {
    "stock.low": _stock_low,
    "webhook.deactivated": _webhook_deactivated,
}
