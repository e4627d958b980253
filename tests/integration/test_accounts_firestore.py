"""The accounts adapters against the emulators: profiles in Firestore, accounts in Auth."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from google.cloud import firestore

from celeste.accounts.profiles import Identity, Profile, RegisterRequest
from celeste.accounts.tiers import CustomerStats, RecentDelivery
from celeste.kernel.addresses import SavedAddress
from celeste.kernel.errors import (
    Conflict,
    Contention,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
)
from celeste.services.accounts import AccountService
from celeste.services.tiers import TierService
from celeste_functions.adapters.accounts import (
    FirebaseIdentity,
    FirestoreCustomers,
    FirestoreProfiles,
)
from celeste_functions.adapters.tiers import FirestoreTiers
from celeste_functions.clients import firebase_app
from tests.conftest import require_env
from tests.support.writers import uncached_writer

pytestmark = pytest.mark.integration

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def repo(db: firestore.Client) -> FirestoreProfiles:
    return FirestoreProfiles(client=lambda: db)


@pytest.fixture(scope="module")
def identity() -> FirebaseIdentity:
    require_env("FIREBASE_AUTH_EMULATOR_HOST")
    return FirebaseIdentity(app=firebase_app.get)


def _profile(uid: str, **kw: object) -> Profile:
    fields: dict[str, object] = {
        "display_name": uid.title(),
        "email": f"{uid}@example.com",
        "tier": "BRONZE",
        "created_at": T0,
        "updated_at": T0,
    }
    fields.update(kw)
    return Profile.model_validate({"uid": uid, **fields})


def _email() -> str:
    return f"it-{uuid.uuid4().hex[:12]}@example.com"


# --- FirestoreProfiles ------------------------------------------------------------------------


def test_create_get_roundtrip_keeps_every_field(repo: FirestoreProfiles) -> None:
    stats = CustomerStats(
        orders_count=3,
        lifetime_spend=4_200,
        recent_deliveries=[RecentDelivery(order_id="o1", delivered_at=T0, amount=1_400)],
    )
    address = SavedAddress(line1="1 Main St", city="Porto", country="PT", label="Home")
    made = _profile("u1", phone="+351912345678", addresses=[address], stats=stats, tier_locked=True)
    created = repo.create(made)
    got = repo.get("u1")
    assert got.value == made == created.value
    assert got.version == created.version and got.version.isdigit()


def test_create_is_atomic_create_if_absent(repo: FirestoreProfiles) -> None:
    repo.create(_profile("u1", display_name="First"))
    with pytest.raises(Conflict):
        repo.create(_profile("u1", display_name="Second"))
    assert repo.get("u1").value.display_name == "First"
    with pytest.raises(NotFound):
        repo.get("nobody")


def test_update_writes_only_the_named_fields(repo: FirestoreProfiles, db: firestore.Client) -> None:
    created = repo.create(_profile("u1"))
    # Another writer's field (a later feature) and its stats update must survive our write.
    db.collection("users").document("u1").update({"future_field": "kept", "stats.orders_count": 7})
    current = repo.get("u1")
    assert current.value.stats.orders_count == 7
    stale_copy = created.value.model_copy(update={"display_name": "Renamed", "tier": "GOLD"})
    updated = repo.update(
        stale_copy, fields=frozenset({"display_name"}), expected_version=current.version
    )
    assert updated.value.display_name == "Renamed"
    assert updated.value.tier == "BRONZE" and updated.value.stats.orders_count == 7
    raw = db.collection("users").document("u1").get().to_dict() or {}
    assert raw["future_field"] == "kept" and "uid" not in raw


def test_update_refuses_a_stale_or_vanished_version(
    repo: FirestoreProfiles, db: firestore.Client
) -> None:
    created = repo.create(_profile("u1"))
    changed = created.value.model_copy(update={"display_name": "A"})
    repo.update(changed, fields=frozenset({"display_name"}), expected_version=created.version)
    with pytest.raises(PreconditionFailed):
        repo.update(changed, fields=frozenset({"display_name"}), expected_version=created.version)
    db.collection("users").document("u1").delete()
    with pytest.raises(PreconditionFailed):
        repo.update(changed, fields=frozenset({"display_name"}), expected_version=created.version)


def test_list_filters_and_pages_every_profile_once(repo: FirestoreProfiles) -> None:
    for i in range(11):
        repo.create(
            _profile(
                f"u{i:02d}",
                created_at=T0 + timedelta(seconds=i // 3),  # ties broken by uid
                role="admin" if i % 4 == 0 else "customer",
                tier="GOLD" if i % 2 else "BRONZE",
            )
        )

    def walk(**filters: object) -> list[str]:
        seen: list[str] = []
        cursor = None
        while True:
            page = repo.list(limit=3, cursor=cursor, **filters)  # type: ignore[arg-type]
            seen += [p.uid for p in page.items]
            if page.next_cursor is None:
                return seen
            cursor = page.next_cursor

    assert walk(role=None, tier=None) == [f"u{i:02d}" for i in range(11)]
    assert walk(role="admin", tier=None) == ["u00", "u04", "u08"]
    assert walk(role=None, tier="GOLD") == [f"u{i:02d}" for i in range(1, 11, 2)]
    assert walk(role="customer", tier="BRONZE") == ["u02", "u06", "u10"]


@pytest.mark.parametrize("cursor", ["garbage", "WyJub3QtYS1kYXRlIiwgInUxIl0", "WzEsIDJd"])
def test_list_refuses_a_forged_cursor(repo: FirestoreProfiles, cursor: str) -> None:
    with pytest.raises(ValidationFailed):
        repo.list(role=None, tier=None, limit=3, cursor=cursor)


def _accounts(
    repo: FirestoreProfiles, identity: FirebaseIdentity, db: firestore.Client
) -> AccountService:
    tiers = TierService(repository=FirestoreTiers(client=lambda: db, writer=uncached_writer(db)))
    return AccountService(profiles=repo, identity=identity, tiers=tiers)


def test_default_tier_comes_from_the_tiers_collection(
    repo: FirestoreProfiles, db: firestore.Client
) -> None:
    service = _accounts(repo, FirebaseIdentity(app=firebase_app.get), db)
    assert service.default_tier_code() == "BRONZE"  # no tiers yet: the fallback
    tiers = db.collection("tiers")
    tiers.document("GOLD").set({"code": "GOLD", "name": "Gold", "level": 3, "is_default": False})
    tiers.document("IRON").set({"code": "IRON", "name": "Iron", "level": 1, "is_default": False})
    assert service.default_tier_code() == "IRON"  # none marked (a console edit): the lowest
    tiers.document("STARTER").set(
        {"code": "STARTER", "name": "Starter", "level": 2, "is_default": True}
    )
    assert service.default_tier_code() == "STARTER"


def test_customers_read_only_the_tier_and_standing_of_a_profile(
    repo: FirestoreProfiles, db: firestore.Client
) -> None:
    customers = FirestoreCustomers(client=lambda: db)
    assert customers.standing("alice") is None and customers.tier_of("alice") is None
    db.collection("users").document("alice").set(
        {"tier": "SILVER", "display_name": "A", "stats": CustomerStats(orders_count=2).model_dump()}
    )
    standing = customers.standing("alice")
    assert standing is not None and standing.value.tier == "SILVER"
    assert standing.value.stats.orders_count == 2 and not standing.value.tier_locked
    assert customers.tier_of("alice") == "SILVER"
    assert FirestoreTiers(client=lambda: db, writer=uncached_writer(db)).is_held("SILVER")
    assert not FirestoreTiers(client=lambda: db, writer=uncached_writer(db)).is_held("GOLD")


def test_racing_first_calls_make_one_profile(repo: FirestoreProfiles, db: firestore.Client) -> None:
    service = _accounts(repo, FirebaseIdentity(app=firebase_app.get), db)
    who = Identity("racer", "racer@example.com", "Racer")
    barrier = threading.Barrier(8)
    versions: list[str] = []
    errors: list[BaseException] = []

    def first_call() -> None:
        barrier.wait()
        try:
            versions.append(service.me(who).version)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and len(set(versions)) == 1 and len(versions) == 8
    assert [d.id for d in db.collection("users").stream()] == ["racer"]


# --- FirebaseIdentity (Auth emulator) ---------------------------------------------------------


def test_create_find_and_delete_an_account(identity: FirebaseIdentity) -> None:
    email = _email()
    uid = identity.create_user(email=email, password="correct horse", display_name="Ana")
    found = identity.find_by_email(email)
    assert (found.uid, found.email, found.display_name, found.role) == (
        uid,
        email,
        "Ana",
        "customer",
    )
    with pytest.raises(Conflict):
        identity.create_user(email=email, password="another one", display_name="Bo")
    identity.delete_user(uid)
    identity.delete_user(uid)  # already gone: not an error
    with pytest.raises(NotFound):
        identity.find_by_email(email)


def test_a_password_auth_refuses_is_a_field_error(identity: FirebaseIdentity) -> None:
    with pytest.raises(ValidationFailed) as caught:
        identity.create_user(email=_email(), password="123", display_name="Ana")
    assert [e.field for e in caught.value.errors] == ["password"]


def test_role_claim_keeps_other_claims(identity: FirebaseIdentity) -> None:
    from firebase_admin import auth

    uid = identity.create_user(email=_email(), password="correct horse", display_name="Ana")
    auth.set_custom_user_claims(uid, {"beta": True}, app=firebase_app.get())
    identity.set_role_claim(uid, role="admin")
    assert auth.get_user(uid, app=firebase_app.get()).custom_claims == {
        "beta": True,
        "role": "admin",
    }
    assert identity.find_by_email(auth.get_user(uid, app=firebase_app.get()).email).role == "admin"
    identity.set_role_claim(uid, role="customer")
    assert auth.get_user(uid, app=firebase_app.get()).custom_claims == {
        "beta": True,
        "role": "customer",
    }
    with pytest.raises(NotFound):
        identity.set_role_claim("no-such-uid", role="admin")


def test_disable_revokes_and_enable_restores(identity: FirebaseIdentity) -> None:
    from firebase_admin import auth

    uid = identity.create_user(email=_email(), password="correct horse", display_name="Ana")
    identity.set_disabled(uid, disabled=True)
    user = auth.get_user(uid, app=firebase_app.get())
    assert user.disabled and user.tokens_valid_after_timestamp > 0
    identity.set_disabled(uid, disabled=False)
    assert not auth.get_user(uid, app=firebase_app.get()).disabled
    with pytest.raises(NotFound):
        identity.set_disabled("no-such-uid", disabled=True)


def test_register_removes_the_account_when_the_profile_write_fails(
    repo: FirestoreProfiles, identity: FirebaseIdentity
) -> None:
    class BrokenProfiles(FirestoreProfiles):
        def create(self, profile: Profile) -> object:  # type: ignore[override]
            raise Contention("the database is busy; retry shortly")

    broken = BrokenProfiles(client=repo._client)
    service = _accounts(broken, identity, repo._client())
    email = _email()
    request = RegisterRequest(email=email, password="correct horse", display_name="Ana")
    with pytest.raises(Contention):
        service.register(request)
    with pytest.raises(NotFound):
        identity.find_by_email(email)
    # And with a working store the same registration goes through.
    made = _accounts(repo, identity, repo._client()).register(request).value
    assert repo.get(made.uid).value.email == email
