"""Firestore repository of shipping methods (``shipping_methods/{code}``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celeste.kernel.errors import NotFound
from celeste.kernel.versions import Versioned
from celeste.pricing.shipping import MAX_METHODS, ShippingMethod
from celeste_functions.adapters.firestore import precondition, version_of

if TYPE_CHECKING:
    from google.cloud import firestore

    from celeste_functions.adapters.writer import FirestoreWriter

SHIPPING_METHODS = "shipping_methods"


class FirestoreShippingMethods:
    """``ShippingMethodRepository`` on Firestore."""

    def __init__(self, *, client: Callable[[], firestore.Client], writer: FirestoreWriter) -> None:
        self._client = client
        self._writer = writer

    def _col(self) -> firestore.CollectionReference:
        return self._client().collection(SHIPPING_METHODS)

    def get(self, code: str) -> Versioned[ShippingMethod]:
        snapshot = self._col().document(code).get()
        if not snapshot.exists:
            raise NotFound(f"no shipping method {code}")
        return Versioned(_method(snapshot.id, snapshot.to_dict() or {}), version_of(snapshot))

    def all(self) -> list[ShippingMethod]:
        snapshots = self._col().limit(MAX_METHODS).stream()
        return sorted((_method(s.id, s.to_dict() or {}) for s in snapshots), key=lambda m: m.code)

    def on_offer(self) -> list[ShippingMethod]:
        return [method for method in self.all() if method.active]

    def create(self, method: ShippingMethod) -> Versioned[ShippingMethod]:
        with self._writer.batch(conflict=f"shipping method {method.code} already exists") as batch:
            batch.create(self._col().document(method.code), _data(method))
        return self.get(method.code)

    def replace(
        self, method: ShippingMethod, *, expected_version: str
    ) -> Versioned[ShippingMethod]:
        option = precondition(self._client(), expected_version)
        with self._writer.batch() as batch:
            batch.update(self._col().document(method.code), _data(method), option=option)
        return self.get(method.code)

    def delete(self, code: str, *, expected_version: str) -> None:
        option = precondition(self._client(), expected_version, delete=True)
        with self._writer.batch() as batch:
            batch.delete(self._col().document(code), option=option)


def _data(method: ShippingMethod) -> dict[str, Any]:
    return method.model_dump(exclude={"code"})


def _method(code: str, data: dict[str, Any]) -> ShippingMethod:
    return ShippingMethod.model_validate({**data, "code": code})
