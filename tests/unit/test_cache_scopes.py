"""Which writes retire which cache scopes: the one map (``cache_scopes``), the commit that applies
it to every write (``FirestoreWriter``), and the backstop triggers that apply it to writes made
outside the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from google.api_core import exceptions as gexc

from celeste.kernel.errors import PreconditionFailed, Unavailable
from celeste_functions.adapters.cache import Retired
from celeste_functions.adapters.writer import FirestoreWriter
from celeste_functions.cache_scopes import ALL_SCOPES, INVALIDATES, retired_by


def test_a_document_retires_the_scopes_of_its_collection() -> None:
    assert retired_by(["products/p1"]) == ("products",)
    assert retired_by(["price_lists/l1"]) == ("pricing", "products")
    for collection, scopes in INVALIDATES.items():
        assert retired_by([f"{collection}/x"]) == tuple(sorted(scopes))


def test_a_commit_of_many_documents_retires_each_scope_once() -> None:
    # A product filed under a category: its SKU claim, the product and the category's link.
    written = ["product_skus/TEA-1", "products/p1", "categories/c1", "products/p2"]
    assert retired_by(written) == ("categories", "pricing", "products")


def test_documents_no_cache_reads_retire_nothing() -> None:
    # Stock lives in a subcollection of a store: it is never cached, and the store is not written.
    written = ["stores/s1/inventory/p1", "stores/s1/inventory/p1/movements/o1-reserve"]
    assert retired_by([*written, "orders/o1", "users/u1", "cache_epochs/products"]) == ()
    assert retired_by([]) == ()


def test_every_scope_is_retired_by_a_write_of_some_collection() -> None:
    assert {scope for scopes in INVALIDATES.values() for scope in scopes} == set(ALL_SCOPES)


def test_the_backstop_triggers_watch_exactly_the_collections_of_the_map() -> None:
    import main

    watched = set()
    for value in vars(main).values():
        trigger = getattr(getattr(value, "__firebase_endpoint__", None), "eventTrigger", None)
        if trigger and trigger["eventType"] == "google.cloud.firestore.document.v1.written":
            pattern = trigger["eventFilterPathPatterns"]["document"]
            collection, _, rest = pattern.partition("/")
            assert "/" not in rest, f"{pattern}: a trigger per top-level collection document"
            watched.add(collection)
    assert watched == set(INVALIDATES)


# --- the writer: retire after the commit, and only after it --------------------------------


@dataclass
class Ref:
    path: str


def ref(path: str) -> Any:
    """A document reference as far as the writer looks at one."""
    return Ref(path)


@dataclass
class FakeBatch:
    log: list[Any]
    fails: Exception | None = None
    writes: list[tuple[str, str]] = field(default_factory=list)

    def create(self, ref: Ref, data: Any) -> None:
        self.writes.append(("create", ref.path))

    def set(self, ref: Ref, data: Any) -> None:
        self.writes.append(("set", ref.path))

    def update(self, ref: Ref, data: Any, option: Any = None) -> None:
        self.writes.append(("update", ref.path))

    def delete(self, ref: Ref, option: Any = None) -> None:
        self.writes.append(("delete", ref.path))

    def commit(self) -> None:
        if self.fails is not None:
            raise self.fails
        self.log.append(("commit", sorted(path for _, path in self.writes)))


@dataclass
class FakeClient:
    log: list[Any]
    fails: Exception | None = None

    def batch(self) -> FakeBatch:
        return FakeBatch(self.log, self.fails)


@dataclass
class FakeCache:
    log: list[Any]
    reaches: Retired

    def invalidate(self, scopes: Any) -> Retired:
        self.log.append(("retire", list(scopes)))
        return self.reaches


REACHED = Retired(durable=True, redis=True)


def _writer(
    log: list[Any], *, fails: Exception | None = None, reaches: Retired = REACHED
) -> FirestoreWriter:
    client: Any = FakeClient(log, fails)
    cache: Any = FakeCache(log, reaches)
    return FirestoreWriter(client=lambda: client, cache=cache)


def test_a_commit_retires_the_scopes_of_what_it_wrote_once_committed() -> None:
    log: list[Any] = []
    with _writer(log).batch() as batch:
        batch.create(ref("product_skus/TEA-1"), {})
        batch.create(ref("products/p1"), {})
        batch.update(ref("categories/c1"), {})
    assert log == [
        ("commit", ["categories/c1", "product_skus/TEA-1", "products/p1"]),
        ("retire", ["categories", "pricing", "products"]),
    ]


@pytest.mark.parametrize("op", ["create", "set", "update", "delete"])
def test_every_kind_of_write_counts(op: str) -> None:
    log: list[Any] = []
    with _writer(log).batch() as batch:
        write = getattr(batch, op)
        write(ref("tax_rates/PT")) if op == "delete" else write(ref("tax_rates/PT"), {})
    assert log[-1] == ("retire", ["tax_rates"])


def test_a_commit_of_nothing_cached_asks_the_cache_nothing() -> None:
    log: list[Any] = []
    with _writer(log).batch() as batch:
        batch.create(ref("orders/o1"), {})
        batch.create(ref("stores/s1/inventory/p1"), {})
    assert log == [("commit", ["orders/o1", "stores/s1/inventory/p1"])]


def test_a_commit_that_fails_retires_nothing() -> None:
    log: list[Any] = []
    with (
        pytest.raises(PreconditionFailed),
        _writer(log, fails=gexc.FailedPrecondition("moved")).batch() as batch,
    ):
        batch.update(ref("products/p1"), {})
    assert log == []


def test_a_block_that_raises_commits_and_retires_nothing() -> None:
    log: list[Any] = []
    with pytest.raises(ValueError), _writer(log).batch() as batch:
        batch.update(ref("products/p1"), {})
        raise ValueError("decided against it")
    assert log == []


def test_a_retirement_that_reached_nothing_is_503_after_the_commit() -> None:
    log: list[Any] = []
    lost = Retired(durable=False, redis=False)
    with (
        pytest.raises(Unavailable, match="saved, but cached copies could not be retired"),
        _writer(log, reaches=lost).batch() as batch,
    ):
        batch.update(ref("stores/s1"), {})
    assert log == [("commit", ["stores/s1"]), ("retire", ["stores"])]


@pytest.mark.parametrize("reaches", [Retired(durable=True, redis=False), Retired(False, True)])
def test_a_retirement_that_reached_either_is_enough(reaches: Retired) -> None:
    log: list[Any] = []
    with _writer(log, reaches=reaches).batch() as batch:
        batch.update(ref("stores/s1"), {})
    assert log[-1] == ("retire", ["stores"])
