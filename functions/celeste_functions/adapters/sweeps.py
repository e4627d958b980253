"""Owner of ``sweeps/{name}``: where each scheduled sweep stands (``sweeps/outbox``: the outbox's
re-drive, ``docs/events.md``). Written only by the sweep, read by nobody else; no client reads it.

``{through: timestamp, last_id: string | null}``; the version (update time) guards each advance,
so of two overlapping runs one stores its cursor and the other's write is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from celeste.kernel.errors import Conflict, PreconditionFailed
from celeste.kernel.outbox_sweep import SweepCursor
from celeste.kernel.versions import Versioned
from celeste_functions.adapters.firestore import precondition, storage_errors, version_of

if TYPE_CHECKING:
    from google.cloud import firestore

SWEEPS = "sweeps"


def sweep_ref(client: firestore.Client, name: str) -> firestore.DocumentReference:
    """The cursor document of the sweep ``name``."""
    return client.collection(SWEEPS).document(name)


class FirestoreSweepCursors:
    """``SweepCursors`` on Firestore."""

    def __init__(self, *, client: Callable[[], firestore.Client]) -> None:
        self._client = client

    def read(self, name: str) -> Versioned[SweepCursor] | None:
        snapshot = sweep_ref(self._client(), name).get()
        if not snapshot.exists:
            return None
        data = snapshot.to_dict() or {}
        if not isinstance(data.get("through"), datetime):
            # A cursor without its timestamp (written by hand?) cannot say where the sweep is.
            raise ValueError(f"{SWEEPS}/{name} holds no cursor")
        last_id = data.get("last_id")
        cursor = SweepCursor(
            through=data["through"], last_id=last_id if isinstance(last_id, str) else None
        )
        return Versioned(cursor, version_of(snapshot))

    def advance(self, name: str, cursor: SweepCursor, *, expected_version: str | None) -> bool:
        client = self._client()
        ref = sweep_ref(client, name)
        data = {"through": cursor.through, "last_id": cursor.last_id}
        try:
            with storage_errors():
                if expected_version is None:
                    ref.create(data)
                else:
                    ref.update(data, option=precondition(client, expected_version))
        except (Conflict, PreconditionFailed):
            return False
        return True
