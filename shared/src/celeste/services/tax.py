"""Tax rate use cases: admins set a rate per country; pricing reads the rate of an order's."""

from __future__ import annotations

from celeste.kernel.clock import Clock, utcnow
from celeste.kernel.errors import NotFound
from celeste.kernel.versions import Versioned
from celeste.ports.pricing import TaxRateRepository
from celeste.pricing.tax import TaxRate, TaxRateBody
from celeste.services.versioned import check_version


class TaxRateService:
    """Tax rates per country over a repository (whose ``rate`` may be cached)."""

    def __init__(self, *, repository: TaxRateRepository, clock: Clock = utcnow) -> None:
        self._repo = repository
        self._clock = clock

    def get(self, country: str) -> Versioned[TaxRate]:
        """Admin: the country's stored rate, or ``NotFound``."""
        found = self._repo.get(country)
        if found is None:
            raise NotFound(f"no tax rate for {country}: it is taxed 0")
        return found

    def put(
        self, country: str, body: TaxRateBody, *, expected_version: str | None
    ) -> tuple[Versioned[TaxRate], bool]:
        """Set the country's rate; returns it and whether it was created."""
        current = self._repo.get(country)
        if expected_version is not None:
            if current is None:
                raise NotFound(f"no tax rate for {country}")
            check_version(current=current.version, expected=expected_version, what=country)
        created = current is None
        rate = TaxRate(country=country, updated_at=self._clock(), **body.model_dump())
        return self._repo.put(rate, expected_version=expected_version), created

    def delete(self, country: str, *, expected_version: str | None) -> None:
        """Remove the country's rate (it is then taxed 0); ``NotFound`` when it has none."""
        current = self.get(country)
        check_version(current=current.version, expected=expected_version, what=country)
        self._repo.delete(country, expected_version=current.version)

    def rate_for(self, country: str) -> TaxRate | None:
        """The rate that taxes an order to ``country`` now (the repository's read model,
        cached in production)."""
        return self._repo.rate(country)
