"""Firestore plumbing every repository shares: versions, preconditions, cursors, error mapping,
and the registry of query shapes that ``firestore.indexes.json`` must cover."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from celeste.errors import Conflict, Contention, PreconditionFailed, ValidationFailed

if TYPE_CHECKING:
    from google.cloud.firestore import DocumentSnapshot, Query


def version_of(snapshot: DocumentSnapshot) -> str:
    """The document's version: its update time in nanoseconds, as an opaque string."""
    stamp = snapshot.update_time.timestamp_pb()  # type: ignore[union-attr]
    return str(stamp.seconds * 1_000_000_000 + stamp.nanos)


def last_update_time(version: str) -> Any:
    """The ``last_update_time`` precondition for a version from :func:`version_of`."""
    from google.protobuf.timestamp_pb2 import Timestamp

    try:
        nanos = int(version)
    except ValueError:
        raise PreconditionFailed("If-Match does not name a version of this resource") from None
    return Timestamp(seconds=nanos // 1_000_000_000, nanos=nanos % 1_000_000_000)


@contextmanager
def storage_errors(*, conflict: str = "the resource already exists") -> Iterator[None]:
    """Translate Firestore's write failures into domain errors (one place for all adapters)."""
    from google.api_core import exceptions as gexc

    try:
        yield
    except gexc.AlreadyExists:
        raise Conflict(conflict) from None
    except gexc.FailedPrecondition:
        raise PreconditionFailed("the resource changed since it was read") from None
    except gexc.NotFound:
        raise PreconditionFailed("the resource was deleted since it was read") from None
    except (gexc.Aborted, gexc.DeadlineExceeded, gexc.ServiceUnavailable, gexc.TooManyRequests):
        raise Contention("the database is busy; retry shortly", retry_after_s=1) from None


def encode_cursor(values: list[Any]) -> str:
    """An opaque cursor for the last item of a page: its order-by values."""
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, arity: int) -> list[Any]:
    """The values of a cursor from :func:`encode_cursor`, or 400 on anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed.on("cursor", "not a cursor this list returned") from None
    if not isinstance(values, list) or len(values) != arity:
        raise ValidationFailed.on("cursor", "not a cursor this list returned")
    return values


@dataclass(frozen=True)
class QueryShape:
    """A query the code runs: equality filters, then range/order fields. Composite ones need an
    entry in ``firestore.indexes.json``; ``tests/unit/test_indexes.py`` checks every shape."""

    collection: str
    equals: tuple[str, ...] = ()
    order: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        QUERY_SHAPES.append(self)

    @property
    def needs_composite_index(self) -> bool:
        """Firestore serves single-field queries (and equality-only ones) without a composite."""
        ordered = self.index_fields[len(self.equals) :]
        return len(ordered) > 0 and len(self.index_fields) > 1

    @property
    def index_fields(self) -> tuple[str, ...]:
        """The fields of the composite index, in order (document id ordering is implicit)."""
        ordered = tuple(f for f in self.order if f != "__name__" and f not in self.equals)
        return (*self.equals, *ordered)

    def build(self, query: Query, *, equals: dict[str, Any], descending: bool = False) -> Query:
        """Apply this shape to ``query``: ``equals`` must name exactly the shape's filters."""
        from google.cloud.firestore import FieldFilter
        from google.cloud.firestore import Query as Q

        if set(equals) != set(self.equals):
            raise AssertionError(f"query {self} built with filters {sorted(equals)}")
        for name in self.equals:
            query = query.where(filter=FieldFilter(name, "==", equals[name]))
        direction = Q.DESCENDING if descending else Q.ASCENDING
        for name in self.order:
            query = query.order_by(name, direction=direction)
        return query


QUERY_SHAPES: list[QueryShape] = []
