"""Ports of inventory: stock levels and their ledger, availability per product."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from celeste.inventory.records import MovementRecord, StockRecord
from celeste.kernel.paging import Page
from celeste.kernel.versions import Versioned


class StockReader(Protocol):
    """Availability per product at a store (``on_hand - reserved``)."""

    def available(self, *, store_id: str, keys: Sequence[str]) -> dict[str, int]:
        """Available units of each stock key, a variant id (0 where the store has no record)."""
        ...


class InventoryStore(Protocol):
    """Reads of stock levels and their movement ledgers."""

    def levels(self, *, store_id: str, keys: Sequence[str]) -> dict[str, Versioned[StockRecord]]:
        """The stored levels among ``keys`` (variant ids) at the store, by key (absent ones are
        left out)."""
        ...

    def get(self, *, store_id: str, variant_id: str) -> Versioned[StockRecord]:
        """One level, or ``NotFound``."""
        ...

    def page(
        self,
        *,
        store_id: str | None,
        product_id: str | None,
        low_stock: bool | None,
        limit: int,
        cursor: str | None,
    ) -> Page[StockRecord]:
        """Levels by store then variant, filtered by any of the three (``product_id``: every
        variant of the product)."""
        ...

    def movements(
        self, *, store_id: str, variant_id: str, limit: int, cursor: str | None
    ) -> Page[MovementRecord]:
        """One level's ledger, newest first."""
        ...

    def every_level(self) -> Iterable[StockRecord]:
        """Every level of every store (the auditor)."""
        ...

    def every_movement(self) -> Iterable[MovementRecord]:
        """Every ledger row of every level (the auditor)."""
        ...
