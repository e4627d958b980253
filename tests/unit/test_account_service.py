"""Unit tests of the account models and AccountService over in-memory profiles and identities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from celeste.accounts.profiles import (
    MAX_ADDRESSES,
    AdminUserPatch,
    Identity,
    Profile,
    ProfilePatch,
    ProfileView,
    RegisterRequest,
    fallback_display_name,
)
from celeste.accounts.tiers import FALLBACK_TIER, CustomerStats, RecentDelivery
from celeste.kernel.errors import (
    Conflict,
    Contention,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
)
from celeste.services.accounts import AccountService
from celeste.services.retry import REQUEST
from tests.fakes import FakeIdentity, InMemoryProfiles, ladder

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
TIERS = {"BRONZE": True, "SILVER": False, "GOLD": False}
ADDRESS = {"line1": "1 Main St", "city": "Lisbon", "country": "PT"}


class TickingClock:
    """A clock that advances one second on every reading."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def profiles() -> InMemoryProfiles:
    return InMemoryProfiles()


@pytest.fixture
def identity() -> FakeIdentity:
    return FakeIdentity()


@pytest.fixture
def service(profiles: InMemoryProfiles, identity: FakeIdentity) -> AccountService:
    return AccountService(
        profiles=profiles,
        identity=identity,
        tiers=ladder(TIERS),
        clock=TickingClock(),
        sleep=lambda _: None,
    )


def register(service: AccountService, email: str = "ana@example.com", **kw: Any) -> Profile:
    body = {"email": email, "password": "correct horse", "display_name": "Ana", **kw}
    return service.register(RegisterRequest.model_validate(body)).value


def fields_of(exc: ValidationError | ValidationFailed) -> list[str]:
    if isinstance(exc, ValidationFailed):
        return [e.field for e in exc.errors]
    return [".".join(str(p) for p in e["loc"]) for e in exc.errors()]


# --- request models ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("Ana@Example.COM", "ana@example.com"),
        ("  ana@example.com ", "ana@example.com"),
        ("a.b+tag@mail.example.co.uk", "a.b+tag@mail.example.co.uk"),
        ("x@e2e.test", "x@e2e.test"),
    ],
)
def test_register_email_is_trimmed_and_lower_cased(given: str, stored: str) -> None:
    body = {"email": given, "password": "12345678", "display_name": "A"}
    assert RegisterRequest.model_validate(body).email == stored


@pytest.mark.parametrize(
    "email",
    [
        "",
        "plain",
        "@example.com",
        "ana@",
        "ana@example",
        "ana@@example.com",
        "ana@exa mple.com",
        "ana..b@example.com",
        ".ana@example.com",
        "ana@-example.com",
        "ana@example.c",
        "ánä@example.com",
        "a" * 65 + "@example.com",
        "a@" + "b" * 63 + "." + ("c" * 63 + ".") * 3 + "com",
        5,
        None,
    ],
)
def test_register_refuses_a_bad_email(email: object) -> None:
    body = {"email": email, "password": "12345678", "display_name": "A"}
    with pytest.raises(ValidationError) as caught:
        RegisterRequest.model_validate(body)
    assert fields_of(caught.value) == ["email"]


def test_register_email_of_254_characters_is_the_limit() -> None:
    def email(length: int) -> str:
        domain = "d" * 61 + "." + "e" * 62 + "." + "f" * 61 + ".com"  # 190 characters
        local = "a" * (length - 1 - len(domain))
        assert len(local) <= 64
        return f"{local}@{domain}"

    RegisterRequest(email=email(254), password="12345678", display_name="A")
    with pytest.raises(ValidationError):
        RegisterRequest(email=email(255), password="12345678", display_name="A")


@pytest.mark.parametrize(
    ("password", "valid"),
    [
        ("1234567", False),
        ("12345678", True),
        ("x" * 128, True),
        ("x" * 129, False),
        (12345678, False),
    ],
)
def test_register_password_is_8_to_128_characters(password: object, valid: bool) -> None:
    body = {"email": "a@example.com", "password": password, "display_name": "A"}
    if valid:
        RegisterRequest.model_validate(body)
    else:
        with pytest.raises(ValidationError) as caught:
            RegisterRequest.model_validate(body)
        assert fields_of(caught.value) == ["password"]


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "two\nlines", "tab\there", 7])
def test_register_refuses_a_bad_display_name(name: object) -> None:
    body = {"email": "a@example.com", "password": "12345678", "display_name": name}
    with pytest.raises(ValidationError) as caught:
        RegisterRequest.model_validate(body)
    assert fields_of(caught.value) == ["display_name"]


@pytest.mark.parametrize("server_owned", ["role", "tier", "stats", "tier_locked", "email", "uid"])
def test_profile_patch_refuses_server_owned_fields(server_owned: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ProfilePatch.model_validate({server_owned: "admin"})
    assert fields_of(caught.value) == [server_owned]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": "12345"}, "phone"),
        ({"phone": "+0123456789"}, "phone"),
        ({"phone": "+1 555 0100"}, "phone"),
        ({"phone": "+1234567890123456"}, "phone"),
        ({"addresses": [ADDRESS] * (MAX_ADDRESSES + 1)}, "addresses"),
        ({"addresses": [{**ADDRESS, "country": "XX"}]}, "addresses.0.country"),
        ({"addresses": [{**ADDRESS, "recipient": "Ada"}]}, "addresses.0.recipient"),
        ({"addresses": [{**ADDRESS, "zip": "1"}]}, "addresses.0.zip"),
        ({"addresses": [{**ADDRESS, "line1": "x" * 201}]}, "addresses.0.line1"),
        ({"addresses": [{"city": "Lisbon", "country": "PT"}]}, "addresses.0.line1"),
        ({"addresses": "1 Main St"}, "addresses"),
    ],
)
def test_profile_patch_validates_each_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ProfilePatch.model_validate(body)
    assert fields_of(caught.value) == [field]


def test_profile_patch_accepts_e164_phone_and_ten_addresses() -> None:
    patch = ProfilePatch.model_validate(
        {"phone": "+351912345678", "addresses": [ADDRESS] * MAX_ADDRESSES}
    )
    assert len(patch.changes()["addresses"]) == MAX_ADDRESSES  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["display_name", "addresses"])
def test_profile_patch_null_is_refused_except_for_phone(name: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        ProfilePatch.model_validate({name: None}).changes()
    assert fields_of(caught.value) == [name]
    assert ProfilePatch.model_validate({"phone": None}).changes() == {"phone": None}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "owner"}, "role"),
        ({"tier": "gold"}, "tier"),
        ({"tier_locked": "yes"}, "tier_locked"),
        ({"disabled": 1}, "disabled"),
        ({"stats": {}}, "stats"),
    ],
)
def test_admin_patch_validates_each_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        AdminUserPatch.model_validate(body)
    assert fields_of(caught.value) == [field]


def test_fallback_display_name() -> None:
    assert fallback_display_name(Identity("u", "ana@x.com", "Ana B")) == "Ana B"
    assert fallback_display_name(Identity("u", "ana@x.com", "  ")) == "ana"
    assert fallback_display_name(Identity("u", None, None)) == "Customer"
    assert fallback_display_name(Identity("u", None, "x\ny" + "z" * 200)) == "xy" + "z" * 98


def test_view_counts_recent_unrefunded_deliveries_at_read_time() -> None:
    def delivery(order: str, days_ago: int, refunded: bool = False) -> RecentDelivery:
        moment = T0 - timedelta(days=days_ago)
        return RecentDelivery(order_id=order, delivered_at=moment, amount=100, refunded=refunded)

    stats = CustomerStats(
        orders_count=9,
        lifetime_spend=12_345,
        recent_deliveries=[
            delivery("a", 1),
            delivery("b", 29),
            delivery("c", 31),
            delivery("d", 2, True),
        ],
    )
    profile = Profile(
        uid="u", display_name="A", tier="GOLD", stats=stats, created_at=T0, updated_at=T0
    )
    view = ProfileView.of(profile, now=T0).model_dump(mode="json")
    assert view["stats"] == {
        "orders_count": 9,
        "lifetime_spend": {"EUR": 12_345},  # a stored scalar reads as the shop's currency
        "orders_last_30_days": 2,
    }
    assert "recent_deliveries" not in str(view)
    assert ProfileView.of(profile, now=T0 + timedelta(days=2)).stats.orders_last_30_days == 1


# --- register ---------------------------------------------------------------------------------


def test_register_creates_account_then_profile_with_the_default_tier(
    service: AccountService, identity: FakeIdentity, profiles: InMemoryProfiles
) -> None:
    made = register(service, "Ana@Example.com")
    account = identity.accounts[made.uid]
    assert (account.email, account.password, account.display_name) == (
        "ana@example.com",
        "correct horse",
        "Ana",
    )
    stored = profiles.get(made.uid).value
    assert stored == made
    assert (stored.email, stored.display_name, stored.role, stored.tier) == (
        "ana@example.com",
        "Ana",
        "customer",
        "BRONZE",
    )
    assert (stored.tier_locked, stored.disabled, stored.stats) == (False, False, CustomerStats())
    assert stored.created_at == stored.updated_at


def test_register_uses_whichever_tier_is_the_default(identity: FakeIdentity) -> None:
    tiers = ladder({"BRONZE": False, "STARTER": True})
    service = AccountService(profiles=InMemoryProfiles(), identity=identity, tiers=tiers)
    assert register(service).tier == "STARTER"


def test_register_falls_back_to_bronze_while_no_tier_exists(identity: FakeIdentity) -> None:
    service = AccountService(profiles=InMemoryProfiles(), identity=identity, tiers=ladder())
    assert FALLBACK_TIER == "BRONZE"
    assert register(service).tier == "BRONZE"


def test_register_duplicate_email_is_a_conflict_and_writes_nothing(
    service: AccountService, identity: FakeIdentity, profiles: InMemoryProfiles
) -> None:
    register(service)
    with pytest.raises(Conflict):
        register(service, "ANA@example.com")
    assert len(identity.accounts) == 1 and len(profiles) == 1


@pytest.mark.parametrize(
    "failure", [Contention("busy"), OSError("firestore unreachable"), KeyboardInterrupt()]
)
def test_register_deletes_the_account_when_the_profile_write_fails(
    service: AccountService,
    identity: FakeIdentity,
    profiles: InMemoryProfiles,
    failure: BaseException,
) -> None:
    profiles.fail_next_create = failure
    with pytest.raises(type(failure)) as caught:
        register(service)
    assert caught.value is failure
    assert identity.accounts == {} and len(profiles) == 0
    assert [call[0] for call in identity.calls] == ["create_user", "delete_user"]
    register(service)  # the email is free again
    assert len(identity.accounts) == 1


def test_failed_compensation_still_raises_the_profile_error_with_a_note(
    service: AccountService, identity: FakeIdentity, profiles: InMemoryProfiles
) -> None:
    failure = OSError("firestore unreachable")
    profiles.fail_next_create = failure
    identity.fail_on["delete_user"] = RuntimeError("auth unreachable")
    with pytest.raises(OSError) as caught:
        register(service)
    assert caught.value is failure
    assert any("compensation failed" in note for note in caught.value.__notes__)


def test_register_keeps_a_profile_the_users_first_get_me_made_meanwhile(
    service: AccountService, identity: FakeIdentity, profiles: InMemoryProfiles
) -> None:
    def first_get_me() -> None:
        account = next(iter(identity.accounts.values()))
        service.me(Identity(account.uid, account.email, account.display_name))

    profiles.interleave(first_get_me)
    made = register(service)
    assert identity.accounts.keys() == {made.uid}
    assert len(profiles) == 1
    assert "delete_user" not in [call[0] for call in identity.calls]


# --- GET /me ----------------------------------------------------------------------------------


def test_me_creates_the_profile_on_the_first_call_only(
    service: AccountService, profiles: InMemoryProfiles
) -> None:
    who = Identity("sdk-user", "sdk@example.com", None, "customer")
    first = service.me(who)
    assert (first.value.display_name, first.value.tier, first.value.role) == (
        "sdk",
        "BRONZE",
        "customer",
    )
    writes = profiles.writes
    again = service.me(who)
    assert again == first and profiles.writes == writes


def test_me_takes_the_role_from_the_token_when_creating(service: AccountService) -> None:
    assert service.me(Identity("boss", "boss@example.com", "Boss", "admin")).value.role == "admin"


def test_two_racing_first_calls_store_one_profile(
    service: AccountService, profiles: InMemoryProfiles
) -> None:
    who = Identity("racer", "racer@example.com", "Racer")
    seen: list[str] = []
    profiles.interleave(lambda: seen.append(service.me(who).version))
    mine = service.me(who)
    assert len(profiles) == 1 and seen == [mine.version]


# --- PATCH /me --------------------------------------------------------------------------------


def test_update_me_changes_only_the_fields_sent(service: AccountService) -> None:
    who = Identity("u1", "u1@example.com", "One")
    before = service.me(who)
    patch = ProfilePatch.model_validate({"phone": "+351912345678", "addresses": [ADDRESS]})
    after = service.update_me(who, patch, expected_version=None).value
    assert after.phone == "+351912345678"
    assert [a.model_dump(exclude_none=True) for a in after.addresses] == [ADDRESS]
    assert after.display_name == "One" and after.tier == before.value.tier
    assert after.updated_at > before.value.updated_at
    assert after.created_at == before.value.created_at
    cleared = service.update_me(who, ProfilePatch(phone=None), expected_version=None).value
    assert cleared.phone is None and len(cleared.addresses) == 1


def test_update_me_makes_the_profile_first_when_absent(service: AccountService) -> None:
    who = Identity("new", "new@example.com", None)
    patch = ProfilePatch(display_name="Newcomer")
    assert service.update_me(who, patch, expected_version=None).value.display_name == "Newcomer"


def test_update_me_honours_if_match_and_retries_a_race(
    service: AccountService, profiles: InMemoryProfiles
) -> None:
    who = Identity("u1", "u1@example.com", "One")
    made = service.me(who)
    service.update_me(who, ProfilePatch(display_name="Two"), expected_version=made.version)
    with pytest.raises(PreconditionFailed):
        service.update_me(who, ProfilePatch(display_name="Three"), expected_version=made.version)
    # A trigger updating stats between our read and write: retried on fresh data, nothing lost.
    profiles.interleave(lambda: _bump_stats(profiles, "u1"))
    after = service.update_me(who, ProfilePatch(display_name="Four"), expected_version=None)
    assert after.value.display_name == "Four" and after.value.stats.orders_count == 1


def test_update_me_gives_up_with_contention_when_always_raced(
    service: AccountService, profiles: InMemoryProfiles
) -> None:
    who = Identity("u1", "u1@example.com", "One")
    service.me(who)
    for _ in range(REQUEST.attempts):
        profiles.interleave(lambda: _bump_stats(profiles, "u1"))
    with pytest.raises(Contention):
        service.update_me(who, ProfilePatch(display_name="X"), expected_version=None)


def test_empty_patch_writes_nothing(service: AccountService, profiles: InMemoryProfiles) -> None:
    who = Identity("u1", "u1@example.com", "One")
    made = service.me(who)
    writes = profiles.writes
    assert service.update_me(who, ProfilePatch(), expected_version=None) == made
    assert profiles.writes == writes


def _bump_stats(profiles: InMemoryProfiles, uid: str) -> None:
    current = profiles.get(uid)
    bumped = current.value.model_copy(
        update={"stats": CustomerStats(orders_count=current.value.stats.orders_count + 1)}
    )
    profiles.update(bumped, fields=frozenset({"stats"}), expected_version=current.version)


# --- admins -----------------------------------------------------------------------------------


def test_admin_sets_role_on_profile_and_claim(
    service: AccountService, identity: FakeIdentity
) -> None:
    user = register(service)
    updated = service.update_user(
        user.uid, AdminUserPatch(role="admin"), actor_uid="boss", expected_version=None
    )
    assert updated.value.role == "admin"
    assert identity.accounts[user.uid].claims == {"role": "admin"}
    service.update_user(
        user.uid, AdminUserPatch(role="customer"), actor_uid="boss", expected_version=None
    )
    assert identity.accounts[user.uid].claims == {"role": "customer"}


def test_repeating_a_role_change_reapplies_the_claim(
    service: AccountService, identity: FakeIdentity
) -> None:
    user = register(service)
    identity.fail_on["set_role_claim"] = RuntimeError("auth unreachable")
    with pytest.raises(RuntimeError):
        service.update_user(
            user.uid, AdminUserPatch(role="admin"), actor_uid="boss", expected_version=None
        )
    assert identity.accounts[user.uid].claims == {}
    service.update_user(
        user.uid, AdminUserPatch(role="admin"), actor_uid="boss", expected_version=None
    )
    assert identity.accounts[user.uid].claims == {"role": "admin"}


def test_admin_disables_and_enables_an_account(
    service: AccountService, identity: FakeIdentity
) -> None:
    user = register(service)
    off = service.update_user(
        user.uid, AdminUserPatch(disabled=True), actor_uid="boss", expected_version=None
    )
    account = identity.accounts[user.uid]
    assert off.value.disabled and account.disabled and account.tokens_revoked
    on = service.update_user(
        user.uid, AdminUserPatch(disabled=False), actor_uid="boss", expected_version=None
    )
    assert not on.value.disabled and not account.disabled


def test_admin_sets_and_locks_a_known_tier_only(
    service: AccountService, identity: FakeIdentity
) -> None:
    user = register(service)
    patch = AdminUserPatch(tier="GOLD", tier_locked=True)
    updated = service.update_user(user.uid, patch, actor_uid="boss", expected_version=None).value
    assert (updated.tier, updated.tier_locked, updated.role) == ("GOLD", True, "customer")
    with pytest.raises(ValidationFailed) as caught:
        service.update_user(
            user.uid, AdminUserPatch(tier="DIAMOND"), actor_uid="boss", expected_version=None
        )
    assert fields_of(caught.value) == ["tier"]
    assert [c[0] for c in identity.calls] == ["create_user"]  # no claim or disable touched


def test_with_no_tiers_only_the_fallback_tier_is_known(identity: FakeIdentity) -> None:
    service = AccountService(profiles=InMemoryProfiles(), identity=identity, tiers=ladder())
    user = register(service)
    service.update_user(
        user.uid, AdminUserPatch(tier="BRONZE"), actor_uid="b", expected_version=None
    )
    with pytest.raises(ValidationFailed):
        service.update_user(
            user.uid, AdminUserPatch(tier="GOLD"), actor_uid="b", expected_version=None
        )


@pytest.mark.parametrize("patch", [{"role": "customer"}, {"disabled": True}])
def test_an_admin_cannot_demote_or_disable_themselves(
    service: AccountService, patch: dict[str, Any]
) -> None:
    me = service.me(Identity("boss", "boss@example.com", "Boss", "admin")).value
    with pytest.raises(Conflict):
        service.update_user(
            me.uid, AdminUserPatch.model_validate(patch), actor_uid=me.uid, expected_version=None
        )
    assert service.get(me.uid).value.role == "admin"


def test_admin_update_of_an_unknown_user_is_not_found(
    service: AccountService, identity: FakeIdentity
) -> None:
    with pytest.raises(NotFound):
        service.update_user(
            "ghost", AdminUserPatch(role="admin"), actor_uid="b", expected_version=None
        )
    assert identity.calls == []


def test_admin_update_honours_if_match(service: AccountService) -> None:
    user = register(service)
    version = service.get(user.uid).version
    service.update_user(
        user.uid, AdminUserPatch(tier_locked=True), actor_uid="b", expected_version=version
    )
    with pytest.raises(PreconditionFailed):
        service.update_user(
            user.uid, AdminUserPatch(tier_locked=False), actor_uid="b", expected_version=version
        )


def test_list_filters_by_role_and_tier_and_pages_oldest_first(service: AccountService) -> None:
    uids = [register(service, f"u{i}@example.com").uid for i in range(7)]
    for uid in uids[:3]:
        service.update_user(uid, AdminUserPatch(tier="GOLD"), actor_uid="b", expected_version=None)
    service.update_user(uids[1], AdminUserPatch(role="admin"), actor_uid="b", expected_version=None)
    seen: list[str] = []
    cursor = None
    while True:
        page = service.list(role=None, tier=None, limit=3, cursor=cursor)
        seen += [p.uid for p in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == uids
    gold = service.list(role=None, tier="GOLD", limit=10, cursor=None).items
    assert [p.uid for p in gold] == uids[:3]
    gold_admins = service.list(role="admin", tier="GOLD", limit=10, cursor=None).items
    assert [p.uid for p in gold_admins] == [uids[1]]
    customers = service.list(role="customer", tier=None, limit=10, cursor=None).items
    assert len(customers) == 6


def test_make_admin_promotes_by_email_making_the_profile_if_needed(
    service: AccountService, identity: FakeIdentity
) -> None:
    uid = identity.add("first@example.com", display_name="First")
    promoted = service.make_admin("first@example.com").value
    assert (promoted.uid, promoted.role, promoted.display_name) == (uid, "admin", "First")
    assert identity.accounts[uid].claims == {"role": "admin"}
    with pytest.raises(NotFound):
        service.make_admin("nobody@example.com")
