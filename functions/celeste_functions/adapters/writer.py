"""Where the domain's writes and every write a cache reads are committed, and the cache scopes
each commit made stale are retired.

Two doors, one commit: ``FirestoreWriter.batch()`` is the batch an owner adapter fills with its
own documents (a category and its slug, a tier and the tier-set guard); ``commit`` is the one
optimistic commit of the domain's ``Write`` union (orders, stock levels, ledger rows, effect
markers, customer stats, idempotency keys, discount code uses and the emptied cart written
together; each document's path and fields come from its owner). Either way, once the batch has
committed, the cache scopes of the collections it wrote (``cache_scopes.retired_by``) are
retired before the caller goes on: no handler, service or owner decides it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from celeste.kernel.errors import Unavailable
from celeste.writes import (
    AddEffectMarker,
    AddMovement,
    ClearCartLines,
    CreateOrder,
    PutHolds,
    PutIdempotencyKey,
    PutLevel,
    RecordCodeUse,
    UpdateCustomer,
    UpdateOrder,
    Write,
)
from celeste_functions.adapters.accounts import standing_update, user_ref
from celeste_functions.adapters.cart import cart_line_ref
from celeste_functions.adapters.discount_codes import (
    code_ref,
    code_use_data,
    code_use_ref,
    customer_uses_data,
    customer_uses_ref,
)
from celeste_functions.adapters.firestore import last_update_time, storage_errors, version_at
from celeste_functions.adapters.inventory import level_data, level_ref, movement_data, movement_ref
from celeste_functions.adapters.orders import (
    effect_data,
    effect_ref,
    holds_data,
    holds_ref,
    idempotency_data,
    idempotency_ref,
    order_data,
    order_ref,
)
from celeste_functions.cache_scopes import retired_by

if TYPE_CHECKING:
    from google.cloud import firestore

    from celeste_functions.adapters.cache import Cache

#: What a create that finds its document is, unless the owner names the conflict.
ALREADY_EXISTS = "the resource already exists"


class Batch:
    """One atomic batch as an owner fills it (the SDK's ``WriteBatch`` calls); it notes the path
    of every document it writes, which is what decides the cache scopes its commit retires."""

    def __init__(self, client: firestore.Client) -> None:
        self._batch = client.batch()
        self.documents: list[str] = []

    def create(self, ref: firestore.DocumentReference, data: dict[str, Any]) -> None:
        self.documents.append(ref.path)
        self._batch.create(ref, data)

    def set(self, ref: firestore.DocumentReference, data: dict[str, Any]) -> None:
        self.documents.append(ref.path)
        self._batch.set(ref, data)

    def update(
        self, ref: firestore.DocumentReference, data: dict[str, Any], option: Any = None
    ) -> None:
        self.documents.append(ref.path)
        self._batch.update(ref, data, option=option)

    def delete(self, ref: firestore.DocumentReference, option: Any = None) -> None:
        self.documents.append(ref.path)
        self._batch.delete(ref, option=option)

    def commit(self) -> None:
        self._batch.commit()

    @property
    def version(self) -> str:
        """Once committed, the commit's version: every document it created or changed took the
        commit time as its update time."""
        return version_at(self._batch.commit_time)


class FirestoreWriter:
    """``AtomicWriter``, and the commit of every owner's batch: one batch per commit; updates
    carry ``last_update_time`` preconditions, creates require absence, so the whole batch fails
    if any document moved since it was read. ``cache`` is where the scopes are retired."""

    def __init__(self, *, client: Callable[[], firestore.Client], cache: Cache) -> None:
        self._client = client
        self._cache = cache

    @contextmanager
    def batch(self, *, conflict: str | None = ALREADY_EXISTS) -> Iterator[Batch]:
        """A batch to fill in the ``with`` block, committed when the block ends (not when it
        raises), its failures translated by ``storage_errors(conflict=...)``; then the scopes
        of what it wrote are retired (``retire``)."""
        batch = Batch(self._client())
        yield batch
        with storage_errors(conflict=conflict):
            batch.commit()
        self.retire(batch.documents)

    def retire(self, documents: Sequence[str]) -> None:
        """Retire the cache scopes a committed write of ``documents`` made stale, before the
        caller answers: after a 2xx no read serves the old value while Redis answers (the
        freshness guarantee). When neither the durable epoch nor Redis took it, the write is
        not reported as done (``Unavailable``: 503, ``Retry-After``; the data is saved, the
        client sends it again rather than trust a stale read)."""
        scopes = retired_by(documents)
        if not scopes:
            return
        if not self._cache.invalidate(scopes).reached:
            raise Unavailable("saved, but cached copies could not be retired yet: send it again")

    def commit(self, writes: Sequence[Write]) -> str:
        client = self._client()

        def since(version: str) -> Any:
            return client.write_option(last_update_time=last_update_time(version))

        with self.batch(conflict=None) as batch:
            for write in writes:
                match write:
                    case CreateOrder(order=order):
                        batch.create(order_ref(client, order.id), order_data(order))
                    case UpdateOrder(order=order, expected_version=version):
                        batch.update(
                            order_ref(client, order.id), order_data(order), option=since(version)
                        )
                    case PutLevel(level=record, expected_version=None):
                        ref = level_ref(client, record.store_id, record.variant_id)
                        batch.create(ref, level_data(record))
                    case PutLevel(level=record, expected_version=str() as version):
                        ref = level_ref(client, record.store_id, record.variant_id)
                        batch.update(ref, level_data(record), option=since(version))
                    case AddMovement(movement=row):
                        batch.create(movement_ref(client, row), movement_data(row))
                    case AddEffectMarker(order_id=order_id, effect=effect, at=at):
                        batch.create(
                            effect_ref(client, order_id, effect),
                            effect_data(
                                order_id=order_id,
                                effect=effect,
                                at=at,
                                amount=write.amount,
                                currency=write.currency,
                            ),
                        )
                    case UpdateCustomer(uid=uid, expected_version=version):
                        batch.update(
                            user_ref(client, uid), standing_update(write), option=since(version)
                        )
                    case PutIdempotencyKey(record=record, expected_version=None):
                        batch.create(idempotency_ref(client, record.id), idempotency_data(record))
                    case PutIdempotencyKey(record=record, expected_version=str() as version):
                        batch.update(
                            idempotency_ref(client, record.id),
                            idempotency_data(record),
                            option=since(version),
                        )
                    case RecordCodeUse(use=use, times_used=times_used, expected_version=version):
                        batch.update(
                            code_ref(client, use.code),
                            {"times_used": times_used},
                            option=since(version),
                        )
                        mine = customer_uses_ref(client, use.code, use.user_id)
                        counted = customer_uses_data(write)
                        if write.customer_version is None:
                            batch.create(mine, counted)
                        else:
                            batch.update(mine, counted, option=since(write.customer_version))
                        batch.create(code_use_ref(client, use), code_use_data(use))
                    case ClearCartLines(uid=uid, lines=lines):
                        for variant_id, version in lines:
                            batch.delete(
                                cart_line_ref(client, uid, variant_id), option=since(version)
                            )
                    case PutHolds(holds=holds, expected_version=None):
                        batch.create(holds_ref(client, holds.uid), holds_data(holds))
                    case PutHolds(holds=holds, expected_version=str() as version):
                        batch.update(
                            holds_ref(client, holds.uid), holds_data(holds), option=since(version)
                        )
                    case _:  # pragma: no cover - the union is closed
                        raise TypeError(f"unknown write {write!r}")
        return batch.version  # the block ended: the batch committed
