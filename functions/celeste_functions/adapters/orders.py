"""Firestore repository of orders: ``orders/{id}``, their effect markers
``orders/{id}/effects/{effect}``, ``idempotency_keys/{id}`` and ``customer_holds/{uid}`` (paths
and field mapping; the writes go through ``writer.FirestoreWriter``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from celeste.kernel.errors import NotFound
from celeste.kernel.paging import Page
from celeste.kernel.versions import Versioned
from celeste.orders.holds import CustomerHolds
from celeste.orders.order import IdempotencyRecord, Order
from celeste.orders.status import COMMITS_STOCK, HOLDS_STOCK, OPEN, RELEASES_STOCK, OrderStatus
from celeste_functions.adapters.firestore import (
    QueryShape,
    keyset_page,
    version_of,
)

if TYPE_CHECKING:
    from google.cloud import firestore

ORDERS = "orders"
EFFECTS = "effects"
IDEMPOTENCY_KEYS = "idempotency_keys"
#: ``customer_holds/{uid}``: what placement guards to keep the hold caps (celeste.orders.holds).
HOLDS = "customer_holds"

_NEWEST = ("created_at", "__name__")
_LISTS = {
    filters: QueryShape(ORDERS, equals=filters, order=_NEWEST, descending=True)
    for filters in [(), ("user_id",), ("status",), ("user_id", "status")]
}
#: ``expire_due``: confirmed orders by hold end (a range on ``hold_expires_at`` is added; the
#: composite index (status, hold_expires_at) serves it).
_BY_HOLD_END = QueryShape(ORDERS, equals=("status",), order=("hold_expires_at",))
#: Stale pending orders, oldest first (a range on ``created_at`` is added).
_BY_AGE = QueryShape(ORDERS, equals=("status",), order=("created_at",))
_AWAITING_STOCK = QueryShape(ORDERS, equals=("stock_state",), members=("status",))
_HOLDING = QueryShape(ORDERS, members=("status",))
_OPEN_AT_STORE = QueryShape(ORDERS, equals=("store_id",), members=("status",))
_OPEN_WITH_VARIANT = QueryShape(ORDERS, members=("status",), contains=("variant_ids",))
#: Payment work left undone (``Order.payment_due`` is stored with every write of the order).
_PAYMENT_DUE = QueryShape(ORDERS, members=("payment_due",))


def order_data(order: Order) -> dict[str, Any]:
    """An order as stored: timestamps stay timestamps (queries compare them); its variants'
    ids beside the lines, so a variant's open orders can be found (``has_open_orders_of``)."""
    return {**order.model_dump(exclude={"id"}), "variant_ids": order.variant_ids}


def order_ref(client: firestore.Client, order_id: str) -> firestore.DocumentReference:
    """The document of an order."""
    return client.collection(ORDERS).document(order_id)


def effect_ref(client: firestore.Client, order_id: str, effect: str) -> firestore.DocumentReference:
    """The marker that a stats step of the order was applied (created once, never updated)."""
    marker: firestore.DocumentReference = (
        order_ref(client, order_id).collection(EFFECTS).document(effect)
    )
    return marker


def effect_data(
    *,
    order_id: str,
    effect: str,
    at: datetime,
    amount: int | None = None,
    currency: str | None = None,
) -> dict[str, Any]:
    """A marker as stored (with what the step moved, when it moved money)."""
    data: dict[str, Any] = {"order_id": order_id, "effect": effect, "at": at}
    if amount is not None:
        data.update(amount=amount, currency=currency)
    return data


def idempotency_ref(client: firestore.Client, record_id: str) -> firestore.DocumentReference:
    """The document of an ``Idempotency-Key`` record."""
    return client.collection(IDEMPOTENCY_KEYS).document(record_id)


def idempotency_data(record: IdempotencyRecord) -> dict[str, Any]:
    """A key record as stored (the id is the document id; ``expires_at`` drives the TTL)."""
    return record.model_dump(exclude={"id"})


def holds_ref(client: firestore.Client, uid: str) -> firestore.DocumentReference:
    """The document of a customer's open holds."""
    return client.collection(HOLDS).document(uid)


def holds_data(holds: CustomerHolds) -> dict[str, Any]:
    """A customer's holds as stored (the uid is the document id)."""
    return holds.model_dump(exclude={"uid"})


def _amount(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _order(snapshot: Any) -> Order:
    return Order.model_validate({**(snapshot.to_dict() or {}), "id": snapshot.id})


class FirestoreOrders:
    """``OrderStore`` on Firestore."""

    def __init__(self, *, client: Callable[[], firestore.Client]) -> None:
        self._client = client

    def _col(self) -> firestore.CollectionReference:
        return self._client().collection(ORDERS)

    def has_open_orders_of(self, variant_id: str) -> bool:
        """Whether an order still under way has ``variant_id`` (one document read at most;
        orders placed before variants list none, and their variant is a product's own, which
        is never deleted)."""
        query = _OPEN_WITH_VARIANT.build(
            self._col(),
            contains={"variant_ids": variant_id},
            members={"status": sorted(str(s) for s in OPEN)},
        )
        return any(True for _ in query.limit(1).stream())

    def has_open_orders(self, store_id: str) -> bool:
        """Whether an order at ``store_id`` is still under way (one document read at most)."""
        query = _OPEN_AT_STORE.build(
            self._col(),
            equals={"store_id": store_id},
            members={"status": sorted(str(s) for s in OPEN)},
        )
        return any(True for _ in query.limit(1).stream())

    def get(self, order_id: str) -> Versioned[Order]:
        snapshot = self._col().document(order_id).get()
        if not snapshot.exists:
            raise NotFound(f"no order {order_id}")
        return Versioned(_order(snapshot), version_of(snapshot))

    def page(
        self,
        *,
        user_id: str | None,
        status: OrderStatus | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Order]:
        equals: dict[str, Any] = {}
        if user_id is not None:
            equals["user_id"] = user_id
        if status is not None:
            equals["status"] = str(status)
        filters = tuple(name for name in ("user_id", "status") if name in equals)
        return keyset_page(
            _LISTS[filters].build(self._col(), equals=equals),
            collection=self._col(),
            order_field="created_at",
            limit=limit,
            cursor=cursor,
            parse=_order,
            key=lambda order: order.created_at,
            value_type=datetime,
        )

    def due_for_expiry(self, *, now: datetime, limit: int) -> list[Order]:
        from google.cloud.firestore import FieldFilter

        query = _BY_HOLD_END.build(self._col(), equals={"status": str(OrderStatus.CONFIRMED)})
        query = query.where(filter=FieldFilter("hold_expires_at", "<", now))
        return [_order(s) for s in query.limit(limit).stream()]

    def pending_since(self, *, before: datetime, limit: int) -> list[Order]:
        from google.cloud.firestore import FieldFilter

        query = _BY_AGE.build(self._col(), equals={"status": str(OrderStatus.PENDING)})
        query = query.where(filter=FieldFilter("created_at", "<", before))
        return [_order(s) for s in query.limit(limit).stream()]

    def awaiting_stock(self, *, limit: int) -> list[Order]:
        statuses = sorted(str(s) for s in RELEASES_STOCK | COMMITS_STOCK)
        query = _AWAITING_STOCK.build(
            self._col(), equals={"stock_state": "held"}, members={"status": statuses}
        )
        return [_order(s) for s in query.limit(limit).stream()]

    def holding_stock(self) -> Iterator[Order]:
        query = _HOLDING.build(self._col(), members={"status": sorted(map(str, HOLDS_STOCK))})
        for snapshot in query.stream():
            yield _order(snapshot)

    def holds(self, uid: str) -> Versioned[CustomerHolds] | None:
        snapshot = holds_ref(self._client(), uid).get()
        if not snapshot.exists:
            return None
        holds = CustomerHolds.model_validate({**(snapshot.to_dict() or {}), "uid": uid})
        return Versioned(holds, version_of(snapshot))

    def idempotency(self, record_id: str) -> Versioned[IdempotencyRecord] | None:
        snapshot = idempotency_ref(self._client(), record_id).get()
        if not snapshot.exists:
            return None
        record = IdempotencyRecord.model_validate({**(snapshot.to_dict() or {}), "id": record_id})
        return Versioned(record, version_of(snapshot))

    def stats_markers(self, order_id: str) -> dict[str, int | None]:
        markers = order_ref(self._client(), order_id).collection(EFFECTS).stream()
        return {s.id: _amount((s.to_dict() or {}).get("amount")) for s in markers}

    def payments_due(self, *, limit: int) -> list[Order]:
        query = _PAYMENT_DUE.build(
            self._col(), members={"payment_due": ["cancel", "intent", "refund"]}
        )
        return [_order(s) for s in query.limit(limit).stream()]
