"""Firestore repository of tax rates (``tax_rates/{country}``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from celeste.errors import NotFound
from celeste.ports import Versioned
from celeste.tax import TaxRate
from celeste_functions.adapters.firestore import precondition, storage_errors, version_of

if TYPE_CHECKING:
    from google.cloud import firestore

TAX_RATES = "tax_rates"


class FirestoreTaxRates:
    """``TaxRateRepository`` on Firestore."""

    def __init__(self, *, client: Callable[[], firestore.Client]) -> None:
        self._client = client

    def _col(self) -> firestore.CollectionReference:
        return self._client().collection(TAX_RATES)

    def get(self, country: str) -> Versioned[TaxRate] | None:
        snapshot = self._col().document(country).get()
        if not snapshot.exists:
            return None
        rate = TaxRate.model_validate({**(snapshot.to_dict() or {}), "country": snapshot.id})
        return Versioned(rate, version_of(snapshot))

    def rate(self, country: str) -> TaxRate | None:
        found = self.get(country)
        return None if found is None else found.value

    def put(self, rate: TaxRate, *, expected_version: str | None) -> Versioned[TaxRate]:
        document = self._col().document(rate.country)
        data = rate.model_dump(exclude={"country"})
        with storage_errors():
            if expected_version is None:
                document.set(data)
            else:
                document.update(data, option=precondition(self._client(), expected_version))
        found = self.get(rate.country)
        if found is None:  # deleted in the instant since: as if never written
            raise NotFound(f"no tax rate for {rate.country}")
        return found

    def delete(self, country: str, *, expected_version: str | None) -> None:
        option = precondition(self._client(), expected_version, delete=True)
        with storage_errors():
            self._col().document(country).delete(option=option)
