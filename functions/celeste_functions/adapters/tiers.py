"""Firestore repository of tiers (``tiers/{code}``), every write guarded by ``tier_set/guard``."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from celeste.accounts.tiers import Tier
from celeste.kernel.errors import Conflict, NotFound, PreconditionFailed
from celeste.kernel.versions import Versioned
from celeste.ports.accounts import TierSet
from celeste.services.tiers import MAX_TIERS
from celeste_functions.adapters.accounts import holds_tier
from celeste_functions.adapters.firestore import (
    QueryShape,
    last_update_time,
    version_of,
)

if TYPE_CHECKING:
    from google.cloud import firestore

    from celeste_functions.adapters.writer import FirestoreWriter

TIERS = "tiers"
#: One document whose update time is the tier set's revision: every tier write through the
#: repository rewrites it with a precondition, so two writes that each read the same set (and
#: each kept it valid on its own) cannot both commit. Outside ``tiers/`` so no trigger fires.
GUARD = ("tier_set", "guard")

_BY_LEVEL = QueryShape(TIERS, order=("level",))


class FirestoreTiers:
    """``TierRepository`` on Firestore."""

    def __init__(self, *, client: Callable[[], firestore.Client], writer: FirestoreWriter) -> None:
        self._client = client
        self._writer = writer

    def _col(self) -> firestore.CollectionReference:
        return self._client().collection(TIERS)

    def _guard(self) -> firestore.DocumentReference:
        collection, document = GUARD
        return self._client().collection(collection).document(document)

    def get(self, code: str) -> Versioned[Tier]:
        snapshot = self._col().document(code).get()
        if not snapshot.exists:
            raise NotFound(f"no tier {code}")
        return Versioned(_tier(snapshot.id, snapshot.to_dict() or {}), version_of(snapshot))

    def tier_set(self) -> TierSet:
        # The guard first: any write committed after this read moves it, so a save against this
        # revision fails if the tiers read below are no longer the whole truth.
        guard = self._guard().get()
        revision = version_of(guard) if guard.exists else None
        query = _BY_LEVEL.build(self._col()).limit(MAX_TIERS + 1)
        tiers = [Versioned(_tier(s.id, s.to_dict() or {}), version_of(s)) for s in query.stream()]
        return TierSet(tiers, revision)

    def tiers(self) -> list[Tier]:
        return [found.value for found in self.tier_set().tiers]

    def save(
        self,
        *,
        revision: str | None,
        create: Sequence[Tier] = (),
        update: Sequence[Versioned[Tier]] = (),
        delete: Sequence[Versioned[Tier]] = (),
    ) -> None:
        if revision is None:
            self._start_guard()
            raise PreconditionFailed("the tier set had no revision yet; read it again")
        client = self._client()
        with self._writer.batch(conflict="a tier with this code already exists") as batch:
            for tier in create:
                batch.create(self._col().document(tier.code), _data(tier))
            for found in update:
                option = client.write_option(last_update_time=last_update_time(found.version))
                ref = self._col().document(found.value.code)
                batch.update(ref, _data(found.value), option=option)
            for found in delete:
                option = client.write_option(last_update_time=last_update_time(found.version))
                batch.delete(self._col().document(found.value.code), option=option)
            batch.update(
                self._guard(),
                {"token": secrets.token_hex(8)},
                option=client.write_option(last_update_time=last_update_time(revision)),
            )

    def is_held(self, code: str) -> bool:
        return holds_tier(self._client(), code)

    def _start_guard(self) -> None:
        # Another writer may have started it first: just as good.
        with contextlib.suppress(Conflict), self._writer.batch() as batch:
            batch.create(self._guard(), {"token": secrets.token_hex(8)})


def _data(tier: Tier) -> dict[str, Any]:
    # The code is the document id; it is kept in the document too, for the console and exports.
    return tier.model_dump()


def _tier(code: str, data: dict[str, Any]) -> Tier:
    # The document id is the code; fields this model does not know (a console edit) are left be.
    known = {name: value for name, value in data.items() if name in Tier.model_fields}
    return Tier.model_validate({**known, "code": code})
