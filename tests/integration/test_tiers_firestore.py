"""The tiers repository against the Firestore emulator: the revision guard, atomic batches."""

from __future__ import annotations

import threading

import pytest
import redis
from google.cloud import firestore

from celeste.accounts.tiers import DEMO_TIERS, Tier, TierCreate, TierPatch, validate_tier_set
from celeste.kernel.errors import Conflict, NotFound, PreconditionFailed
from celeste.services.tiers import TierService
from celeste_functions.adapters.cache import Cache
from celeste_functions.adapters.cached import CachedTiers
from celeste_functions.adapters.tiers import FirestoreTiers
from tests.support.redis_server import RedisServer
from tests.support.writers import uncached_writer

pytestmark = pytest.mark.integration


@pytest.fixture
def repo(db: firestore.Client) -> FirestoreTiers:
    return FirestoreTiers(client=lambda: db, writer=uncached_writer(db))


@pytest.fixture
def service(repo: FirestoreTiers) -> TierService:
    service = TierService(repository=repo)
    for tier in DEMO_TIERS:
        service.create(TierCreate.model_validate(tier.model_dump()))
    return service


def stored(repo: FirestoreTiers) -> list[Tier]:
    tiers = [found.value for found in repo.tier_set().tiers]
    validate_tier_set(tiers)
    return tiers


def test_a_fresh_set_gets_its_guard_on_the_first_write(
    repo: FirestoreTiers, db: firestore.Client
) -> None:
    assert repo.tier_set().revision is None
    with pytest.raises(PreconditionFailed):
        repo.save(revision=None, create=[DEMO_TIERS[0]])
    assert not db.collection("tiers").document("BRONZE").get().exists  # nothing half-written
    revision = repo.tier_set().revision
    assert revision is not None
    repo.save(revision=revision, create=[DEMO_TIERS[0]])
    assert repo.get("BRONZE").value == DEMO_TIERS[0]
    assert repo.tier_set().revision != revision


def test_documents_are_keyed_by_code_and_read_by_level(
    service: TierService, repo: FirestoreTiers, db: firestore.Client
) -> None:
    assert [t.code for t in stored(repo)] == ["BRONZE", "SILVER", "GOLD", "PLATINUM"]
    gold = db.collection("tiers").document("GOLD").get().to_dict() or {}
    assert gold["level"] == 3 and gold["code"] == "GOLD"
    assert gold["requirements"] == {
        "min_orders": 20,
        "min_lifetime_spend": 50_000,
        "currency": "EUR",
        "min_orders_last_30_days": 2,
    }
    assert repo.get("GOLD").value == DEMO_TIERS[2]
    with pytest.raises(NotFound):
        repo.get("IRON")


def test_a_stale_revision_writes_nothing(service: TierService, repo: FirestoreTiers) -> None:
    before = repo.tier_set()
    service.update("GOLD", TierPatch(name="Or"), expected_version=None)
    silver = next(found for found in before.tiers if found.value.code == "SILVER")
    renamed = silver.value.model_copy(update={"name": "Argent"})
    with pytest.raises(PreconditionFailed):
        repo.save(
            revision=before.revision,
            create=[Tier(code="IRON", name="Iron", level=9)],
            update=[type(silver)(renamed, silver.version)],
        )
    assert [t.code for t in stored(repo)] == ["BRONZE", "SILVER", "GOLD", "PLATINUM"]
    assert repo.get("SILVER").value.name == "Silver"


def test_a_stale_tier_version_writes_nothing(service: TierService, repo: FirestoreTiers) -> None:
    before = repo.get("GOLD")
    service.update("GOLD", TierPatch(name="Or"), expected_version=None)
    current = repo.tier_set()
    with pytest.raises(PreconditionFailed):
        repo.save(revision=current.revision, delete=[before])
    assert repo.get("GOLD").value.name == "Or"


def test_moving_the_default_is_atomic(service: TierService, repo: FirestoreTiers) -> None:
    service.update("GOLD", TierPatch(is_default=True), expected_version=None)
    assert [t.code for t in stored(repo) if t.is_default] == ["GOLD"]
    with pytest.raises(Conflict):
        service.update("GOLD", TierPatch(is_default=False), expected_version=None)
    with pytest.raises(Conflict):
        service.delete("GOLD", expected_version=None)


def test_a_taken_code_is_a_conflict_from_the_store(
    service: TierService, repo: FirestoreTiers
) -> None:
    revision = repo.tier_set().revision
    with pytest.raises(Conflict):
        repo.save(revision=revision, create=[Tier(code="GOLD", name="Gold", level=9)])


def test_users_holding_a_tier_block_its_delete(
    service: TierService, repo: FirestoreTiers, db: firestore.Client
) -> None:
    db.collection("users").document("u1").set({"tier": "SILVER", "role": "customer"})
    assert repo.is_held("SILVER") and not repo.is_held("GOLD")
    with pytest.raises(Conflict, match="users still hold"):
        service.delete("SILVER", expected_version=None)
    db.collection("users").document("u1").update({"tier": "GOLD"})
    service.delete("SILVER", expected_version=None)
    assert [t.code for t in stored(repo)] == ["BRONZE", "GOLD", "PLATINUM"]


def test_tiers_written_outside_the_api_are_read(repo: FirestoreTiers, db: firestore.Client) -> None:
    # As a console edit or another test's fixture would write them: no guard, extra fields.
    db.collection("tiers").document("BRONZE").set(
        {"name": "Bronze", "level": 1, "is_default": True, "note": "console"}
    )
    assert repo.get("BRONZE").value == Tier(code="BRONZE", name="Bronze", level=1, is_default=True)
    service = TierService(repository=repo)
    service.create(TierCreate(code="SILVER", name="Silver", level=2))
    assert [t.code for t in stored(repo)] == ["BRONZE", "SILVER"]


def test_concurrent_default_moves_leave_exactly_one_default(
    service: TierService, repo: FirestoreTiers, db: firestore.Client
) -> None:
    codes = ["SILVER", "GOLD", "PLATINUM"]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(codes))

    def move(code: str) -> None:
        mine = TierService(repository=FirestoreTiers(client=lambda: db, writer=uncached_writer(db)))
        barrier.wait()
        try:
            mine.update(code, TierPatch(is_default=True), expected_version=None)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=move, args=(code,)) for code in codes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    defaults = [t.code for t in stored(repo) if t.is_default]
    assert len(defaults) == 1 and defaults[0] in codes


class CountingTiers(FirestoreTiers):
    """The Firestore adapter, counting reads of the ladder."""

    reads = 0

    def tiers(self) -> list[Tier]:
        CountingTiers.reads += 1
        return super().tiers()


def test_the_ladder_comes_through_redis_and_writes_never_read_it(
    db: firestore.Client, redis_server: RedisServer
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    cache = Cache(client=lambda: client, ttl_s=60)
    inner = CountingTiers(client=lambda: db, writer=uncached_writer(db))
    service = TierService(repository=CachedTiers(inner=inner, cache=cache))
    for tier in DEMO_TIERS:
        service.create(TierCreate.model_validate(tier.model_dump()))
    assert [t.code for t in service.all_tiers()] == ["BRONZE", "SILVER", "GOLD", "PLATINUM"]
    reads = CountingTiers.reads
    assert service.default_tier().code == "BRONZE"
    assert CountingTiers.reads == reads  # from Redis
    # A write decides from the stored set, not the cached ladder, and then retires it.
    service.update("SILVER", TierPatch(is_default=True), expected_version=None)
    assert service.default_tier().code == "BRONZE"  # the cached ladder until retired
    cache.invalidate(["tiers"])
    assert service.default_tier().code == "SILVER"
    assert CountingTiers.reads == reads + 1
