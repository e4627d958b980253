"""Unit tests of the tier service over in-memory fakes: the set stays valid through every write."""

from __future__ import annotations

from typing import Any

import pytest

from celeste.accounts.tiers import DEMO_TIERS, Tier, TierCreate, TierPatch, validate_tier_set
from celeste.kernel.errors import (
    Conflict,
    Contention,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
)
from celeste.kernel.versions import Versioned
from celeste.services import tiers as tier_service
from celeste.services.tiers import TierService
from tests.fakes import InMemoryTiers


@pytest.fixture
def repo() -> InMemoryTiers:
    return InMemoryTiers(DEMO_TIERS)


@pytest.fixture
def service(repo: InMemoryTiers) -> TierService:
    return TierService(repository=repo)


def body(code: str, level: int, **fields: Any) -> TierCreate:
    return TierCreate.model_validate({"code": code, "name": code.title(), "level": level, **fields})


def patch(**fields: Any) -> TierPatch:
    return TierPatch.model_validate(fields)


def codes(service: TierService) -> list[tuple[str, int, bool]]:
    tiers = service.by_level()
    validate_tier_set(tiers)  # whatever happened, the stored set is valid
    return [(t.code, t.level, t.is_default) for t in tiers]


def default_of(service: TierService) -> str:
    return next(t.code for t in service.by_level() if t.is_default)


# --- reads -----------------------------------------------------------------------------------


def test_reads_are_by_level(service: TierService) -> None:
    assert codes(service) == [
        ("BRONZE", 1, True),
        ("SILVER", 2, False),
        ("GOLD", 3, False),
        ("PLATINUM", 4, False),
    ]
    assert service.get("GOLD").value.requirements.min_orders == 20
    with pytest.raises(NotFound):
        service.get("IRON")


def test_all_tiers_and_the_default_follow_writes(service: TierService) -> None:
    assert [t.code for t in service.all_tiers()] == ["BRONZE", "SILVER", "GOLD", "PLATINUM"]
    assert service.default_tier().code == "BRONZE"
    assert service.all_tiers() == list(DEMO_TIERS)
    service.update("SILVER", patch(is_default=True), expected_version=None)
    assert service.default_tier().code == "SILVER"


def test_default_tier_without_any_tier_is_a_conflict() -> None:
    with pytest.raises(Conflict):
        TierService(repository=InMemoryTiers()).default_tier()


# --- create ----------------------------------------------------------------------------------


def test_create_adds_a_tier(service: TierService) -> None:
    made = service.create(body("DIAMOND", 5, requirements={"min_orders": 100}))
    assert made.value.requirements.min_orders == 100
    assert made.value.requirements.min_lifetime_spend == 0
    assert codes(service)[-1] == ("DIAMOND", 5, False)
    assert service.get("DIAMOND") == made


def test_create_with_a_taken_code_or_level_is_a_conflict(
    service: TierService, repo: InMemoryTiers
) -> None:
    with pytest.raises(Conflict, match="already exists"):
        service.create(body("GOLD", 9))
    with pytest.raises(Conflict, match="levels must be unique"):
        service.create(body("IRON", 3))
    assert repo.saves == 0


def test_the_first_tier_must_be_the_default() -> None:
    service = TierService(repository=InMemoryTiers())
    with pytest.raises(Conflict, match="first tier must be the default"):
        service.create(body("SILVER", 2))
    service.create(body("BRONZE", 1, is_default=True))
    service.create(body("SILVER", 2))
    assert codes(service) == [("BRONZE", 1, True), ("SILVER", 2, False)]


def test_creating_a_default_moves_the_default_in_one_write(
    service: TierService, repo: InMemoryTiers
) -> None:
    service.create(body("STARTER", 0, is_default=True))
    assert default_of(service) == "STARTER"
    assert repo.saves == 1
    assert service.get("BRONZE").value.is_default is False


def test_the_tier_set_is_bounded(service: TierService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tier_service, "MAX_TIERS", 4)
    with pytest.raises(Conflict, match="at most 4"):
        service.create(body("DIAMOND", 5))


# --- update ----------------------------------------------------------------------------------


def test_patch_changes_only_what_was_sent_and_merges_requirements(service: TierService) -> None:
    before = service.get("GOLD").value
    after = service.update(
        "GOLD",
        patch(name="Gold+", requirements={"min_orders": 25}, benefits=["free shipping"]),
        expected_version=None,
    ).value
    assert after.name == "Gold+" and after.benefits == ["free shipping"]
    assert after.requirements.min_orders == 25
    assert after.requirements.min_lifetime_spend == before.requirements.min_lifetime_spend
    assert after.level == before.level and after.is_default is False


def test_moving_the_default_is_one_atomic_write(service: TierService, repo: InMemoryTiers) -> None:
    bronze_version = service.get("BRONZE").version
    service.update("GOLD", patch(is_default=True), expected_version=None)
    assert default_of(service) == "GOLD"
    assert repo.saves == 1
    assert service.get("BRONZE").version != bronze_version
    # Setting it again on the default itself changes nothing but is fine.
    service.update("GOLD", patch(is_default=True), expected_version=None)
    assert default_of(service) == "GOLD"


@pytest.mark.parametrize("code", ["BRONZE"])
def test_unsetting_the_only_default_is_a_conflict(
    service: TierService, repo: InMemoryTiers, code: str
) -> None:
    with pytest.raises(Conflict, match="default"):
        service.update(code, patch(is_default=False), expected_version=None)
    assert repo.saves == 0
    # On a tier that is not the default it is a harmless no-op.
    service.update("SILVER", patch(is_default=False), expected_version=None)
    assert default_of(service) == "BRONZE"


def test_a_level_clash_is_a_conflict(service: TierService, repo: InMemoryTiers) -> None:
    with pytest.raises(Conflict, match="levels must be unique"):
        service.update("PLATINUM", patch(level=2), expected_version=None)
    assert repo.saves == 0
    service.update("PLATINUM", patch(level=10), expected_version=None)
    assert codes(service)[-1] == ("PLATINUM", 10, False)


def test_levels_can_be_swapped_through_a_free_level(service: TierService) -> None:
    service.update("SILVER", patch(level=99), expected_version=None)
    service.update("GOLD", patch(level=2), expected_version=None)
    service.update("SILVER", patch(level=3), expected_version=None)
    assert [c for c, _, _ in codes(service)] == ["BRONZE", "GOLD", "SILVER", "PLATINUM"]


@pytest.mark.parametrize("field", ["name", "level", "is_default", "requirements", "benefits"])
def test_patch_refuses_null(service: TierService, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        service.update("GOLD", patch(**{field: None}), expected_version=None)
    assert [e.field for e in caught.value.errors] == [field]


def test_update_and_delete_of_an_unknown_tier_are_not_found(service: TierService) -> None:
    with pytest.raises(NotFound):
        service.update("IRON", patch(name="Iron"), expected_version=None)
    with pytest.raises(NotFound):
        service.delete("IRON", expected_version=None)


def test_if_match_is_honoured(service: TierService) -> None:
    old = service.get("GOLD").version
    fresh = service.update("GOLD", patch(name="Gold"), expected_version=old)
    with pytest.raises(PreconditionFailed):
        service.update("GOLD", patch(name="Stale"), expected_version=old)
    with pytest.raises(PreconditionFailed):
        service.delete("GOLD", expected_version=old)
    service.delete("GOLD", expected_version=fresh.version)


def test_a_write_to_another_tier_is_not_a_412_for_this_one(
    service: TierService, repo: InMemoryTiers
) -> None:
    gold = service.get("GOLD").version
    repo.interleave(lambda: service.update("SILVER", patch(name="Argent"), expected_version=None))
    updated = service.update("GOLD", patch(name="Or"), expected_version=gold)
    assert updated.value.name == "Or"
    assert service.get("SILVER").value.name == "Argent"


def test_two_racing_default_moves_leave_exactly_one_default(
    service: TierService, repo: InMemoryTiers
) -> None:
    # Both read the set with BRONZE as default; SILVER's move commits in between. Without the
    # revision guard GOLD's write (BRONZE off, GOLD on) would leave SILVER and GOLD both default.
    repo.interleave(lambda: service.update("SILVER", patch(is_default=True), expected_version=None))
    service.update("GOLD", patch(is_default=True), expected_version=None)
    assert [c for c, _, d in codes(service) if d] == ["GOLD"]


def test_racing_creates_of_one_level_leave_one(service: TierService, repo: InMemoryTiers) -> None:
    repo.interleave(lambda: service.create(body("IRON", 7)))
    with pytest.raises(Conflict, match="levels must be unique"):
        service.create(body("STEEL", 7))
    assert [c for c, level, _ in codes(service) if level == 7] == ["IRON"]


def test_a_set_that_keeps_changing_is_contention(
    service: TierService, repo: InMemoryTiers, monkeypatch: pytest.MonkeyPatch
) -> None:
    def always_raced(**kwargs: object) -> None:
        raise PreconditionFailed("changed")

    monkeypatch.setattr(repo, "save", always_raced)
    with pytest.raises(Contention):
        service.update("GOLD", patch(name="X"), expected_version=None)


def test_the_first_write_to_a_set_without_revision_settles() -> None:
    repo = InMemoryTiers()
    service = TierService(repository=repo)
    assert service.create(body("BRONZE", 1, is_default=True)).value.code == "BRONZE"
    assert repo.saves == 1


# --- delete ----------------------------------------------------------------------------------


def test_delete_removes_a_tier_nobody_holds(service: TierService) -> None:
    service.delete("PLATINUM", expected_version=None)
    assert [c for c, _, _ in codes(service)] == ["BRONZE", "SILVER", "GOLD"]
    with pytest.raises(NotFound):
        service.get("PLATINUM")


def test_delete_of_the_default_is_a_conflict(service: TierService, repo: InMemoryTiers) -> None:
    with pytest.raises(Conflict, match="default"):
        service.delete("BRONZE", expected_version=None)
    assert repo.saves == 0


def test_delete_of_a_held_tier_is_a_conflict(service: TierService, repo: InMemoryTiers) -> None:
    repo.holders["u1"] = "GOLD"
    with pytest.raises(Conflict, match="users still hold"):
        service.delete("GOLD", expected_version=None)
    del repo.holders["u1"]
    service.delete("GOLD", expected_version=None)


def test_tiers_returned_are_the_models_of_the_domain(service: TierService) -> None:
    found: Versioned[Tier] = service.get("BRONZE")
    assert type(found.value) is Tier
    assert type(service.create(body("IRON", 9)).value) is Tier
