"""Counting the Firestore document reads a piece of code makes, per document.

Every read the adapters make goes through the client's GAPIC API: ``batch_get_documents``
(``DocumentReference.get``, ``Client.get_all``), ``run_query`` (``Query.stream`` and
``adapters.firestore.read_query``) and ``run_aggregation_query``. ``ReadCounter`` wraps those
three on one client and counts what Firestore bills as reads: each document a batched get asks
for (found or missing), each document a query returns, and one for a query that returns none or
an aggregation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from google.cloud import firestore

_DOCUMENTS = "/documents/"


def _path(name: str) -> str:
    return name.split(_DOCUMENTS, 1)[1] if _DOCUMENTS in name else name


class ReadCounter:
    """Reads per document path (``orders/abc``), a query that found nothing or an aggregation
    under ``query:<parent>/<collection>``."""

    def __init__(self) -> None:
        self.reads: Counter[str] = Counter()
        self.counting = True

    @property
    def total(self) -> int:
        return sum(self.reads.values())

    @contextmanager
    def measure(self) -> Iterator[Counter[str]]:
        """The reads made inside the block (a fresh ``Counter``)."""
        before = self.reads.copy()
        measured: Counter[str] = Counter()
        yield measured
        measured.update(self.reads - before)

    def install(self, db: firestore.Client, monkeypatch: pytest.MonkeyPatch) -> ReadCounter:
        api = db._firestore_api
        batch_get = api.batch_get_documents
        run_query = api.run_query
        aggregate = api.run_aggregation_query

        def counted_batch_get(*args: Any, **kwargs: Any) -> Iterator[Any]:
            for response in batch_get(*args, **kwargs):
                name = response.found.name if response.found.name else response.missing
                if name:
                    self.reads[_path(name)] += 1
                yield response

        def counted_query(*args: Any, **kwargs: Any) -> Iterator[Any]:
            request = kwargs.get("request") or args[0]
            found = 0
            for response in run_query(*args, **kwargs):
                if response.document.name:
                    found += 1
                    self.reads[_path(response.document.name)] += 1
                yield response
            if not found:
                self.reads[f"query:{_query_target(request)}"] += 1

        def counted_aggregate(*args: Any, **kwargs: Any) -> Iterator[Any]:
            request = kwargs.get("request") or args[0]
            self.reads[f"query:{_query_target(request)}"] += 1
            yield from aggregate(*args, **kwargs)

        monkeypatch.setattr(api, "batch_get_documents", counted_batch_get)
        monkeypatch.setattr(api, "run_query", counted_query)
        monkeypatch.setattr(api, "run_aggregation_query", counted_aggregate)
        return self


def _query_target(request: Any) -> str:
    def field(obj: Any, name: str) -> Any:
        return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)

    parent = str(field(request, "parent") or "")
    within = parent.split("/documents", 1)[1].strip("/") if "/documents" in parent else ""
    query = field(request, "structured_query")
    if query is None:
        query = field(field(request, "structured_aggregation_query"), "structured_query")
    collections = [c.collection_id for c in query.from_] if query is not None else []
    return "/".join(p for p in (within, *collections) if p) or "?"
