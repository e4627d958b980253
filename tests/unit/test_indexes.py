"""Every Firestore query shape the code declares is covered by firestore.indexes.json, and the
file holds no composite index that no query needs."""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path
from typing import Any

import pytest

import celeste_functions
from celeste_functions.adapters.firestore import QUERY_SHAPES, QueryShape

ROOT = Path(__file__).resolve().parents[2]
INDEXES_FILE = ROOT / "firestore.indexes.json"

IndexKey = tuple[str, str, tuple[tuple[str, str], ...]]


def _import_every_module() -> list[str]:
    names = [
        info.name
        for info in pkgutil.walk_packages(celeste_functions.__path__, prefix="celeste_functions.")
    ]
    for name in names:
        importlib.import_module(name)
    return names


MODULES = _import_every_module()
#: The shapes the code declares (snapshot: shapes built by tests below never leak in).
SHAPES = tuple(QUERY_SHAPES)


def _scope(shape: QueryShape) -> str:
    return "COLLECTION_GROUP" if shape.group else "COLLECTION"


def _key(shape: QueryShape) -> IndexKey:
    filtered = {*shape.equals, *shape.members}
    ordered = "DESCENDING" if shape.descending else "ASCENDING"
    fields = tuple(
        (name, "ASCENDING" if name in filtered else ordered) for name in shape.index_fields
    )
    return (shape.collection, _scope(shape), fields)


def _index_key(index: dict[str, Any]) -> IndexKey:
    fields = tuple((f["fieldPath"], f["order"]) for f in index["fields"])
    return (index["collectionGroup"], index["queryScope"], fields)


@pytest.fixture(scope="module")
def indexes() -> list[dict[str, Any]]:
    document = json.loads(INDEXES_FILE.read_text(encoding="utf-8"))
    assert set(document) == {"indexes", "fieldOverrides"}
    assert isinstance(document["indexes"], list)
    return document["indexes"]


def needed() -> set[IndexKey]:
    return {_key(shape) for shape in SHAPES if shape.needs_composite_index}


def test_every_module_was_imported_and_shapes_registered() -> None:
    assert "celeste_functions.adapters.categories" in MODULES
    assert "celeste_functions.resources.categories" in MODULES
    assert any(shape.collection == "categories" for shape in SHAPES)


@pytest.mark.parametrize(
    ("equals", "order", "fields", "composite"),
    [
        ((), ("a", "__name__"), ("a",), False),
        (("a",), (), ("a",), False),
        (("a", "b"), (), ("a", "b"), False),
        (("a",), ("b",), ("a", "b"), True),
        (("a",), ("a", "__name__"), ("a",), False),
        ((), ("a", "b"), ("a", "b"), True),
        (("a", "b"), ("c", "__name__"), ("a", "b", "c"), True),
    ],
)
def test_which_shapes_need_a_composite_index(
    equals: tuple[str, ...], order: tuple[str, ...], fields: tuple[str, ...], composite: bool
) -> None:
    shape = QueryShape("t", equals=equals, order=order)
    QUERY_SHAPES.remove(shape)
    assert shape.index_fields == fields
    assert shape.needs_composite_index is composite


def test_indexes_are_well_formed(indexes: list[dict[str, Any]]) -> None:
    for index in indexes:
        assert set(index) <= {"collectionGroup", "queryScope", "fields", "density"}, index
        assert index["queryScope"] in ("COLLECTION", "COLLECTION_GROUP"), index
        assert len(index["fields"]) >= 2, index
        for field in index["fields"]:
            assert set(field) == {"fieldPath", "order"}, index
            assert field["order"] in ("ASCENDING", "DESCENDING"), index
    keys = [_index_key(index) for index in indexes]
    assert len(keys) == len(set(keys)), "duplicate index"


@pytest.mark.parametrize(
    "shape",
    [shape for shape in SHAPES if shape.needs_composite_index],
    ids=lambda s: f"{s.collection}:{'+'.join(s.index_fields)}",
)
def test_every_composite_shape_has_its_index(
    indexes: list[dict[str, Any]], shape: QueryShape
) -> None:
    collection, scope, fields = _key(shape)
    assert _key(shape) in {_index_key(index) for index in indexes}, (
        f"firestore.indexes.json lacks {{'collectionGroup': {collection!r}, "
        f"'queryScope': {scope!r}, 'fields': {list(fields)}}}"
    )


def test_no_stale_indexes(indexes: list[dict[str, Any]]) -> None:
    stale = {_index_key(index) for index in indexes} - needed()
    assert stale == set(), f"indexes no query shape needs: {sorted(stale)}"


def _group_overrides() -> set[tuple[str, str]]:
    document = json.loads(INDEXES_FILE.read_text(encoding="utf-8"))
    return {
        (override["collectionGroup"], override["fieldPath"])
        for override in document["fieldOverrides"]
        if any(
            index.get("queryScope") == "COLLECTION_GROUP" and index.get("order") == "ASCENDING"
            for index in override.get("indexes", [])
        )
    }


@pytest.mark.parametrize(
    "shape",
    [shape for shape in SHAPES if shape.group and (shape.equals or shape.members)],
    ids=lambda s: f"{s.collection}:{'+'.join((*s.equals, *s.members))}",
)
def test_every_collection_group_filter_has_its_field_index(shape: QueryShape) -> None:
    # Firestore keeps single-field indexes per collection only; a collection-group query needs
    # each filtered field enabled for COLLECTION_GROUP scope in fieldOverrides.
    missing = [
        name
        for name in (*shape.equals, *shape.members)
        if (shape.collection, name) not in _group_overrides()
    ]
    assert missing == [], f"fieldOverrides lacks COLLECTION_GROUP indexes for {missing}"
