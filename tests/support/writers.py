"""The writer adapter tests give the owners: every commit goes through ``FirestoreWriter``, whose
cache here has neither Redis nor epochs, so retiring scopes does nothing (tests that check
retirement build the composition, or a writer on their own cache)."""

from __future__ import annotations

from google.cloud import firestore

from celeste_functions.adapters.cache import Cache
from celeste_functions.adapters.writer import FirestoreWriter


def uncached_writer(db: firestore.Client) -> FirestoreWriter:
    """A writer committing to ``db`` with no cache to retire."""
    return FirestoreWriter(client=lambda: db, cache=Cache(client=lambda: None, ttl_s=60))
