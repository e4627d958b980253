"""Firestore repository of discount codes (``discount_codes/{code}``), each customer's count of
uses (``.../customers/{uid}``) and the use ledger (``.../uses/{order_id}-{use|return}``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celeste.kernel.errors import NotFound
from celeste.kernel.paging import Page
from celeste.kernel.versions import Versioned
from celeste.pricing.discount_codes import CodeUse, DiscountCode
from celeste.writes import RecordCodeUse
from celeste_functions.adapters.firestore import (
    QueryShape,
    keyset_page,
    precondition,
    storage_errors,
    version_of,
)

if TYPE_CHECKING:
    from google.cloud import firestore

DISCOUNT_CODES = "discount_codes"
CUSTOMERS = "customers"
USES = "uses"

_BY_CODE = QueryShape(DISCOUNT_CODES, order=("code", "__name__"))
#: What an admin may write; ``times_used`` belongs to the reservation trigger.
_ADMIN_FIELDS = set(DiscountCode.model_fields) - {"code", "times_used", "created_at"}


def code_ref(client: Any, code: str) -> Any:
    """The code's document."""
    return client.collection(DISCOUNT_CODES).document(code)


def customer_uses_ref(client: Any, code: str, uid: str) -> Any:
    """The document counting one customer's uses of a code."""
    return code_ref(client, code).collection(CUSTOMERS).document(uid)


def code_use_ref(client: Any, use: CodeUse) -> Any:
    """The ledger row of an order's use of a code (or of the use's return)."""
    return code_ref(client, use.code).collection(USES).document(use.id)


def code_use_data(use: CodeUse) -> dict[str, Any]:
    """A ledger row as stored."""
    return use.model_dump()


def customer_uses_data(write: RecordCodeUse) -> dict[str, Any]:
    """A customer's count of uses as a counted (or returned) use leaves it."""
    return {"used": write.customer_uses, "updated_at": write.use.at}


class FirestoreDiscountCodes:
    """``DiscountCodeRepository`` on Firestore."""

    def __init__(self, *, client: Callable[[], firestore.Client]) -> None:
        self._client = client

    def _col(self) -> firestore.CollectionReference:
        return self._client().collection(DISCOUNT_CODES)

    def find(self, code: str) -> Versioned[DiscountCode] | None:
        snapshot = self._col().document(code).get()
        if not snapshot.exists:
            return None
        return Versioned(_code(snapshot.id, snapshot.to_dict() or {}), version_of(snapshot))

    def get(self, code: str) -> Versioned[DiscountCode]:
        found = self.find(code)
        if found is None:
            raise NotFound(f"no discount code {code}")
        return found

    def page(self, *, limit: int, cursor: str | None) -> Page[DiscountCode]:
        return keyset_page(
            _BY_CODE.build(self._col()),
            collection=self._col(),
            order_field="code",
            limit=limit,
            cursor=cursor,
            parse=lambda s: _code(s.id, s.to_dict() or {}),
            key=lambda code: code.code,
            value_type=str,
        )

    def create(self, code: DiscountCode) -> Versioned[DiscountCode]:
        with storage_errors(conflict=f"discount code {code.code} already exists"):
            self._col().document(code.code).create(code.model_dump())
        return self.get(code.code)

    def replace(self, code: DiscountCode, *, expected_version: str) -> Versioned[DiscountCode]:
        option = precondition(self._client(), expected_version)
        data = code.model_dump(include=_ADMIN_FIELDS)
        with storage_errors():
            self._col().document(code.code).update(data, option=option)
        return self.get(code.code)

    def delete(self, code: str, *, expected_version: str) -> None:
        option = precondition(self._client(), expected_version, delete=True)
        with storage_errors():
            self._col().document(code).delete(option=option)

    def customer_uses(self, code: str, uid: str) -> Versioned[int] | None:
        snapshot = customer_uses_ref(self._client(), code, uid).get()
        if not snapshot.exists:
            return None
        return Versioned(int((snapshot.to_dict() or {}).get("used", 0)), version_of(snapshot))


def _code(code: str, data: dict[str, Any]) -> DiscountCode:
    return DiscountCode.model_validate({**data, "code": code})
