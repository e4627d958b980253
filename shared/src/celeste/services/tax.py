"""Tax rate use cases: admins set a rate per country; pricing reads it through the cache."""

from __future__ import annotations

from celeste.clock import Clock, utcnow
from celeste.errors import NotFound
from celeste.ports import NoCache, ReadCache, TaxRateRepository, Versioned
from celeste.services.concurrency import check_version
from celeste.tax import TaxRate, TaxRateBody

#: Cache scope of tax reads; every write to ``tax_rates`` retires it.
CACHE_SCOPE = "tax_rates"


class TaxRateService:
    """Tax rates per country over a repository and a read cache."""

    def __init__(
        self,
        *,
        repository: TaxRateRepository,
        cache: ReadCache | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self._repo = repository
        self._cache: ReadCache = cache if cache is not None else NoCache()
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
        """The rate that taxes an order to ``country`` now, through the cache."""

        def compute() -> dict[str, object] | None:
            found = self._repo.get(country)
            return None if found is None else found.value.model_dump(mode="json")

        lookup = self._cache.get_or_compute(scope=CACHE_SCOPE, key=country, compute=compute)
        return None if lookup.value is None else TaxRate.model_validate(lookup.value)
