"""Shipping method use cases: admins keep the methods; checkout offers those serving an order."""

from __future__ import annotations

import time
from collections.abc import Callable

from celeste.kernel.clock import Clock, utcnow
from celeste.kernel.errors import Conflict
from celeste.kernel.versions import Versioned
from celeste.ports.pricing import ShippingMethodRepository
from celeste.pricing.shipping import (
    MAX_METHODS,
    ShippingMethod,
    ShippingMethodCreate,
    ShippingMethodPatch,
)
from celeste.services.retry import REQUEST, Backoff
from celeste.services.versioned import versioned_write


class ShippingService:
    """The shipping methods resource, over a repository (whose ``on_offer`` may be cached)."""

    def __init__(
        self,
        *,
        repository: ShippingMethodRepository,
        clock: Clock = utcnow,
        backoff: Backoff = REQUEST,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._backoff = backoff
        self._sleep = sleep
        self._repo = repository
        self._clock = clock

    def all(self) -> list[ShippingMethod]:
        """Admin: every method by code, active or not (read from storage)."""
        return self._repo.all()

    def serving(self, *, country: str | None, currency: str | None) -> list[ShippingMethod]:
        """The active methods that ship to ``country`` in ``currency`` (either ``None``: any),
        cheapest first (from the repository's read model, cached in production)."""
        methods = self._repo.on_offer()
        found = [m for m in methods if m.serves(country=country, currency=currency)]
        return sorted(found, key=lambda m: (m.price, m.code))

    def get(self, code: str) -> Versioned[ShippingMethod]:
        """Admin: one method."""
        return self._repo.get(code)

    def create(self, request: ShippingMethodCreate) -> Versioned[ShippingMethod]:
        """Add a method (at most ``MAX_METHODS``); its code is its id."""
        if len(self._repo.all()) >= MAX_METHODS:
            raise Conflict(f"at most {MAX_METHODS} shipping methods may exist")
        now = self._clock()
        method = ShippingMethod(**request.model_dump(), created_at=now, updated_at=now)
        return self._repo.create(method)

    def update(
        self, code: str, patch: ShippingMethodPatch, *, expected_version: str | None
    ) -> Versioned[ShippingMethod]:
        """Apply the fields sent (``If-Match`` honoured)."""

        def write(current: Versioned[ShippingMethod]) -> Versioned[ShippingMethod]:
            updated = patch.apply(current.value, at=self._clock())
            return self._repo.replace(updated, expected_version=current.version)

        return versioned_write(
            lambda: self._repo.get(code),
            write,
            expected_version=expected_version,
            subject=code,
            what=f"updating shipping method {code}",
            backoff=self._backoff,
            sleep=self._sleep,
        )

    def delete(self, code: str, *, expected_version: str | None) -> None:
        """Remove a method; orders that chose it keep their frozen copy."""

        versioned_write(
            lambda: self._repo.get(code),
            lambda current: self._repo.delete(code, expected_version=current.version),
            expected_version=expected_version,
            subject=code,
            what=f"deleting shipping method {code}",
            backoff=self._backoff,
            sleep=self._sleep,
        )
