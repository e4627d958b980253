"""Firestore plumbing every repository shares: versions, preconditions, cursors, error mapping,
and the registry of query shapes that ``firestore.indexes.json`` must cover."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from celeste.cursors import decode_cursor, encode_cursor, refused
from celeste.errors import Conflict, Contention, PreconditionFailed
from celeste.ids import is_valid_id
from celeste.ports import Page

if TYPE_CHECKING:
    from google.cloud.firestore import CollectionReference, DocumentSnapshot, Query

T = TypeVar("T")


def version_of(snapshot: DocumentSnapshot[Any]) -> str:
    """The document's version: its update time in nanoseconds, as an opaque string."""
    return version_at(snapshot.update_time)


def version_at(update_time: Any) -> str:
    """The version of an update time (a snapshot's, or a write result's)."""
    stamp = update_time.timestamp_pb()
    return str(stamp.seconds * 1_000_000_000 + stamp.nanos)


def fields(snapshot: DocumentSnapshot[Any]) -> dict[str, Any]:
    """The document's decoded fields, without ``to_dict()``'s deep copy (a third of a product
    page's CPU): for snapshots read and dropped at once, never for ones kept and mutated."""
    data = getattr(snapshot, "_data", None)
    if isinstance(data, dict):
        return data
    return snapshot.to_dict() or {}


def last_update_time(version: str) -> Any:
    """The ``last_update_time`` precondition for a version from :func:`version_of`."""
    from google.protobuf.timestamp_pb2 import Timestamp

    try:
        nanos = int(version)
    except ValueError:
        raise PreconditionFailed("If-Match does not name a version of this resource") from None
    return Timestamp(seconds=nanos // 1_000_000_000, nanos=nanos % 1_000_000_000)


def precondition(client: Any, expected_version: str | None, *, delete: bool = False) -> Any:
    """The write option guarding a write: the version read (``If-Match`` or the service's own
    read), else for a delete that the document exists. ``None`` for an unversioned update,
    which Firestore already refuses on a missing document (and takes no ``exists`` option)."""
    if expected_version:
        return client.write_option(last_update_time=last_update_time(expected_version))
    return client.write_option(exists=True) if delete else None


@contextmanager
def storage_errors(*, conflict: str | None = "the resource already exists") -> Iterator[None]:
    """Translate Firestore's write failures into domain errors (the one translator).

    A document to create that exists is ``Conflict(conflict)``; with ``conflict=None`` (a batch
    whose creates are idempotency records: a ledger row, an effect marker, an order id) it is a
    lost race like a moved version or a vanished document, ``PreconditionFailed``: re-read and
    decide again. A busy or aborting database is ``Contention`` (503 with ``Retry-After``).
    """
    from google.api_core import exceptions as gexc

    try:
        yield
    except gexc.AlreadyExists:
        if conflict is None:
            raise PreconditionFailed("a concurrent write won: the document exists") from None
        raise Conflict(conflict) from None
    except gexc.FailedPrecondition:
        raise PreconditionFailed("the resource changed since it was read") from None
    except gexc.NotFound:
        raise PreconditionFailed("the resource was deleted since it was read") from None
    except (
        gexc.Aborted,
        gexc.DeadlineExceeded,
        gexc.ServiceUnavailable,
        gexc.TooManyRequests,
        gexc.ResourceExhausted,
    ):
        raise Contention("the database is busy; retry shortly", retry_after_s=1) from None


def count_of(query: Any) -> int:
    """How many documents ``query`` (a query or a collection) matches: one aggregation read.

    ``Any`` because the SDK annotates ``count()`` as returning the aggregation *class*.
    """
    results = query.count().get()
    return int(results[0][0].value)


def keyset_page(
    query: Query,
    *,
    collection: CollectionReference,
    order_field: str,
    limit: int,
    cursor: str | None,
    parse: Callable[[DocumentSnapshot[Any]], T],
    key: Callable[[T], Any],
    value_type: type | tuple[type, ...] = object,
) -> Page[T]:
    """One page of ``query`` (ordered by ``order_field``, then document id) after ``cursor``.

    Reads ``limit + 1`` documents: the extra one only tells whether another page exists. A
    cursor whose order value is not a ``value_type`` (or a naive datetime) is a 400.
    """
    if cursor:
        value, last_id = decode_cursor(cursor, arity=2)
        naive = isinstance(value, datetime) and value.tzinfo is None
        wrong = not isinstance(value, value_type) or isinstance(value, bool) or naive
        if wrong or not isinstance(last_id, str) or not is_valid_id(last_id):
            raise refused()
        query = query.start_after({order_field: value, "__name__": collection.document(last_id)})
    snapshots = list(query.limit(limit + 1).stream())
    items = [parse(s) for s in snapshots[:limit]]
    next_cursor = None
    if len(snapshots) > limit:
        next_cursor = encode_cursor([key(items[-1]), snapshots[limit - 1].id])
    return Page(items, next_cursor)


@dataclass(frozen=True)
class QueryShape:
    """A query the code runs: equality filters, ``in`` filters, then order fields. Composite ones
    need an entry in ``firestore.indexes.json``; ``tests/unit/test_indexes.py`` checks each."""

    collection: str
    equals: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    order: tuple[str, ...] = ()
    #: The order fields run largest first (newest first); their index fields are DESCENDING.
    descending: bool = False
    #: A collection-group query: its indexes have scope COLLECTION_GROUP, and each filtered
    #: field needs a ``fieldOverrides`` entry with that scope (Firestore makes none by itself).
    group: bool = False

    def __post_init__(self) -> None:
        QUERY_SHAPES.append(self)

    @property
    def index_fields(self) -> tuple[str, ...]:
        """The fields of the composite index, in order (document id ordering is implicit)."""
        filtered = (*self.equals, *self.members)
        ordered = tuple(f for f in self.order if f != "__name__" and f not in filtered)
        return (*filtered, *ordered)

    @property
    def needs_composite_index(self) -> bool:
        """Firestore serves single-field queries (and equality-only ones) without a composite."""
        filtered = len(self.equals) + len(self.members)
        return len(self.index_fields) > filtered and len(self.index_fields) > 1

    def build(
        self,
        source: Query | CollectionReference,
        *,
        equals: dict[str, Any] | None = None,
        members: dict[str, list[Any]] | None = None,
    ) -> Query:
        """Apply this shape to ``source`` (a collection or a query); the filters given must be
        exactly the shape's."""
        from google.cloud.firestore import FieldFilter

        # A collection reference answers every Query method (each builds a query over it); the
        # SDK types them apart, so the unfiltered shape is the one place they meet.
        query = cast("Query", source)

        equals, members = equals or {}, members or {}
        if set(equals) != set(self.equals) or set(members) != set(self.members):
            raise AssertionError(f"query {self} built with {sorted(equals)} {sorted(members)}")
        for name in self.equals:
            query = query.where(filter=FieldFilter(name, "==", equals[name]))
        for name in self.members:
            query = query.where(filter=FieldFilter(name, "in", members[name]))
        direction = "DESCENDING" if self.descending else "ASCENDING"
        for name in self.order:
            query = query.order_by(name, direction=direction)
        return query


QUERY_SHAPES: list[QueryShape] = []
