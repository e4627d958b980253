"""Discount code use cases: admins keep codes (``DiscountCodeService``); a use is counted with an
order's reservation and given back with its release (``CodeUses``, called by the fulfilment in
those very commits)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from celeste.kernel.clock import Clock, utcnow
from celeste.kernel.paging import Page
from celeste.kernel.versions import Versioned
from celeste.orders.order import Order
from celeste.ports.pricing import DiscountCodeRepository
from celeste.pricing.discount_codes import (
    CodeUse,
    DiscountCode,
    DiscountCodeCreate,
    DiscountCodePatch,
    UseKind,
)
from celeste.services.retry import REQUEST, Backoff
from celeste.services.versioned import versioned_write
from celeste.writes import RecordCodeUse

log = logging.getLogger("celeste.orders")


class DiscountCodeService:
    """Admin upkeep of discount codes (``times_used`` is only ever counted by orders)."""

    def __init__(
        self,
        *,
        repository: DiscountCodeRepository,
        clock: Clock = utcnow,
        backoff: Backoff = REQUEST,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._backoff = backoff
        self._sleep = sleep
        self._repo = repository
        self._clock = clock

    def page(self, *, limit: int, cursor: str | None) -> Page[DiscountCode]:
        """A page of codes by code."""
        return self._repo.page(limit=limit, cursor=cursor)

    def get(self, code: str) -> Versioned[DiscountCode]:
        """One code (any case), with ``times_used``."""
        return self._repo.get(code.upper())

    def create(self, request: DiscountCodeCreate) -> Versioned[DiscountCode]:
        """Add a code; ``Conflict`` when it exists (codes are case-insensitive)."""
        now = self._clock()
        return self._repo.create(
            DiscountCode(**request.model_dump(), times_used=0, created_at=now, updated_at=now)
        )

    def update(
        self, code: str, patch: DiscountCodePatch, *, expected_version: str | None
    ) -> Versioned[DiscountCode]:
        """Apply the fields sent; a concurrent use moves the version, and the patch is then
        applied again on the fresh read (with ``If-Match``: 412)."""

        def write(current: Versioned[DiscountCode]) -> Versioned[DiscountCode]:
            updated = patch.apply(current.value, at=self._clock())
            return self._repo.replace(updated, expected_version=current.version)

        return versioned_write(
            lambda: self._repo.get(code.upper()),
            write,
            expected_version=expected_version,
            subject=code,
            what=f"updating discount code {code}",
            backoff=self._backoff,
            sleep=self._sleep,
        )

    def delete(self, code: str, *, expected_version: str | None) -> None:
        """Remove a code; orders that used it keep their frozen discount."""

        versioned_write(
            lambda: self._repo.get(code.upper()),
            lambda current: self._repo.delete(code.upper(), expected_version=current.version),
            expected_version=expected_version,
            subject=code,
            what=f"deleting discount code {code}",
            backoff=self._backoff,
            sleep=self._sleep,
        )


class CodeUses:
    """The counted uses of discount codes: one use counted in the commit that reserves an
    order's stock, given back in the one that releases it, each through its ledger row
    ``discount_codes/{code}/uses/{order_id}-use|return`` (created once, so each happens once)."""

    def __init__(self, codes: DiscountCodeRepository) -> None:
        self._codes = codes

    def count(self, order: Order, *, now: datetime) -> list[RecordCodeUse] | None:
        """The write that counts the order's code use with its reservation (none without a
        code, or once counted), or ``None`` when the code has no use left for the order or
        its customer (the order is then rejected)."""
        if order.discount_code is None or order.code_state != "none":
            return []
        found = self._codes.find(order.discount_code.code)
        if found is None:  # deleted since: nothing left to count against
            log.warning("order's code vanished", extra={"fields": {"order_id": order.id}})
            return []
        mine = self._codes.customer_uses(found.value.code, order.user_id)
        if found.value.exhausted or found.value.spent_by(mine.value if mine else 0):
            return None
        return [self._record(order, found, mine, kind="use", now=now)]

    def give_back(self, order: Order, *, now: datetime) -> list[RecordCodeUse]:
        """The write that gives a counted use back with the release of the order's stock."""
        if order.discount_code is None:
            return []
        found = self._codes.find(order.discount_code.code)
        if found is None:
            return []
        mine = self._codes.customer_uses(found.value.code, order.user_id)
        return [self._record(order, found, mine, kind="return", now=now)]

    @staticmethod
    def _record(
        order: Order,
        found: Versioned[DiscountCode],
        mine: Versioned[int] | None,
        *,
        kind: UseKind,
        now: datetime,
    ) -> RecordCodeUse:
        """One use counted (``use``: +1) or given back (``return``: -1, never below 0), on the
        code and on the customer's own count, at the versions read."""
        step = 1 if kind == "use" else -1
        times_used = max(found.value.times_used + step, 0)
        return RecordCodeUse(
            use=CodeUse(
                code=found.value.code,
                order_id=order.id,
                user_id=order.user_id,
                kind=kind,
                times_used_after=times_used,
                at=now,
            ),
            times_used=times_used,
            expected_version=found.version,
            customer_uses=max((mine.value if mine else 0) + step, 0),
            customer_version=mine.version if mine else None,
        )
