"""What a client sends to place an order: the lines and the terms (store, fulfilment, address,
method, code), shared by ``POST /orders``, ``POST /checkout`` and the checkout quote."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from celeste.kernel.addresses import ShippingAddress
from celeste.kernel.errors import FieldError, ValidationFailed
from celeste.kernel.ids import CheckedId
from celeste.pricing.discount_codes import CodeName
from celeste.pricing.shipping import MethodCode


class OrderLineRequest(BaseModel):
    """One line as the client sends it: what and how many, never a price. ``variant_id`` may be
    left out only for a product with one variant (400 naming it otherwise)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    product_id: CheckedId
    variant_id: CheckedId | None = None
    quantity: int = Field(ge=1, le=1000, strict=True)

    @property
    def key(self) -> str:
        """What the line is of: its variant, else its product (whose one variant has its id)."""
        return self.variant_id or self.product_id


#: How an order reaches its customer: shipped to ``shipping_address``, or collected at the
#: order's store (``pickup: true`` on the store).
Fulfilment = Literal["delivery", "pickup"]


class PlacementTerms(BaseModel):
    """Where an order goes and how it is charged: what ``POST /orders``, ``POST /checkout`` and
    ``POST /checkout/quote`` share, so every order is priced by the same rules
    (``OrderPricer.price`` with ``celeste.orders.fulfilment.destination``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    store_id: CheckedId
    fulfilment: Fulfilment = "delivery"
    #: Required for delivery (shipping and tax follow its country); not sent for pickup.
    shipping_address: ShippingAddress | None = None
    #: Required to place a delivery where the shop has methods for the address; a quote
    #: without one lists the methods to choose from.
    shipping_method: MethodCode | None = None
    discount_code: CodeName | None = None


class OrderRequest(PlacementTerms):
    """The body of ``POST /orders``: the terms and the lines; unknown fields (a price, a status)
    are rejected. One line per product (``distinct_lines``)."""

    lines: list[OrderLineRequest] = Field(min_length=1, max_length=100)


class CheckoutRequest(PlacementTerms):
    """The body of ``POST /checkout`` and ``/checkout/quote``: the lines come from the cart, the
    prices from the server; a client-set total or line is an unknown field."""


def distinct_lines(lines: Sequence[OrderLineRequest]) -> None:
    """A 400 naming every line whose variant an earlier line already has: an order has one
    line per variant (quantity breaks and rounding apply to the whole quantity), so the client
    sends the summed quantity instead of splitting it. Two variants of one product are two
    lines."""
    first: dict[str, int] = {}
    errors: list[FieldError] = []
    for index, line in enumerate(lines):
        seen = first.setdefault(line.key, index)
        if seen != index:
            field = "variant_id" if line.variant_id else "product_id"
            what = f"variant {line.variant_id}" if line.variant_id else f"product {line.product_id}"
            errors.append(
                FieldError(
                    f"lines[{index}].{field}",
                    f"{what} is already on line {seen}: send one line with the whole quantity",
                )
            )
    if errors:
        raise ValidationFailed("an order has one line per variant", errors)


def idempotency_fingerprint(request: BaseModel, *, purpose: str = "orders") -> str:
    """A stable sha256 of the request's canonical JSON, to tell a replay from a reused key;
    a key first used for ``purpose`` (``orders``, ``checkout``) fits no other request."""
    body = request.model_dump(mode="json")
    payload = body if purpose == "orders" else {"purpose": purpose, "body": body}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
