"""Firestore repository of orders (``orders/{id}``, ``orders/{id}/effects/{effect}``), their
idempotency keys, the customer standing the delivery effect changes, the store check, and the
one optimistic commit that writes orders, stock levels and ledger rows together."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from celeste.errors import Contention, NotFound, PreconditionFailed
from celeste.order_records import (
    COMMITS_STOCK,
    RELEASES_STOCK,
    CustomerStanding,
    IdempotencyRecord,
    Order,
)
from celeste.orders import HOLDS_STOCK, OPEN, OrderStatus, StatsEffect
from celeste.ports import Page, Versioned
from celeste.tiers import Tier
from celeste.writes import (
    AddEffectMarker,
    AddMovement,
    CreateOrder,
    PutIdempotencyKey,
    PutLevel,
    UpdateCustomer,
    UpdateOrder,
    Write,
)
from celeste_functions.adapters.firestore import (
    QueryShape,
    keyset_page,
    last_update_time,
    version_of,
)
from celeste_functions.adapters.inventory import level_data, level_ref, movement_data, movement_ref

if TYPE_CHECKING:
    from google.cloud import firestore

ORDERS = "orders"
EFFECTS = "effects"
IDEMPOTENCY_KEYS = "idempotency_keys"
USERS = "users"
TIERS = "tiers"
STORES = "stores"

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
_TIERS_CAP = 100


def order_data(order: Order) -> dict[str, Any]:
    """An order as stored: timestamps stay timestamps (queries compare them)."""
    return order.model_dump(exclude={"id"})


def _order(snapshot: Any) -> Order:
    return Order.model_validate({**(snapshot.to_dict() or {}), "id": snapshot.id})


@contextmanager
def race_errors() -> Iterator[None]:
    """A commit that lost a race is ``PreconditionFailed`` (re-read and decide again):
    a version moved, a document to update is gone, or a document to create exists."""
    from google.api_core import exceptions as gexc

    try:
        yield
    except (gexc.FailedPrecondition, gexc.AlreadyExists, gexc.NotFound) as exc:
        raise PreconditionFailed(f"a concurrent write won: {type(exc).__name__}") from None
    except (
        gexc.Aborted,
        gexc.DeadlineExceeded,
        gexc.ServiceUnavailable,
        gexc.TooManyRequests,
        gexc.ResourceExhausted,
    ):
        raise Contention("the database is busy; retry shortly", retry_after_s=1) from None


class FirestoreOrders:
    """``OrderStore`` on Firestore."""

    def __init__(self, *, client: Callable[[], firestore.Client]) -> None:
        self._client = client

    def _col(self, name: str = ORDERS) -> firestore.CollectionReference:
        return self._client().collection(name)

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

    def idempotency(self, record_id: str) -> Versioned[IdempotencyRecord] | None:
        snapshot = self._col(IDEMPOTENCY_KEYS).document(record_id).get()
        if not snapshot.exists:
            return None
        record = IdempotencyRecord.model_validate({**(snapshot.to_dict() or {}), "id": record_id})
        return Versioned(record, version_of(snapshot))

    def effect_applied(self, order_id: str, effect: StatsEffect) -> bool:
        marker = self._col().document(order_id).collection(EFFECTS).document(effect)
        return bool(marker.get().exists)

    def customer(self, uid: str) -> Versioned[CustomerStanding] | None:
        snapshot = self._col(USERS).document(uid).get(["stats", "tier", "tier_locked"])
        if not snapshot.exists:
            return None
        data = {k: v for k, v in (snapshot.to_dict() or {}).items() if v is not None}
        return Versioned(
            CustomerStanding.model_validate({**data, "uid": uid}), version_of(snapshot)
        )

    def tiers(self) -> list[Tier]:
        tiers = []
        for snapshot in self._col(TIERS).limit(_TIERS_CAP).stream():
            data = snapshot.to_dict() or {}
            known = {name: value for name, value in data.items() if name in Tier.model_fields}
            tiers.append(Tier.model_validate({**known, "code": snapshot.id}))
        return tiers


class FirestoreStoreDirectory:
    """``StoreDirectory``: reads ``stores/{id}`` (its ``active`` flag only)."""

    def __init__(self, *, client: Callable[[], firestore.Client]) -> None:
        self._client = client

    def store_active(self, store_id: str) -> bool | None:
        snapshot = self._client().collection(STORES).document(store_id).get(["active"])
        if not snapshot.exists:
            return None
        return (snapshot.to_dict() or {}).get("active", True) is True


class FirestoreWriter:
    """``AtomicWriter``: one batch; updates carry ``last_update_time`` preconditions, creates
    require absence, so the whole batch fails if any document moved since it was read."""

    def __init__(self, *, client: Callable[[], firestore.Client]) -> None:
        self._client = client

    def commit(self, writes: Sequence[Write]) -> None:
        client = self._client()
        batch = client.batch()

        def since(version: str) -> Any:
            return client.write_option(last_update_time=last_update_time(version))

        orders = client.collection(ORDERS)
        for write in writes:
            match write:
                case CreateOrder(order=order):
                    batch.create(orders.document(order.id), order_data(order))
                case UpdateOrder(order=order, expected_version=version):
                    batch.update(
                        orders.document(order.id), order_data(order), option=since(version)
                    )
                case PutLevel(level=record, expected_version=None):
                    ref = level_ref(client, record.store_id, record.product_id)
                    batch.create(ref, level_data(record))
                case PutLevel(level=record, expected_version=str() as version):
                    ref = level_ref(client, record.store_id, record.product_id)
                    batch.update(ref, level_data(record), option=since(version))
                case AddMovement(movement=row):
                    batch.create(movement_ref(client, row), movement_data(row))
                case AddEffectMarker(order_id=order_id, effect=effect, at=at):
                    marker = orders.document(order_id).collection(EFFECTS).document(effect)
                    batch.create(marker, {"order_id": order_id, "effect": effect, "at": at})
                case UpdateCustomer(uid=uid, stats=stats, tier=tier, at=at, expected_version=v):
                    data: dict[str, Any] = {"stats": stats.model_dump(), "updated_at": at}
                    if tier is not None:
                        data["tier"] = tier
                    batch.update(client.collection(USERS).document(uid), data, option=since(v))
                case PutIdempotencyKey(record=record, expected_version=version):
                    ref = client.collection(IDEMPOTENCY_KEYS).document(record.id)
                    key_data = record.model_dump(exclude={"id"})
                    if version is None:
                        batch.create(ref, key_data)
                    else:
                        batch.update(ref, key_data, option=since(version))
                case _:  # pragma: no cover - the union is closed
                    raise TypeError(f"unknown write {write!r}")
        with race_errors():
            batch.commit()
