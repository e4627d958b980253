"""Owner of ``webhooks/{id}`` (an endpoint and its secret, never readable by clients) and
``webhooks/{id}/deliveries/{event_id}`` (one event on its way to that endpoint):
``docs/webhooks.md``.

A claim is a Firestore transaction (``claim``: read, decide, write the lease), so of two tasks
claiming one attempt one commits and the other, run again, sees the lease. Recording an attempt
is one too (``record``): the delivery, the endpoint's run of failures and, on a deactivation,
the ``webhook.deactivated`` event, all or nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from celeste.kernel.errors import NotFound
from celeste.kernel.paging import Page
from celeste.kernel.versions import Versioned
from celeste.ports.webhooks import Recorded
from celeste.webhooks.deliveries import Delivery, DeliveryStatus
from celeste.webhooks.endpoints import StoredWebhook, Webhook
from celeste_functions.adapters.events import event_data, event_ref
from celeste_functions.adapters.firestore import (
    QueryShape,
    keyset_page,
    precondition,
    read_query,
    storage_errors,
    version_at,
    version_of,
)

if TYPE_CHECKING:
    from google.cloud import firestore

WEBHOOKS = "webhooks"
DELIVERIES = "deliveries"
AGGREGATE_ID = "aggregate.id"

_OLDEST = QueryShape(WEBHOOKS, order=("created_at", "__name__"))
_EVERY = QueryShape(WEBHOOKS)
_NEWEST = QueryShape(DELIVERIES, order=("created_at", "__name__"), descending=True)
_NEWEST_OF = QueryShape(
    DELIVERIES, equals=("status",), order=("created_at", "__name__"), descending=True
)
_PENDING = QueryShape(DELIVERIES, equals=("status",))
#: The aggregate's pending deliveries by sequence (the successor of a settled one).
_NEXT = QueryShape(DELIVERIES, equals=(AGGREGATE_ID, "status"), order=("sequence",))
#: Deleting an endpoint deletes its deliveries this many at a time.
_DELETE_CHUNK = 400


def webhook_ref(client: firestore.Client, webhook_id: str) -> firestore.DocumentReference:
    """The document of an endpoint."""
    return client.collection(WEBHOOKS).document(webhook_id)


def delivery_ref(client: firestore.Client, webhook_id: str, event_id: str) -> Any:
    """The document of one event's delivery to one endpoint."""
    return webhook_ref(client, webhook_id).collection(DELIVERIES).document(event_id)


def _webhook_data(stored: StoredWebhook) -> dict[str, Any]:
    return {**stored.webhook.model_dump(exclude={"id"}), "secret": stored.secret}


def _stored(webhook_id: str, data: dict[str, Any]) -> StoredWebhook:
    fields = dict(data)
    secret = str(fields.pop("secret", ""))
    return StoredWebhook(webhook=Webhook(id=webhook_id, **fields), secret=secret)


def _delivery_data(delivery: Delivery) -> dict[str, Any]:
    return delivery.model_dump(mode="python", exclude={"event_id"})


def _delivery(event_id: str, data: dict[str, Any]) -> Delivery:
    return Delivery.model_validate({**data, "event_id": event_id})


class FirestoreWebhooks:
    """``WebhookRepository`` on Firestore."""

    def __init__(self, *, client: Callable[[], firestore.Client]) -> None:
        self._client = client

    def _col(self) -> firestore.CollectionReference:
        return self._client().collection(WEBHOOKS)

    def _deliveries(self, webhook_id: str) -> Any:
        return webhook_ref(self._client(), webhook_id).collection(DELIVERIES)

    def create(self, stored: StoredWebhook) -> Versioned[Webhook]:
        with storage_errors(conflict=f"webhook {stored.webhook.id} already exists"):
            result = webhook_ref(self._client(), stored.webhook.id).create(_webhook_data(stored))
        return Versioned(stored.webhook, version_at(result.update_time))

    def get(self, webhook_id: str) -> Versioned[StoredWebhook]:
        with storage_errors():
            snapshot = webhook_ref(self._client(), webhook_id).get()
        if not snapshot.exists:
            raise NotFound(f"no webhook {webhook_id}")
        return Versioned(_stored(snapshot.id, snapshot.to_dict() or {}), version_of(snapshot))

    def list(self, *, limit: int, cursor: str | None) -> Page[Webhook]:
        return keyset_page(
            _OLDEST.build(self._col()),
            collection=self._col(),
            order_field="created_at",
            limit=limit,
            cursor=cursor,
            parse=lambda s: _stored(s.id, s.to_dict()).webhook,
            key=lambda webhook: webhook.created_at,
            value_type=datetime,
        )

    def endpoints(self) -> Sequence[Versioned[StoredWebhook]]:
        found = read_query(_EVERY.build(self._col()))
        return [Versioned(_stored(s.id, s.to_dict()), version_of(s)) for s in found]

    def replace(self, stored: StoredWebhook, *, expected_version: str) -> Versioned[Webhook]:
        client = self._client()
        with storage_errors():
            result = webhook_ref(client, stored.webhook.id).update(
                _webhook_data(stored), option=precondition(client, expected_version)
            )
        return Versioned(stored.webhook, version_at(result.update_time))

    def delete(self, webhook_id: str, *, expected_version: str) -> None:
        client = self._client()
        with storage_errors():
            webhook_ref(client, webhook_id).delete(
                option=precondition(client, expected_version, delete=True)
            )
            # Its deliveries after it: a task still queued finds the endpoint gone first.
            while True:
                docs = list(self._deliveries(webhook_id).limit(_DELETE_CHUNK).stream())
                if not docs:
                    break
                batch = client.batch()
                for doc in docs:
                    batch.delete(doc.reference)
                batch.commit()

    def create_delivery(self, webhook_id: str, delivery: Delivery) -> bool:
        from google.api_core import exceptions as gexc

        ref = delivery_ref(self._client(), webhook_id, delivery.event_id)
        with storage_errors():
            try:
                ref.create(_delivery_data(delivery))
            except gexc.AlreadyExists:
                return False  # the fan-out (or a parked successor) opened it already
        return True

    def delivery(self, webhook_id: str, event_id: str) -> Versioned[Delivery] | None:
        with storage_errors():
            snapshot = delivery_ref(self._client(), webhook_id, event_id).get()
        if not snapshot.exists:
            return None
        return Versioned(_delivery(snapshot.id, snapshot.to_dict() or {}), version_of(snapshot))

    def claim(
        self, webhook_id: str, event_id: str, decide: Callable[[Delivery], Delivery | None]
    ) -> Delivery | None:
        from google.cloud import firestore as fs

        client = self._client()
        ref = delivery_ref(client, webhook_id, event_id)

        @fs.transactional
        def run(transaction: Any) -> Delivery | None:
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists:
                return None
            leased = decide(_delivery(snapshot.id, snapshot.to_dict() or {}))
            if leased is not None:
                transaction.update(ref, _delivery_data(leased))
            return leased

        with storage_errors(conflict=None):
            result: Delivery | None = run(client.transaction())
        return result

    def record(
        self,
        webhook_id: str,
        event_id: str,
        decide: Callable[[Delivery, Webhook | None], Recorded | None],
    ) -> Recorded | None:
        from google.cloud import firestore as fs

        client = self._client()
        ref, endpoint_ref = (
            delivery_ref(client, webhook_id, event_id),
            webhook_ref(client, webhook_id),
        )

        @fs.transactional
        def run(transaction: Any) -> Recorded | None:
            snapshot = ref.get(transaction=transaction)
            endpoint = endpoint_ref.get(transaction=transaction)
            if not snapshot.exists:
                return None
            webhook = (
                _stored(endpoint.id, endpoint.to_dict() or {}).webhook if endpoint.exists else None
            )
            decided = decide(_delivery(snapshot.id, snapshot.to_dict() or {}), webhook)
            if decided is None:
                return None
            transaction.update(ref, _delivery_data(decided.delivery))
            if decided.endpoint is not None and webhook is not None:
                # Every field but the secret, which stays as stored.
                transaction.update(endpoint_ref, decided.endpoint.model_dump(exclude={"id"}))
            if decided.event is not None:
                transaction.create(event_ref(client, decided.event.id), event_data(decided.event))
            return decided

        with storage_errors(conflict=None):
            result: Recorded | None = run(client.transaction())
        return result

    def deliveries(
        self, webhook_id: str, *, status: DeliveryStatus | None, limit: int, cursor: str | None
    ) -> Page[Delivery]:
        col = self._deliveries(webhook_id)
        if status is None:
            query = _NEWEST.build(col)
        else:
            query = _NEWEST_OF.build(col, equals={"status": status.value})
        return keyset_page(
            query,
            collection=col,
            order_field="created_at",
            limit=limit,
            cursor=cursor,
            parse=lambda s: _delivery(s.id, s.to_dict()),
            key=lambda delivery: delivery.created_at,
            value_type=datetime,
        )

    def next_pending(
        self, webhook_id: str, *, aggregate_id: str, after_sequence: int
    ) -> Delivery | None:
        from google.cloud.firestore import FieldFilter

        query = _NEXT.build(
            self._deliveries(webhook_id),
            equals={AGGREGATE_ID: aggregate_id, "status": DeliveryStatus.PENDING.value},
        ).where(filter=FieldFilter("sequence", ">", after_sequence))
        found = read_query(query.limit(1))
        return _delivery(found[0].id, found[0].to_dict()) if found else None

    def pending(self, webhook_id: str, *, limit: int) -> Sequence[Delivery]:
        query = _PENDING.build(
            self._deliveries(webhook_id), equals={"status": DeliveryStatus.PENDING.value}
        )
        return [_delivery(s.id, s.to_dict()) for s in read_query(query.limit(limit))]
