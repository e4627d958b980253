"""The one optimistic commit: orders, stock levels, ledger rows, effect markers, customer stats,
idempotency keys, discount code uses and the emptied cart written together; each document's
path and fields come from its owner."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

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
from celeste_functions.adapters.firestore import last_update_time, storage_errors
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

if TYPE_CHECKING:
    from google.cloud import firestore


class FirestoreWriter:
    """``AtomicWriter``: one batch; updates carry ``last_update_time`` preconditions, creates
    require absence, so the whole batch fails if any document moved since it was read."""

    def __init__(self, *, client: Callable[[], firestore.Client]) -> None:
        self._client = client

    def commit(self, writes: Sequence[Write]) -> None:
        client = self._client()
        batch = client.batch()

        def since(version: str) -> Any:
            return client.write_option(last_update_time=last_update_time(version))

        for write in writes:
            match write:
                case CreateOrder(order=order):
                    batch.create(order_ref(client, order.id), order_data(order))
                case UpdateOrder(order=order, expected_version=version):
                    batch.update(
                        order_ref(client, order.id), order_data(order), option=since(version)
                    )
                case PutLevel(level=record, expected_version=None):
                    ref = level_ref(client, record.store_id, record.product_id)
                    batch.create(ref, level_data(record))
                case PutLevel(level=record, expected_version=str() as version):
                    ref = level_ref(client, record.store_id, record.product_id)
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
                    for product_id, version in lines:
                        batch.delete(cart_line_ref(client, uid, product_id), option=since(version))
                case PutHolds(holds=holds, expected_version=None):
                    batch.create(holds_ref(client, holds.uid), holds_data(holds))
                case PutHolds(holds=holds, expected_version=str() as version):
                    batch.update(
                        holds_ref(client, holds.uid), holds_data(holds), option=since(version)
                    )
                case _:  # pragma: no cover - the union is closed
                    raise TypeError(f"unknown write {write!r}")
        with storage_errors(conflict=None):
            batch.commit()
