"""Firestore repository of tax rates (``tax_rates/{country}``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from celeste.kernel.errors import NotFound
from celeste.kernel.versions import Versioned
from celeste.pricing.tax import TaxRate
from celeste_functions.adapters.firestore import precondition, version_of

if TYPE_CHECKING:
    from google.cloud import firestore

    from celeste_functions.adapters.writer import FirestoreWriter

TAX_RATES = "tax_rates"


class FirestoreTaxRates:
    """``TaxRateRepository`` on Firestore."""

    def __init__(self, *, client: Callable[[], firestore.Client], writer: FirestoreWriter) -> None:
        self._client = client
        self._writer = writer

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
        with self._writer.batch() as batch:
            if expected_version is None:
                batch.set(document, data)
            else:
                batch.update(document, data, option=precondition(self._client(), expected_version))
        found = self.get(rate.country)
        if found is None:  # deleted in the instant since: as if never written
            raise NotFound(f"no tax rate for {rate.country}")
        return found

    def delete(self, country: str, *, expected_version: str | None) -> None:
        option = precondition(self._client(), expected_version, delete=True)
        with self._writer.batch() as batch:
            batch.delete(self._col().document(country), option=option)
