"""The events a product's writes tell (``product.created``, ``product.updated``,
``product.deleted``; ``docs/events.md``).

A product's ``revision`` is its own version in event terms: the create writes 1, every later
write one more, and the write of revision n creates the event ``product-{id}-{n}`` in the same
commit (the product repository's ``create``/``replace`` take it).
"""

from __future__ import annotations

from celeste.catalog.products import Product
from celeste.kernel.events import Aggregate, Event, event_id

PRODUCT = "product"
CREATED = "product.created"
UPDATED = "product.updated"
#: The product left the catalogue (``DELETE /products/{id}``, or ``active`` set false): it is
#: kept, inactive, because orders refer to it.
DELETED = "product.deleted"


def revised(before: Product | None, after: Product) -> Product:
    """``after`` as the next revision of ``before`` (``None``: a new product, revision 1)."""
    return after.model_copy(update={"revision": (before.revision if before else 0) + 1})


def product_event(before: Product | None, after: Product) -> Event:
    """The event of writing ``after`` (already ``revised``) over ``before`` (``None``: the
    create): ``created``; ``deleted`` when an active product becomes inactive; else
    ``updated`` (a variant added, changed or removed too). ``data``: the product as an admin
    reads it after the write."""
    if before is None:
        kind = CREATED
    elif before.active and not after.active:
        kind = DELETED
    else:
        kind = UPDATED
    return Event(
        id=event_id(PRODUCT, after.id, after.revision),
        type=kind,
        aggregate=Aggregate(kind=PRODUCT, id=after.id),
        sequence=after.revision,
        occurred_at=after.updated_at,
        data=after.model_dump(mode="json"),
    )
