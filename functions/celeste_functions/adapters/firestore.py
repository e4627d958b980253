"""Firestore plumbing every repository shares: versions, preconditions, cursors, error mapping,
and the registry of query shapes that ``firestore.indexes.json`` must cover."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, cast

from celeste.kernel.cursors import decode_cursor, encode_cursor, refused
from celeste.kernel.errors import Conflict, Contention, PreconditionFailed
from celeste.kernel.ids import is_valid_id
from celeste.kernel.paging import Page
from celeste.services.retry import Backoff, optimistic

if TYPE_CHECKING:
    from google.cloud.firestore import CollectionReference, DocumentSnapshot, Query
    from google.protobuf.timestamp_pb2 import Timestamp

T = TypeVar("T")
#: How hard a query read retries while Firestore is unavailable (then 503, ``Retry-After``).
READ_BACKOFF = Backoff(attempts=4, base_s=0.05, cap_s=0.5, budget_s=3.0)
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A document a query returned, decoded straight from the wire (see :func:`read_query`):
    what the repositories use of a ``DocumentSnapshot``, without its per-document copies."""

    #: The document's path below the database, e.g. ``stores/s1/inventory/p1``.
    path: str
    data: dict[str, Any]
    #: The protobuf ``Timestamp`` of the document's last write (see :func:`version_of`).
    update_time: Timestamp

    @property
    def id(self) -> str:
        """The document id (the path's last segment)."""
        return self.path.rpartition("/")[2]

    @property
    def exists(self) -> bool:
        """Always: a query returns only documents that exist."""
        return True

    def to_dict(self) -> dict[str, Any]:
        """The fields (decoded for this read alone, so no copy is needed)."""
        return self.data


def version_of(snapshot: DocumentSnapshot[Any] | StoredDocument) -> str:
    """The document's version: its update time in nanoseconds, as an opaque string."""
    return version_at(snapshot.update_time)


def version_at(update_time: Any) -> str:
    """The version of an update time (a snapshot's, a write result's, or a protobuf one)."""
    to_pb = getattr(update_time, "timestamp_pb", None)
    stamp = to_pb() if to_pb is not None else update_time
    return str(stamp.seconds * 1_000_000_000 + stamp.nanos)


def fields(snapshot: DocumentSnapshot[Any] | StoredDocument) -> dict[str, Any]:
    """The document's decoded fields, without ``to_dict()``'s deep copy: for snapshots read
    and dropped at once, never for ones kept and mutated."""
    if isinstance(snapshot, StoredDocument):
        return snapshot.data
    data = getattr(snapshot, "_data", None)
    if isinstance(data, dict):
        return data
    return snapshot.to_dict() or {}


def document_path(snapshot: DocumentSnapshot[Any] | StoredDocument) -> str:
    """The document's path below the database (``stores/s1/inventory/p1``)."""
    if isinstance(snapshot, StoredDocument):
        return snapshot.path
    return str(snapshot.reference.path)


def read_query(query: Query | CollectionReference) -> list[StoredDocument]:
    """Every document ``query`` returns, read with one ``RunQuery`` call and decoded from the
    raw protobuf messages.

    ``Query.stream()`` wraps each result in proto-plus, builds a ``DocumentSnapshot`` (which
    deep-copies its fields) and a nanosecond datetime per timestamp: two thirds of a product
    page's read CPU. This sends the request the SDK would (its ``_to_protobuf``, its GAPIC
    client with its retry, timeout and metadata) and decodes the fields itself; values other
    than the common scalars, arrays and maps go through the SDK's own ``decode_value``.
    ``tests/integration/test_firestore_reads.py`` compares the two on every value type. A
    stream broken part-way (Firestore unavailable) is read again from the start, then is
    ``Contention`` (503).
    """
    from google.cloud.firestore_v1.base_collection import BaseCollectionReference
    from google.cloud.firestore_v1.types import firestore as firestore_types

    if isinstance(query, BaseCollectionReference):
        query = query._query()  # a whole collection: the query the SDK runs for it
    client = query._client
    parent, _ = query._parent._parent_info()
    request = {"parent": parent, "structured_query": query._to_protobuf()}
    prefix = f"{client._database_string}/documents/"
    unwrap = firestore_types.RunQueryResponse.pb

    def attempt() -> list[StoredDocument]:
        found = []
        with storage_errors():
            responses = client._firestore_api.run_query(
                request=request, metadata=client._rpc_metadata
            )
            for response in responses:
                raw = unwrap(response)
                if not raw.HasField("document"):
                    continue  # a progress message (read time, skipped results) or the last one
                doc = raw.document
                data = {name: _decode(value, client) for name, value in doc.fields.items()}
                found.append(StoredDocument(doc.name.removeprefix(prefix), data, doc.update_time))
        return found

    return optimistic(attempt, backoff=READ_BACKOFF, what="query read", lost=(Contention,))


def _decode(value: Any, client: Any) -> Any:
    """A protobuf ``Value`` as the SDK decodes it (``_helpers.decode_value``), the frequent
    kinds inline; timestamps are plain UTC datetimes (Firestore keeps microseconds)."""
    kind = value.WhichOneof("value_type")
    if kind == "string_value":
        return value.string_value
    if kind == "integer_value":
        return value.integer_value
    if kind == "boolean_value":
        return value.boolean_value
    if kind == "null_value":
        return None
    if kind == "double_value":
        return value.double_value
    if kind == "timestamp_value":
        stamp = value.timestamp_value
        if stamp.nanos % 1000 == 0:
            return _UNIX_EPOCH + timedelta(seconds=stamp.seconds, microseconds=stamp.nanos // 1000)
    elif kind == "array_value":
        return [_decode(item, client) for item in value.array_value.values]
    elif kind == "map_value" and "__type__" not in value.map_value.fields:  # not a vector
        return {name: _decode(item, client) for name, item in value.map_value.fields.items()}
    from google.cloud.firestore_v1 import _helpers

    return _helpers.decode_value(value, client)


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
    parse: Callable[[StoredDocument], T],
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
    snapshots = read_query(query.limit(limit + 1))
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
    #: ``array_contains`` filters (on an array field: a document whose array holds the value).
    contains: tuple[str, ...] = ()
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
        filtered = (*self.equals, *self.members, *self.contains)
        ordered = tuple(f for f in self.order if f != "__name__" and f not in filtered)
        return (*filtered, *ordered)

    @property
    def needs_composite_index(self) -> bool:
        """Firestore serves single-field queries (and equality-only ones) without a composite."""
        filtered = len(self.equals) + len(self.members) + len(self.contains)
        return len(self.index_fields) > filtered and len(self.index_fields) > 1

    def build(
        self,
        source: Query | CollectionReference,
        *,
        equals: dict[str, Any] | None = None,
        members: dict[str, list[Any]] | None = None,
        contains: dict[str, Any] | None = None,
    ) -> Query:
        """Apply this shape to ``source`` (a collection or a query); the filters given must be
        exactly the shape's."""
        from google.cloud.firestore import FieldFilter

        # A collection reference answers every Query method (each builds a query over it); the
        # SDK types them apart, so the unfiltered shape is the one place they meet.
        query = cast("Query", source)

        equals, members, contains = equals or {}, members or {}, contains or {}
        if (
            set(equals) != set(self.equals)
            or set(members) != set(self.members)
            or set(contains) != set(self.contains)
        ):
            raise AssertionError(
                f"query {self} built with {sorted(equals)} {sorted(members)} {sorted(contains)}"
            )
        for name in self.equals:
            query = query.where(filter=FieldFilter(name, "==", equals[name]))
        for name in self.members:
            query = query.where(filter=FieldFilter(name, "in", members[name]))
        for name in self.contains:
            query = query.where(filter=FieldFilter(name, "array_contains", contains[name]))
        direction = "DESCENDING" if self.descending else "ASCENDING"
        for name in self.order:
            query = query.order_by(name, direction=direction)
        return query


QUERY_SHAPES: list[QueryShape] = []
