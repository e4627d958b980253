"""The one atomic commit every write of every context goes through."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from celeste.writes import Write


class AtomicWriter(Protocol):
    """One optimistic commit: every write applies, or none does."""

    def commit(self, writes: Sequence[Write]) -> str:
        """Apply ``writes`` atomically; ``PreconditionFailed`` when an expected version moved, a
        document to update is gone, or a document to create exists (another writer won).
        Returns the commit's version: the version each document it created or changed now has
        (so a writer can answer what it wrote without reading it back)."""
        ...
