"""Discount code use cases: admins keep codes; the counted uses are the reservation's business."""

from __future__ import annotations

import time
from collections.abc import Callable

from celeste.kernel.clock import Clock, utcnow
from celeste.kernel.paging import Page
from celeste.kernel.versions import Versioned
from celeste.ports import DiscountCodeRepository
from celeste.pricing.discount_codes import DiscountCode, DiscountCodeCreate, DiscountCodePatch
from celeste.services.retry import REQUEST, Backoff
from celeste.services.versioned import versioned_write


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
