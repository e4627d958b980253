"""The composition root: which adapter backs which port, built once per process."""

from __future__ import annotations

from dataclasses import dataclass

from celeste.services.categories import CategoryService
from celeste_functions.adapters.cache import Cache
from celeste_functions.adapters.categories import FirestoreCategories
from celeste_functions.clients import Lazy, firestore_client, redis_client
from celeste_functions.config import settings


@dataclass(frozen=True)
class Services:
    """Everything the handlers and triggers call."""

    categories: CategoryService
    cache: Cache


def _build() -> Services:
    return Services(
        categories=CategoryService(repository=FirestoreCategories(client=firestore_client.get)),
        cache=Cache(client=redis_client.get, ttl_s=settings().cache_ttl_s),
    )


services: Lazy[Services] = Lazy(_build)


def use(replacement: Services) -> None:
    """Back the functions with ``replacement`` (tests wire in-memory fakes this way)."""
    services._value = replacement
