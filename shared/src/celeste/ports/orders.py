"""Ports of orders: orders with their markers and keys, and what delivery reads of a customer."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from celeste.kernel.paging import Page
from celeste.kernel.versions import Versioned
from celeste.orders.holds import CustomerHolds
from celeste.orders.order import CustomerStanding, IdempotencyRecord, Order
from celeste.orders.status import OrderStatus


class CustomerStandings(Protocol):
    """What the delivery effect reads of a customer (``users/{uid}``, the accounts adapter)."""

    def standing(self, uid: str) -> Versioned[CustomerStanding] | None:
        """Stats, tier and lock of the customer's profile, ``None`` without a profile."""
        ...


class OrderStore(Protocol):
    """Reads of orders, their effect markers and idempotency keys; writes go through
    ``AtomicWriter`` so an order always changes in the same commit as its stock and ledger."""

    def get(self, order_id: str) -> Versioned[Order]:
        """The order, or ``NotFound``."""
        ...

    def page(
        self,
        *,
        user_id: str | None,
        status: OrderStatus | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Order]:
        """Orders newest first, optionally of one customer and/or one status."""
        ...

    def due_for_expiry(self, *, now: datetime, limit: int) -> list[Order]:
        """``confirmed`` orders whose hold ended before ``now``, the oldest hold first."""
        ...

    def pending_since(self, *, before: datetime, limit: int) -> list[Order]:
        """``pending`` orders placed before ``before`` (their reservation is overdue)."""
        ...

    def awaiting_stock(self, *, limit: int) -> list[Order]:
        """Orders still holding stock although their status released or shipped it."""
        ...

    def holding_stock(self) -> Iterable[Order]:
        """Every order whose status holds stock (``HOLDS_STOCK``), for the auditor."""
        ...

    def holds(self, uid: str) -> Versioned[CustomerHolds] | None:
        """The customer's open holds document (``PutHolds`` writes it), if any."""
        ...

    def idempotency(self, record_id: str) -> Versioned[IdempotencyRecord] | None:
        """The key record, ``None`` if the key was never used (or has been deleted)."""
        ...

    def stats_markers(self, order_id: str) -> dict[str, int | None]:
        """The order's stats markers ``orders/{id}/effects/{marker}`` that exist: marker id →
        the amount it moved (``None`` for a marker stored before markers recorded amounts)."""
        ...

    def payments_due(self, *, limit: int) -> list[Order]:
        """Orders whose ``payment_due`` says payment work is unfinished (any order)."""
        ...
