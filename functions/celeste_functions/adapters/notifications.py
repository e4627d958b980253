"""Owner of ``users/{uid}/notifications/{event_id}`` (the inbox, with each channel's delivery
record under ``channels``) and ``users/{uid}/devices/{sha256 of the token}`` (push tokens; no
client reads them: ``firestore.rules``). ``docs/notifications.md``."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from celeste.kernel.errors import NotFound, PreconditionFailed
from celeste.kernel.paging import Page
from celeste.notifications.inbox import Channel, ChannelState, Notification
from celeste.services.retry import TRIGGER, optimistic
from celeste_functions.adapters.accounts import user_ref
from celeste_functions.adapters.firestore import (
    QueryShape,
    count_of,
    keyset_page,
    storage_errors,
)

if TYPE_CHECKING:
    from google.cloud import firestore

T = TypeVar("T")

NOTIFICATIONS = "notifications"
DEVICES = "devices"
#: At most this many devices a user (the oldest registrations beyond it are not pushed to).
MAX_DEVICES = 20

_NEWEST = ("created_at", "__name__")
_ALL = QueryShape(NOTIFICATIONS, order=_NEWEST, descending=True)
_UNREAD = QueryShape(NOTIFICATIONS, equals=("read_at",), order=_NEWEST, descending=True)
_UNREAD_ANY_ORDER = QueryShape(NOTIFICATIONS, equals=("read_at",))


def notification_ref(
    client: firestore.Client, uid: str, notification_id: str
) -> firestore.DocumentReference:
    """The inbox entry of a user."""
    ref: firestore.DocumentReference = (
        user_ref(client, uid).collection(NOTIFICATIONS).document(notification_id)
    )
    return ref


def device_key(token: str) -> str:
    """The document id of a push token (its hash: a token may hold any character)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _notification(snapshot: Any) -> Notification:
    return Notification.model_validate({**(snapshot.to_dict() or {}), "id": snapshot.id})


class FirestoreInbox:
    """``Inbox`` on Firestore; the delivery steps run in Firestore transactions."""

    def __init__(self, *, client: Callable[[], firestore.Client]) -> None:
        self._client = client

    def _col(self, uid: str) -> firestore.CollectionReference:
        col: firestore.CollectionReference = user_ref(self._client(), uid).collection(NOTIFICATIONS)
        return col

    def create(self, uid: str, notification: Notification) -> bool:
        data = notification.model_dump(exclude={"id"})
        try:
            with storage_errors(conflict=None):
                self._col(uid).document(notification.id).create(data)
        except PreconditionFailed:
            return False  # the entry exists: an earlier run made it
        return True

    def get(self, uid: str, notification_id: str) -> Notification:
        snapshot = self._col(uid).document(notification_id).get()
        if not snapshot.exists:
            raise NotFound(f"no notification {notification_id}")
        return _notification(snapshot)

    def page(self, uid: str, *, unread: bool, limit: int, cursor: str | None) -> Page[Notification]:
        col = self._col(uid)
        query = _UNREAD.build(col, equals={"read_at": None}) if unread else _ALL.build(col)
        return keyset_page(
            query,
            collection=col,
            order_field="created_at",
            limit=limit,
            cursor=cursor,
            parse=_notification,
            key=lambda notification: notification.created_at,
            value_type=datetime,
        )

    def unread_count(self, uid: str) -> int:
        return count_of(_UNREAD_ANY_ORDER.build(self._col(uid), equals={"read_at": None}))

    def mark_read(self, uid: str, notification_id: str, *, at: datetime) -> Notification:
        found = self.get(uid, notification_id)
        if found.read_at is not None:
            return found
        with storage_errors():
            self._col(uid).document(notification_id).update({"read_at": at})
        return found.model_copy(update={"read_at": at})

    def mark_all_read(self, uid: str, *, at: datetime) -> int:
        client = self._client()
        unread = _UNREAD_ANY_ORDER.build(self._col(uid), equals={"read_at": None})
        changed = 0
        while True:
            refs = [snapshot.reference for snapshot in unread.limit(400).stream()]
            if not refs:
                return changed
            batch = client.batch()
            for ref in refs:
                batch.update(ref, {"read_at": at})
            with storage_errors():
                batch.commit()
            changed += len(refs)

    def transition(
        self,
        uid: str,
        notification_id: str,
        channel: Channel,
        step: Callable[[ChannelState | None], tuple[ChannelState | None, T]],
    ) -> T:
        """Read the entry, apply ``step``, write its record under the entry's update time (a
        compare-and-set: the write fails if anything changed the entry since the read), and
        read and decide again after a lost race (``optimistic``). The optimistic form of a
        transaction: the emulator's pessimistic transactions stall under racing claims."""
        client = self._client()
        ref = notification_ref(client, uid, notification_id)

        def attempt() -> T:
            snapshot = ref.get()
            stored = (snapshot.to_dict() or {}).get("channels", {}) if snapshot.exists else {}
            raw = stored.get(channel) if isinstance(stored, dict) else None
            state = ChannelState.model_validate(raw) if isinstance(raw, dict) else None
            record, result = step(state)
            if record is not None and snapshot.exists:
                option = client.write_option(last_update_time=snapshot.update_time)
                with storage_errors():
                    ref.update({f"channels.{channel}": record.model_dump()}, option=option)
            return result

        return optimistic(attempt, backoff=TRIGGER, what=f"the {channel} of {notification_id}")


class FirestoreDevices:
    """``Devices`` on Firestore."""

    def __init__(self, *, client: Callable[[], firestore.Client]) -> None:
        self._client = client

    def _col(self, uid: str) -> firestore.CollectionReference:
        col: firestore.CollectionReference = user_ref(self._client(), uid).collection(DEVICES)
        return col

    def put(self, uid: str, token: str, *, platform: str | None, at: datetime) -> None:
        ref = self._col(uid).document(device_key(token))
        with storage_errors():
            ref.set({"token": token, "platform": platform, "updated_at": at}, merge=True)

    def delete(self, uid: str, token: str) -> None:
        with storage_errors():
            self._col(uid).document(device_key(token)).delete()

    def tokens(self, uid: str) -> list[str]:
        found = self._col(uid).limit(MAX_DEVICES).stream()
        return [str(token) for s in found if (token := (s.to_dict() or {}).get("token"))]
