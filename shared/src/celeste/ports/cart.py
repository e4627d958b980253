"""Ports of the cart: a customer's cart lines, wishlist and guest-cart merges."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from celeste.cart.lines import CartLine, CartMerge, WishlistEntry
from celeste.kernel.paging import Page
from celeste.kernel.versions import Versioned


class CartRepository(Protocol):
    """A customer's cart, one document per line (``users/{uid}/cart/{variant_id}``; a product
    without options is its own one variant): lines of different variants never contend, and
    each change of a line is one single-document write."""

    def lines(self, uid: str, *, limit: int) -> list[CartLine]:
        """Up to ``limit`` lines, the earliest added first (then by variant id)."""
        ...

    def count(self, uid: str) -> int:
        """How many lines the cart holds."""
        ...

    def create(self, uid: str, line: CartLine) -> str:
        """Store a new line and return its version; ``Conflict`` if the variant has a line."""
        ...

    def set_quantity(
        self, uid: str, variant_id: str, *, quantity: int, updated_at: datetime
    ) -> CartLine | None:
        """Change an existing line's quantity (one write); ``None`` when there is no such line."""
        ...

    def remove(self, uid: str, variant_id: str, *, expected_version: str | None = None) -> None:
        """Delete the line; a missing line is no error. With ``expected_version`` the line
        must still be at that version (else ``PreconditionFailed``, also when it is gone)."""
        ...

    def clear(self, uid: str) -> None:
        """Delete every line of the cart."""
        ...

    def versioned_lines(self, uid: str, *, limit: int) -> list[Versioned[CartLine]]:
        """As ``lines``, each with its version (a checkout deletes them at those versions)."""
        ...


class WishlistRepository(Protocol):
    """A customer's wishlist, one document per variant (``users/{uid}/wishlist/{variant_id}``)."""

    def page(self, uid: str, *, limit: int, cursor: str | None) -> Page[WishlistEntry]:
        """Entries newest first (then by variant id, descending)."""
        ...

    def get(self, uid: str, variant_id: str) -> WishlistEntry | None:
        """The entry, ``None`` when the variant is not on the wishlist."""
        ...

    def count(self, uid: str) -> int:
        """How many entries the wishlist holds."""
        ...

    def create(self, uid: str, entry: WishlistEntry) -> str:
        """Store a new entry and return its version; ``Conflict`` if the variant is listed."""
        ...

    def remove(self, uid: str, variant_id: str, *, expected_version: str | None = None) -> None:
        """Delete the entry; as ``CartRepository.remove``."""
        ...

    def versioned_entries(self, uid: str, *, limit: int) -> list[Versioned[WishlistEntry]]:
        """Up to ``limit`` entries, the earliest added first, each with its version."""
        ...

    def listed(self, uid: str, variant_ids: Sequence[str]) -> set[str]:
        """Which of ``variant_ids`` the wishlist holds."""
        ...


class CartMerges(Protocol):
    """Merging a guest's cart and wishlist into an account's (the cart's owner writes both)."""

    def commit(self, merge: CartMerge) -> None:
        """Apply ``merge`` in one atomic commit; ``PreconditionFailed`` when anything it names
        moved since it was read (nothing is written then)."""
        ...
