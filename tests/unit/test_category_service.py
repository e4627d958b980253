"""Unit tests of CategoryService over the in-memory repository: tree rules, versions, lists."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from celeste.catalog.categories import MAX_DEPTH, Category, CategoryCreate, CategoryPatch
from celeste.kernel.errors import (
    Conflict,
    Contention,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
)
from celeste.kernel.versions import Versioned
from celeste.services.categories import CategoryService
from celeste.services.retry import REQUEST
from tests.fakes import InMemoryCategories

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


class TickingClock:
    """A clock that advances one second on every reading."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def repo() -> InMemoryCategories:
    return InMemoryCategories()


@pytest.fixture
def pauses() -> list[float]:
    return []


@pytest.fixture
def service(repo: InMemoryCategories, pauses: list[float]) -> CategoryService:
    return CategoryService(repository=repo, clock=TickingClock(), sleep=pauses.append)


def make(service: CategoryService, slug: str, **fields: Any) -> Category:
    """Create a category named after its slug; returns the stored value."""
    body = {"name": slug.title(), "slug": slug, **fields}
    return service.create(CategoryCreate.model_validate(body)).value


def patch(**fields: Any) -> CategoryPatch:
    return CategoryPatch.model_validate(fields)


def field_names(exc: ValidationFailed) -> list[str]:
    return [e.field for e in exc.errors]


# --- the fake honours its contract ----------------------------------------------------------


def test_fake_versions_change_on_every_write_and_are_never_reused(
    repo: InMemoryCategories, service: CategoryService
) -> None:
    made = make(service, "fruit")
    seen = {repo.get(made.id).version}
    for i in range(3):
        seen.add(service.update(made.id, patch(sort_order=i), expected_version=None).version)
    service.delete(made.id, expected_version=None)
    again = make(service, "fruit")
    seen.add(repo.get(again.id).version)
    assert len(seen) == 5


def test_fake_returns_copies_not_its_own_rows(repo: InMemoryCategories) -> None:
    made = Category(id="c1", name="A", slug="a", created_at=T0, updated_at=T0)
    repo.create(made)
    repo.get("c1").value.name = "mutated"
    made.name = "mutated too"
    assert repo.get("c1").value.name == "A"


def test_fake_write_to_a_vanished_row_is_a_failed_precondition(repo: InMemoryCategories) -> None:
    made = Category(id="c1", name="A", slug="a", created_at=T0, updated_at=T0)
    repo.create(made)
    repo.delete("c1", slug="a", expected_version=None)
    with pytest.raises(PreconditionFailed):
        repo.replace(made, previous_slug="a", expected_version=None)
    with pytest.raises(PreconditionFailed):
        repo.delete("c1", slug="a", expected_version=None)


# --- create ---------------------------------------------------------------------------------


def test_create_stores_every_field_with_timestamps(service: CategoryService) -> None:
    root = make(service, "fruit")
    created = service.create(
        CategoryCreate(
            name="  Apples  ",
            slug="apples",
            description="crisp",
            parent_id=root.id,
            sort_order=3,
            active=False,
        )
    )
    value = created.value
    assert (value.name, value.slug, value.description) == ("Apples", "apples", "crisp")
    assert (value.parent_id, value.sort_order, value.active) == (root.id, 3, False)
    assert value.created_at == value.updated_at > T0
    assert created.version
    assert service.get(value.id, include_inactive=True) == created


def test_create_under_a_missing_parent_is_invalid_on_parent_id(
    repo: InMemoryCategories, service: CategoryService
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        make(service, "apples", parent_id="nope")
    assert field_names(caught.value) == ["parent_id"]
    assert len(repo) == 0
    assert repo.slug_owner("apples") is None


def test_create_with_a_taken_slug_is_a_conflict(
    repo: InMemoryCategories, service: CategoryService
) -> None:
    first = make(service, "fruit")
    with pytest.raises(Conflict):
        make(service, "fruit", name="Other")
    assert len(repo) == 1
    assert repo.slug_owner("fruit") == first.id


@pytest.mark.parametrize(
    ("levels", "allowed"),
    [(MAX_DEPTH, True), (MAX_DEPTH + 1, False)],
)
def test_tree_depth_is_bounded(service: CategoryService, levels: int, allowed: bool) -> None:
    parent: str | None = None
    for level in range(1, levels):
        parent = make(service, f"level-{level}", parent_id=parent).id
    if allowed:
        make(service, "deepest", parent_id=parent)
    else:
        with pytest.raises(ValidationFailed) as caught:
            make(service, "deepest", parent_id=parent)
        assert field_names(caught.value) == ["parent_id"]


# --- update ---------------------------------------------------------------------------------


def test_update_changes_only_the_fields_sent_and_the_version(service: CategoryService) -> None:
    made = make(service, "fruit", description="sweet", sort_order=4)
    before = service.get(made.id, include_inactive=True)
    after = service.update(made.id, patch(name="Fruits"), expected_version=None)
    assert after.value.name == "Fruits"
    assert (after.value.slug, after.value.description, after.value.sort_order) == (
        "fruit",
        "sweet",
        4,
    )
    assert after.value.created_at == before.value.created_at
    assert after.value.updated_at > before.value.updated_at
    assert after.version != before.version


def test_update_slug_frees_the_old_one(repo: InMemoryCategories, service: CategoryService) -> None:
    made = make(service, "fruit")
    service.update(made.id, patch(slug="fruits"), expected_version=None)
    assert repo.slug_owner("fruits") == made.id
    assert repo.slug_owner("fruit") is None
    make(service, "fruit")


def test_update_to_a_taken_slug_is_a_conflict(
    repo: InMemoryCategories, service: CategoryService
) -> None:
    make(service, "fruit")
    veg = make(service, "veg")
    with pytest.raises(Conflict):
        service.update(veg.id, patch(slug="fruit"), expected_version=None)
    assert service.get(veg.id, include_inactive=True).value.slug == "veg"
    assert repo.slug_owner("veg") == veg.id


def test_moving_under_a_descendant_is_a_cycle_conflict(service: CategoryService) -> None:
    a = make(service, "a")
    b = make(service, "b", parent_id=a.id)
    c = make(service, "c", parent_id=b.id)
    for descendant in (b, c):
        with pytest.raises(Conflict, match="cycle"):
            service.update(a.id, patch(parent_id=descendant.id), expected_version=None)
    assert service.get(a.id, include_inactive=True).value.parent_id is None


def test_own_parent_is_invalid_on_parent_id(service: CategoryService) -> None:
    a = make(service, "a")
    with pytest.raises(ValidationFailed) as caught:
        service.update(a.id, patch(parent_id=a.id), expected_version=None)
    assert field_names(caught.value) == ["parent_id"]


def test_move_under_a_missing_parent_is_invalid_on_parent_id(service: CategoryService) -> None:
    a = make(service, "a")
    with pytest.raises(ValidationFailed) as caught:
        service.update(a.id, patch(parent_id="ghost"), expected_version=None)
    assert field_names(caught.value) == ["parent_id"]


def test_parent_id_null_moves_to_the_root(service: CategoryService) -> None:
    a = make(service, "a")
    b = make(service, "b", parent_id=a.id)
    moved = service.update(b.id, patch(parent_id=None), expected_version=None)
    assert moved.value.parent_id is None


def test_omitted_parent_id_keeps_the_parent(service: CategoryService) -> None:
    a = make(service, "a")
    b = make(service, "b", parent_id=a.id)
    assert service.update(b.id, patch(name="B2"), expected_version=None).value.parent_id == a.id


@pytest.mark.parametrize("name", ["name", "slug", "description", "sort_order", "active"])
def test_null_for_a_required_field_is_invalid(service: CategoryService, name: str) -> None:
    a = make(service, "a")
    with pytest.raises(ValidationFailed) as caught:
        service.update(a.id, patch(**{name: None}), expected_version=None)
    assert field_names(caught.value) == [name]


def test_update_of_a_missing_category_is_not_found(service: CategoryService) -> None:
    with pytest.raises(NotFound):
        service.update("ghost", patch(name="X"), expected_version=None)


def test_update_with_stale_if_match_fails_the_precondition(service: CategoryService) -> None:
    a = make(service, "a")
    stale = service.get(a.id, include_inactive=True).version
    service.update(a.id, patch(name="Second"), expected_version=None)
    with pytest.raises(PreconditionFailed):
        service.update(a.id, patch(name="Third"), expected_version=stale)
    assert service.get(a.id, include_inactive=True).value.name == "Second"


def test_update_with_current_if_match_succeeds(service: CategoryService) -> None:
    a = make(service, "a")
    current = service.get(a.id, include_inactive=True).version
    updated = service.update(a.id, patch(name="Second"), expected_version=current)
    assert updated.value.name == "Second"
    assert updated.version != current


def _concurrent_description(
    repo: InMemoryCategories, category_id: str, text: str
) -> Callable[[], Versioned[Category]]:
    def write() -> Versioned[Category]:
        current = repo.get(category_id).value
        changed = current.model_copy(update={"description": text})
        return repo.replace(changed, previous_slug=current.slug, expected_version=None)

    return write


def test_update_without_if_match_is_retried_after_a_concurrent_write(
    repo: InMemoryCategories, service: CategoryService
) -> None:
    a = make(service, "a")
    repo.interleave(_concurrent_description(repo, a.id, "theirs"))
    updated = service.update(a.id, patch(name="Ours"), expected_version=None)
    # The retry re-read fresh data: both writers' changes survive.
    assert (updated.value.name, updated.value.description) == ("Ours", "theirs")


def test_update_with_if_match_is_not_retried_after_a_concurrent_write(
    repo: InMemoryCategories, service: CategoryService
) -> None:
    a = make(service, "a")
    version = service.get(a.id, include_inactive=True).version
    repo.interleave(_concurrent_description(repo, a.id, "theirs"))
    with pytest.raises(PreconditionFailed):
        service.update(a.id, patch(name="Ours"), expected_version=version)
    assert service.get(a.id, include_inactive=True).value.name == "A"


@pytest.mark.parametrize(
    ("races", "wins"), [(REQUEST.attempts - 1, True), (REQUEST.attempts, False)]
)
def test_update_that_keeps_losing_the_race_becomes_contention(
    repo: InMemoryCategories,
    service: CategoryService,
    pauses: list[float],
    races: int,
    wins: bool,
) -> None:
    a = make(service, "a")
    for i in range(races):
        repo.interleave(_concurrent_description(repo, a.id, f"theirs {i}"))
    if wins:
        assert service.update(a.id, patch(name="Ours"), expected_version=None).value.name == "Ours"
    else:
        with pytest.raises(Contention):
            service.update(a.id, patch(name="Ours"), expected_version=None)
        assert service.get(a.id, include_inactive=True).value.name == "A"
    # Each lost race backs off (jittered, growing) before the next attempt; no pause after the last.
    assert len(pauses) == min(races, REQUEST.attempts - 1)
    assert all(0 <= p <= REQUEST.cap_s for p in pauses)


# --- delete ---------------------------------------------------------------------------------


def test_delete_removes_the_category_and_frees_its_slug(
    repo: InMemoryCategories, service: CategoryService
) -> None:
    a = make(service, "a")
    service.delete(a.id, expected_version=None)
    with pytest.raises(NotFound):
        service.get(a.id, include_inactive=True)
    assert repo.slug_owner("a") is None


def test_delete_of_a_missing_category_is_not_found(service: CategoryService) -> None:
    with pytest.raises(NotFound):
        service.delete("ghost", expected_version=None)


def test_delete_with_children_is_a_conflict(service: CategoryService) -> None:
    a = make(service, "a")
    make(service, "b", parent_id=a.id, active=False)
    with pytest.raises(Conflict, match="child"):
        service.delete(a.id, expected_version=None)
    service.get(a.id, include_inactive=True)


def test_delete_with_products_is_a_conflict(
    repo: InMemoryCategories, service: CategoryService
) -> None:
    a = make(service, "a")
    repo.products["p1"] = a.id
    with pytest.raises(Conflict, match="products"):
        service.delete(a.id, expected_version=None)
    del repo.products["p1"]
    service.delete(a.id, expected_version=None)


def test_delete_with_stale_if_match_fails_the_precondition(service: CategoryService) -> None:
    a = make(service, "a")
    stale = service.get(a.id, include_inactive=True).version
    service.update(a.id, patch(name="Second"), expected_version=None)
    with pytest.raises(PreconditionFailed):
        service.delete(a.id, expected_version=stale)
    service.get(a.id, include_inactive=True)


def test_delete_with_current_if_match_succeeds(service: CategoryService) -> None:
    a = make(service, "a")
    service.delete(a.id, expected_version=service.get(a.id, include_inactive=True).version)
    with pytest.raises(NotFound):
        service.get(a.id, include_inactive=True)


def test_delete_without_if_match_is_retried_after_a_concurrent_write(
    repo: InMemoryCategories, service: CategoryService
) -> None:
    a = make(service, "a")
    repo.interleave(_concurrent_description(repo, a.id, "theirs"))
    service.delete(a.id, expected_version=None)
    assert len(repo) == 0


# --- get ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("active", "include_inactive", "visible"),
    [(True, False, True), (True, True, True), (False, False, False), (False, True, True)],
)
def test_inactive_category_exists_only_for_admins(
    service: CategoryService, active: bool, include_inactive: bool, visible: bool
) -> None:
    a = make(service, "a", active=active)
    if visible:
        assert service.get(a.id, include_inactive=include_inactive).value.id == a.id
    else:
        with pytest.raises(NotFound):
            service.get(a.id, include_inactive=include_inactive)


def test_get_of_a_missing_category_is_not_found(service: CategoryService) -> None:
    with pytest.raises(NotFound):
        service.get("ghost", include_inactive=True)


# --- list -----------------------------------------------------------------------------------


@pytest.fixture
def tree(service: CategoryService) -> dict[str, Category]:
    """Two roots, children under ``fruit`` (one inactive), one inactive root."""
    fruit = make(service, "fruit", sort_order=1)
    made = {
        "fruit": fruit,
        "veg": make(service, "veg", sort_order=2),
        "old": make(service, "old", sort_order=0, active=False),
        "pears": make(service, "pears", parent_id=fruit.id, sort_order=2),
        "apples": make(service, "apples", parent_id=fruit.id, sort_order=1),
        "quinces": make(service, "quinces", parent_id=fruit.id, sort_order=0, active=False),
    }
    return made


def listed(
    service: CategoryService,
    *,
    parent_id: str | None = None,
    root_only: bool = False,
    include_inactive: bool = False,
    limit: int = 100,
) -> list[str]:
    page = service.list(
        parent_id=parent_id,
        root_only=root_only,
        include_inactive=include_inactive,
        limit=limit,
        cursor=None,
    )
    return [c.slug for c in page.items]


@pytest.mark.parametrize(
    ("parent", "root_only", "include_inactive", "expected"),
    [
        (None, False, False, ["fruit", "apples", "pears", "veg"]),
        (None, False, True, ["old", "quinces", "fruit", "apples", "pears", "veg"]),
        (None, True, False, ["fruit", "veg"]),
        (None, True, True, ["old", "fruit", "veg"]),
        ("fruit", False, False, ["apples", "pears"]),
        ("fruit", False, True, ["quinces", "apples", "pears"]),
        ("veg", False, True, []),
    ],
)
def test_list_filters_by_parent_roots_and_activity(
    service: CategoryService,
    tree: dict[str, Category],
    parent: str | None,
    root_only: bool,
    include_inactive: bool,
    expected: list[str],
) -> None:
    got = listed(
        service,
        parent_id=tree[parent].id if parent else None,
        root_only=root_only,
        include_inactive=include_inactive,
    )
    # Sorted by sort_order, ties by id: compare against that order computed independently.
    by_key = sorted(expected, key=lambda slug: (tree[slug].sort_order, tree[slug].id))
    assert got == by_key


def test_list_of_an_unknown_parent_is_empty(service: CategoryService, tree: object) -> None:
    assert listed(service, parent_id="ghost", include_inactive=True) == []


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 12, 13, 100])
@pytest.mark.parametrize("include_inactive", [False, True])
def test_pagination_returns_every_item_once_in_order(
    repo: InMemoryCategories, service: CategoryService, limit: int, include_inactive: bool
) -> None:
    # Ties on sort_order force the id tie-break across page boundaries.
    for i in range(12):
        make(service, f"c-{i}", sort_order=i % 3, active=i % 4 != 0)
    expected = listed(service, include_inactive=include_inactive)
    assert len(expected) == (12 if include_inactive else 9)

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = service.list(
            parent_id=None,
            root_only=False,
            include_inactive=include_inactive,
            limit=limit,
            cursor=cursor,
        )
        pages += 1
        assert len(page.items) <= limit
        seen += [c.slug for c in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
        assert len(page.items) == limit
        assert pages <= 20
    assert seen == expected
    assert pages == max(1, -(-len(expected) // limit))


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    ["garbage!", _b64("{}"), _b64("[1, 2, 3]"), _b64('["a", "b"]'), _b64("[1, 2]"), _b64("nul")],
)
def test_a_cursor_the_list_never_returned_is_invalid(service: CategoryService, cursor: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        service.list(
            parent_id=None, root_only=False, include_inactive=False, limit=5, cursor=cursor
        )
    assert field_names(caught.value) == ["cursor"]


# --- races between tree writes (a concurrent writer lands between our read and our write) ---


def _move(repo: InMemoryCategories, category_id: str, parent_id: str) -> Callable[[], None]:
    """A concurrent move that skips every check (it won its own race a moment ago)."""

    def write() -> None:
        current = repo.get(category_id)
        moved = current.value.model_copy(update={"parent_id": parent_id})
        repo.replace(moved, previous_slug=current.value.slug, expected_version=current.version)

    return write


def _cycle_free(repo: InMemoryCategories, ids: list[str]) -> bool:
    for start in ids:
        seen, current = set(), repo.get(start).value.parent_id
        while current is not None:
            if current == start or current in seen:
                return False
            seen.add(current)
            current = repo.get(current).value.parent_id
    return True


def test_two_crossing_moves_cannot_close_a_cycle(
    service: CategoryService, repo: InMemoryCategories
) -> None:
    a, b = make(service, "a"), make(service, "b")
    # While we move A under B (having read B: a root), someone moves B under A.
    repo.interleave(_move(repo, b.id, a.id))
    with pytest.raises(Conflict, match="cycle"):
        service.update(a.id, patch(parent_id=b.id), expected_version=None)
    assert _cycle_free(repo, [a.id, b.id])
    assert repo.get(b.id).value.parent_id == a.id and repo.get(a.id).value.parent_id is None


def test_a_move_racing_a_move_of_a_distant_ancestor_is_rechecked(
    service: CategoryService, repo: InMemoryCategories
) -> None:
    top = make(service, "top")
    mid = make(service, "mid", parent_id=top.id)
    leaf = make(service, "leaf", parent_id=mid.id)
    other = make(service, "other")
    # We move `top` under `other`; meanwhile `other` is moved under `leaf` (top's descendant).
    repo.interleave(_move(repo, other.id, leaf.id))
    with pytest.raises(Conflict, match="cycle"):
        service.update(top.id, patch(parent_id=other.id), expected_version=None)
    assert _cycle_free(repo, [top.id, mid.id, leaf.id, other.id])


def test_a_child_created_while_its_parent_is_deleted_is_refused(
    service: CategoryService, repo: InMemoryCategories
) -> None:
    parent = make(service, "parent")
    found = repo.get(parent.id)
    repo.interleave(
        lambda: repo.delete(parent.id, slug=parent.slug, expected_version=found.version)
    )
    with pytest.raises(ValidationFailed) as caught:
        make(service, "child", parent_id=parent.id)
    assert field_names(caught.value) == ["parent_id"]
    assert repo.slug_owner("child") is None


def test_a_delete_racing_a_new_child_sees_it_and_refuses(
    service: CategoryService, repo: InMemoryCategories
) -> None:
    parent = make(service, "parent")
    # The child lands between the delete's checks and its write: the parent's version moved.
    repo.interleave(lambda: make(service, "child", parent_id=parent.id))
    with pytest.raises(Conflict, match="child"):
        service.delete(parent.id, expected_version=None)
    assert repo.get(parent.id).value.id == parent.id


def test_a_delete_racing_a_new_product_sees_it_and_refuses(
    service: CategoryService, repo: InMemoryCategories
) -> None:
    category = make(service, "tea")

    def product_created() -> None:
        repo.link(category.id)  # what the products adapter does in the product's commit
        repo.products["p1"] = category.id

    repo.interleave(product_created)
    with pytest.raises(Conflict, match="products"):
        service.delete(category.id, expected_version=None)
