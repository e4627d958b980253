"""The categories repository against the Firestore emulator."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from google.cloud import firestore
from google.cloud.firestore import FieldFilter

from celeste.catalog.categories import Category, CategoryCreate, CategoryPatch
from celeste.catalog.products import ProductCreate
from celeste.kernel.errors import Conflict, Contention, PreconditionFailed, ValidationFailed
from celeste.services.categories import CategoryService
from celeste.services.products import ProductService
from celeste_functions.adapters.categories import FirestoreCategories
from celeste_functions.adapters.products import FirestoreProducts
from tests.support.writers import uncached_writer

pytestmark = pytest.mark.integration


@pytest.fixture
def repo(db: firestore.Client) -> FirestoreCategories:
    return FirestoreCategories(client=lambda: db, writer=uncached_writer(db))


@pytest.fixture
def service(repo: FirestoreCategories) -> CategoryService:
    return CategoryService(repository=repo)


def _category(cid: str, slug: str, **kw: object) -> Category:
    now = datetime.now(UTC)
    return Category(id=cid, name=slug.title(), slug=slug, created_at=now, updated_at=now, **kw)


def test_create_get_roundtrip_keeps_fields_and_version(repo: FirestoreCategories) -> None:
    created = repo.create(_category("c1", "fruit", description="Fresh", sort_order=3))
    got = repo.get("c1")
    assert got.value == created.value
    assert got.value.description == "Fresh" and got.value.sort_order == 3
    assert got.version == created.version and got.version.isdigit()


def test_slug_is_unique_atomically(repo: FirestoreCategories, db: firestore.Client) -> None:
    repo.create(_category("c1", "fruit"))
    with pytest.raises(Conflict):
        repo.create(_category("c2", "fruit"))
    # Nothing half-written: the losing category document does not exist.
    assert not db.collection("categories").document("c2").get().exists


def test_slug_change_frees_the_old_slug(service: CategoryService) -> None:
    a = service.create(CategoryCreate(name="A", slug="old"))
    service.update(a.value.id, CategoryPatch(slug="new"), expected_version=None)
    b = service.create(CategoryCreate(name="B", slug="old"))
    assert b.value.slug == "old"
    with pytest.raises(Conflict):
        service.create(CategoryCreate(name="C", slug="new"))


def test_stale_version_is_refused_by_the_store(repo: FirestoreCategories) -> None:
    created = repo.create(_category("c1", "fruit"))
    changed = created.value.model_copy(update={"name": "Changed"})
    second = repo.replace(changed, previous_slug="fruit", expected_version=created.version)
    assert second.version != created.version
    with pytest.raises(PreconditionFailed):
        repo.replace(changed, previous_slug="fruit", expected_version=created.version)
    with pytest.raises(PreconditionFailed):
        repo.delete("c1", slug="fruit", expected_version=created.version)


def test_parent_rules_against_the_store(service: CategoryService) -> None:
    root = service.create(CategoryCreate(name="Root", slug="root")).value
    child = service.create(CategoryCreate(name="Child", slug="child", parent_id=root.id)).value
    with pytest.raises(ValidationFailed):
        service.create(CategoryCreate(name="Orphan", slug="orphan", parent_id="missing"))
    with pytest.raises(Conflict):
        service.update(root.id, CategoryPatch(parent_id=child.id), expected_version=None)
    with pytest.raises(Conflict):
        service.delete(root.id, expected_version=None)
    service.delete(child.id, expected_version=None)
    service.delete(root.id, expected_version=None)


def test_products_block_delete(service: CategoryService, db: firestore.Client) -> None:
    cat = service.create(CategoryCreate(name="Fruit", slug="fruit")).value
    db.collection("products").document("p1").set({"category_id": cat.id})
    with pytest.raises(Conflict):
        service.delete(cat.id, expected_version=None)


@pytest.mark.parametrize("active_only", [False, True])
def test_pagination_walks_every_item_once(repo: FirestoreCategories, active_only: bool) -> None:
    for i in range(23):
        repo.create(_category(f"c{i:02d}", f"s{i:02d}", sort_order=i % 4, active=i % 5 != 0))
    seen: list[str] = []
    cursor = None
    while True:
        page = repo.list(
            parent_id=None, root_only=False, active_only=active_only, limit=5, cursor=cursor
        )
        seen += [c.id for c in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    expected = [f"c{i:02d}" for i in range(23) if not active_only or i % 5 != 0]
    assert sorted(seen) == sorted(expected) and len(seen) == len(set(seen))
    orders = [int(c[1:]) % 4 for c in seen]
    assert orders == sorted(orders)


def test_children_and_roots_filters(repo: FirestoreCategories) -> None:
    repo.create(_category("r1", "r1"))
    repo.create(_category("r2", "r2", active=False))
    repo.create(_category("k1", "k1", parent_id="r1"))
    roots = repo.list(parent_id=None, root_only=True, active_only=False, limit=10, cursor=None)
    assert {c.id for c in roots.items} == {"r1", "r2"}
    active_roots = repo.list(
        parent_id=None, root_only=True, active_only=True, limit=10, cursor=None
    )
    assert {c.id for c in active_roots.items} == {"r1"}
    kids = repo.list(parent_id="r1", root_only=False, active_only=True, limit=10, cursor=None)
    assert [c.id for c in kids.items] == ["k1"]
    assert repo.has_children("r1") and not repo.has_children("k1")


# --- tree races from many threads against the emulator -------------------------------------

TRIALS = 8


def _race(*calls: Callable[[], object]) -> list[object]:
    """Run ``calls`` at once (released together by a barrier); each result or its exception."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], object]) -> object:
        barrier.wait()
        try:
            return call()
        except (Conflict, ValidationFailed, Contention, PreconditionFailed) as exc:
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def _parents(db: firestore.Client) -> dict[str, str | None]:
    return {
        s.id: (s.to_dict() or {}).get("parent_id") for s in db.collection("categories").stream()
    }


def _has_cycle(parents: dict[str, str | None]) -> bool:
    for start in parents:
        seen: set[str] = set()
        current = parents[start]
        while current is not None:
            if current == start or current in seen:
                return True
            seen.add(current)
            current = parents.get(current)
    return False


def test_crossing_moves_never_leave_a_cycle(service: CategoryService, db: firestore.Client) -> None:
    outcomes = []
    for trial in range(TRIALS):
        a = service.create(CategoryCreate(name="A", slug=f"a{trial}")).value
        b = service.create(CategoryCreate(name="B", slug=f"b{trial}")).value
        results = _race(
            lambda a=a, b=b: service.update(
                a.id, CategoryPatch(parent_id=b.id), expected_version=None
            ),
            lambda a=a, b=b: service.update(
                b.id, CategoryPatch(parent_id=a.id), expected_version=None
            ),
        )
        assert not _has_cycle(_parents(db)), (trial, results)
        outcomes.append(sum(not isinstance(r, Exception) for r in results))
    assert set(outcomes) <= {0, 1} and 1 in outcomes, outcomes


def test_a_ring_of_concurrent_moves_never_closes(
    service: CategoryService, db: firestore.Client
) -> None:
    size = 4
    for trial in range(TRIALS // 2):
        ring = [
            service.create(CategoryCreate(name=f"R{i}", slug=f"r{trial}-{i}")).value
            for i in range(size)
        ]
        _race(
            *(
                lambda i=i, ring=ring: service.update(
                    ring[i].id,
                    CategoryPatch(parent_id=ring[(i + 1) % size].id),
                    expected_version=None,
                )
                for i in range(size)
            )
        )
        assert not _has_cycle(_parents(db)), trial


def test_delete_racing_product_creates_never_orphans_a_product(
    service: CategoryService, db: firestore.Client
) -> None:
    products = ProductService(
        repository=FirestoreProducts(client=lambda: db, writer=uncached_writer(db)),
        categories=FirestoreCategories(client=lambda: db, writer=uncached_writer(db)),
        pricing=cast(Any, None),  # create never prices
        stock=cast(Any, None),
    )
    for trial in range(TRIALS):
        cat = service.create(CategoryCreate(name="Tea", slug=f"tea{trial}")).value

        def create(i: int, cat_id: str = cat.id, trial: int = trial) -> object:
            body = {"sku": f"T{trial}-{i}", "name": "Tea", "category_id": cat_id, "base_price": 100}
            return products.create(ProductCreate.model_validate({**body, "currency": "EUR"}))

        results = _race(
            lambda cat=cat: service.delete(cat.id, expected_version=None),
            *(lambda i=i: create(i) for i in range(3)),
        )
        exists = db.collection("categories").document(cat.id).get().exists
        filed = [
            s.id
            for s in db.collection("products")
            .where(filter=FieldFilter("category_id", "==", cat.id))
            .stream()
        ]
        assert exists or not filed, (trial, results)
        if not exists:  # every create lost, and was told so (400 on category_id, or 503)
            assert all(isinstance(r, (ValidationFailed, Contention)) for r in results[1:])
        else:  # the delete lost to a product that is now filed there
            assert filed and isinstance(results[0], (Conflict, Contention)), results
