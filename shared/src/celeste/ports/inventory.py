"""Ports of inventory: stock levels and their ledger, availability per product."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from celeste.inventory.records import MovementRecord, StockRecord
from celeste.kernel.paging import Page
from celeste.kernel.versions import Versioned


class StockReader(Protocol):
    """Availability per product at a store (``on_hand - reserved``)."""

    def available(self, *, store_id: str, product_ids: Sequence[str]) -> dict[str, int]:
        """Available units for each product (0 where the store has no record)."""
        ...


class InventoryStore(Protocol):
    """Reads of stock levels and their movement ledgers."""

    def levels(
        self, *, store_id: str, product_ids: Sequence[str]
    ) -> dict[str, Versioned[StockRecord]]:
        """The stored levels among ``product_ids`` at the store (absent ones are left out)."""
        ...

    def get(self, *, store_id: str, product_id: str) -> Versioned[StockRecord]:
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
        """Levels by store then product, filtered by any of the three."""
        ...

    def movements(
        self, *, store_id: str, product_id: str, limit: int, cursor: str | None
    ) -> Page[MovementRecord]:
        """One level's ledger, newest first."""
        ...

    def every_level(self) -> Iterable[StockRecord]:
        """Every level of every store (the auditor)."""
        ...

    def every_movement(self) -> Iterable[MovementRecord]:
        """Every ledger row of every level (the auditor)."""
        ...
