"""``read_query`` (queries decoded from the raw protobuf) against the SDK's own ``stream()``, on
the Firestore emulator: the same documents, the same values, the same versions."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from google.api_core.datetime_helpers import DatetimeWithNanoseconds
from google.cloud import firestore
from google.cloud.firestore_v1.vector import Vector
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from celeste_functions.adapters.firestore import (
    StoredDocument,
    document_path,
    fields,
    read_query,
    version_of,
)

pytestmark = pytest.mark.integration

MOMENT = datetime(2026, 12, 1, 10, 30, 15, 123456, tzinfo=UTC)


def _sdk(query: Any) -> list[tuple[str, dict[str, Any], str]]:
    return [(s.reference.path, s.to_dict() or {}, version_of(s)) for s in query.stream()]


def _ours(query: Any) -> list[tuple[str, dict[str, Any], str]]:
    return [(document_path(d), d.to_dict(), version_of(d)) for d in read_query(query)]


def test_every_value_kind_decodes_as_the_sdk_does(db: firestore.Client) -> None:
    col = db.collection(f"reads-{uuid.uuid4().hex[:8]}")
    other = db.collection("elsewhere").document("target")
    value = {
        "null": None,
        "yes": True,
        "no": False,
        "int": 42,
        "int_min": -(2**63),
        "int_max": 2**63 - 1,
        "float": 2.5,
        "neg_zero": -0.0,
        "inf": math.inf,
        "text": "Pão de Açúcar ✓ 🍞",
        "empty_text": "",
        "bytes": b"\x00\xffraw",
        "when": MOMENT,
        "before_1970": datetime(1950, 6, 1, 0, 0, 0, 1, tzinfo=UTC),
        "nanos": DatetimeWithNanoseconds(2026, 1, 2, 3, 4, 5, nanosecond=123456789, tzinfo=UTC),
        "place": firestore.GeoPoint(38.7223, -9.1393),
        "ref": other,
        "vector": Vector([0.5, 1.5]),
        "list": [1, "two", None, 3.5, MOMENT, {"nested": [True]}],
        "empty_list": [],
        "map": {"a": {"b": {"c": 1}}, "when": MOMENT},
        "empty_map": {},
    }
    col.document("d1").set(value)

    (path, data, version), *_ = _ours(col)
    assert (path, data, version) == _sdk(col)[0]
    assert path == f"{col.id}/d1"
    assert data == value
    # Kinds the SDK alone knows keep the SDK's types.
    assert isinstance(data["ref"], firestore.DocumentReference)
    assert data["ref"].path == "elsewhere/target"
    assert isinstance(data["vector"], Vector)
    assert isinstance(data["place"], firestore.GeoPoint)
    # Firestore keeps microseconds: the nanoseconds written come back truncated (to the SDK too).
    assert data["nanos"] == datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert data["when"] == MOMENT and data["when"].tzinfo is not None
    assert math.copysign(1.0, data["neg_zero"]) == -1.0


def test_nan_decodes_as_nan(db: firestore.Client) -> None:
    col = db.collection(f"reads-{uuid.uuid4().hex[:8]}")
    col.document("n").set({"x": math.nan})
    (doc,) = read_query(col)
    assert math.isnan(doc.data["x"])


def test_filters_order_cursor_and_limit_are_the_sdks(db: firestore.Client) -> None:
    col = db.collection(f"reads-{uuid.uuid4().hex[:8]}")
    for i in range(12):
        col.document(f"p{i:02d}").set({"rank": i % 5, "active": i % 3 != 0, "name": f"n{i}"})
    query = (
        col.where(filter=firestore.FieldFilter("active", "==", True))
        .order_by("rank")
        .order_by("__name__")
    )
    after = query.start_after({"rank": 1, "__name__": col.document("p06")})
    for q in (query, query.limit(4), after, after.limit(3), col.limit(0)):
        assert _ours(q) == _sdk(q)
    assert [d.id for d in read_query(after.limit(3))] == ["p11", "p02", "p07"]


def test_subcollection_and_group_paths(db: firestore.Client) -> None:
    group = f"levels{uuid.uuid4().hex[:6]}"
    for store in ("s1", "s2"):
        db.collection("stores").document(store).collection(group).document("p1").set({"n": 1})
    docs = read_query(db.collection_group(group).order_by("__name__"))
    assert [d.path for d in docs] == [f"stores/s1/{group}/p1", f"stores/s2/{group}/p1"]
    assert [d.id for d in docs] == ["p1", "p1"]
    assert all(isinstance(d, StoredDocument) and d.exists for d in docs)
    snapshot = db.collection("stores").document("s1").collection(group).document("p1").get()
    assert document_path(snapshot) == docs[0].path
    assert version_of(snapshot) == version_of(docs[0])
    assert fields(docs[0]) == fields(snapshot) == {"n": 1}


def test_an_empty_result_is_an_empty_list(db: firestore.Client) -> None:
    assert read_query(db.collection(f"reads-{uuid.uuid4().hex[:8]}")) == []


# Firestore values: no arrays directly inside arrays; map keys non-empty and not `__x__`.
_keys = st.text(min_size=1, max_size=8).filter(lambda k: not k.startswith("__"))
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.binary(max_size=20),
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.just(UTC),
    ),
)
_maps = st.recursive(
    st.dictionaries(_keys, _scalars, max_size=4),
    lambda inner: st.dictionaries(
        _keys, st.one_of(_scalars, inner, st.lists(st.one_of(_scalars, inner), max_size=3))
    ),
    max_leaves=12,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(document=_maps)
def test_random_documents_read_back_as_the_sdk_reads_them(
    db: firestore.Client, document: dict[str, Any]
) -> None:
    col = db.collection(f"reads-{uuid.uuid4().hex[:8]}")
    col.document("d").set(document)
    ours, theirs = _ours(col), _sdk(col)
    assert ours == theirs
    assert ours[0][1] == document
