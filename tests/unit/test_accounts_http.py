"""Unit tests of the ``auth``, ``me`` and ``users`` functions over in-memory fakes.

As in test_http.py, only ``authenticate`` is replaced (test tokens map to callers); requests are
real ``flask.Request`` objects and everything else is the real router, mapper and service.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest
from flask import Response

from celeste.services.accounts import AccountService
from celeste_functions import clients, composition
from celeste_functions.adapters.cache import Cache
from celeste_functions.composition import Services
from celeste_functions.http.auth import Caller
from celeste_functions.resources import auth as auth_resource
from celeste_functions.resources import me as me_resource
from celeste_functions.resources import users as users_resource
from tests.fakes import FakeIdentity, InMemoryProfiles, ladder
from tests.support.handlers import assert_problem, body_of, call, use_test_tokens

ADMIN = Caller(uid="admin-1", email="admin@unit.test", role="admin", name="Ada Admin")
CUSTOMER = Caller(uid="customer-1", email="customer@unit.test", role="customer")
OTHER = Caller(uid="customer-2", email="other@unit.test", role="customer", name="Otto")
TOKENS = {"admin-token": ADMIN, "customer-token": CUSTOMER, "other-token": OTHER}
AS_ADMIN = {"Authorization": "Bearer admin-token"}
AS_CUSTOMER = {"Authorization": "Bearer customer-token"}
AS_OTHER = {"Authorization": "Bearer other-token"}
PASSWORD = "s3cret-passw0rd"
REGISTER = {"email": "New@Example.com", "password": PASSWORD, "display_name": "Newt"}
PROFILE_FIELDS = {
    "uid",
    "email",
    "display_name",
    "phone",
    "addresses",
    "notifications",
    "role",
    "tier",
    "tier_locked",
    "disabled",
    "stats",
    "created_at",
    "updated_at",
}


@pytest.fixture
def profiles() -> InMemoryProfiles:
    return InMemoryProfiles()


@pytest.fixture
def identity() -> FakeIdentity:
    return FakeIdentity()


@pytest.fixture(autouse=True)
def wired(profiles: InMemoryProfiles, identity: FakeIdentity) -> Iterator[None]:
    composition.use(
        Services(
            cache=Cache(client=lambda: None, ttl_s=60),
            accounts=AccountService(
                profiles=profiles,
                identity=identity,
                tiers=ladder({"BRONZE": True, "SILVER": False, "GOLD": False}),
            ),
        )
    )
    yield
    composition.services.reset()


@pytest.fixture(autouse=True)
def test_tokens(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Bearer tokens from ``TOKENS``; any other bearer token is forged (401)."""
    use_test_tokens(monkeypatch, TOKENS)
    yield
    assert clients.firebase_app._value is clients._UNSET, "a unit test reached Firebase"


def auth_call(method: str, path: str, **kw: Any) -> Response:
    return call(auth_resource.router, method, path, **kw)


def me_call(method: str, path: str = "/", **kw: Any) -> Response:
    return call(me_resource.router, method, path, **kw)


def users_call(method: str, path: str = "/", **kw: Any) -> Response:
    return call(users_resource.router, method, path, **kw)


def problem(response: Response, status: int) -> dict[str, Any]:
    """A problem response that never echoes the password."""
    assert PASSWORD not in response.get_data(as_text=True)
    return assert_problem(response, status)


def error_fields(response: Response) -> list[str]:
    return [e["field"] for e in problem(response, 400).get("errors", [])]


def registered(email: str = "new@example.com") -> dict[str, Any]:
    response = auth_call("POST", "/register", json_body={**REGISTER, "email": email})
    assert response.status_code == 201, response.get_data(as_text=True)
    return cast(dict[str, Any], body_of(response))


# --- auth -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/register", "/auth/register", "/register/"])
def test_register_is_201_with_the_profile(path: str, identity: FakeIdentity) -> None:
    response = auth_call("POST", path, json_body=REGISTER)
    assert response.status_code == 201
    body = body_of(response)
    assert set(body) == PROFILE_FIELDS
    assert response.headers["ETag"]
    assert (body["email"], body["display_name"], body["role"], body["tier"]) == (
        "new@example.com",
        "Newt",
        "customer",
        "BRONZE",
    )
    assert body["stats"] == {"orders_count": 0, "lifetime_spend": {}, "orders_last_30_days": 0}
    assert body["created_at"].endswith("Z") and body["addresses"] == []
    assert PASSWORD not in response.get_data(as_text=True)
    assert identity.accounts[body["uid"]].password == PASSWORD


def test_register_needs_no_token_and_ignores_a_signed_in_callers_role() -> None:
    response = auth_call("POST", "/register", json_body=REGISTER, headers=AS_ADMIN)
    assert body_of(response)["role"] == "customer"


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"email": "not-an-email"}, ["email"]),
        ({"email": "a" * 250 + "@example.com"}, ["email"]),
        ({"password": "short"}, ["password"]),
        ({"password": "x" * 129}, ["password"]),
        ({"display_name": ""}, ["display_name"]),
        ({"email": "bad", "password": "short"}, ["email", "password"]),
        ({"role": "admin"}, ["role"]),
        ({"tier": "GOLD"}, ["tier"]),
    ],
)
def test_register_with_invalid_fields_is_400_per_field(
    change: dict[str, Any], fields: list[str], identity: FakeIdentity
) -> None:
    response = auth_call("POST", "/register", json_body={**REGISTER, **change})
    assert error_fields(response) == fields
    assert identity.accounts == {}


def test_register_with_missing_fields_names_each() -> None:
    assert error_fields(auth_call("POST", "/register", json_body={})) == [
        "email",
        "password",
        "display_name",
    ]


def test_register_duplicate_email_is_409(identity: FakeIdentity) -> None:
    registered()
    response = auth_call("POST", "/register", json_body={**REGISTER, "email": "NEW@example.com"})
    problem(response, 409)
    assert len(identity.accounts) == 1


def test_register_compensates_a_failed_profile_write_with_an_opaque_500(
    profiles: InMemoryProfiles, identity: FakeIdentity
) -> None:
    profiles.fail_next_create = OSError("firestore: connection refused")
    response = auth_call("POST", "/register", json_body=REGISTER)
    assert "connection refused" not in problem(response, 500)["detail"]
    assert identity.accounts == {}


@pytest.mark.parametrize(("method", "path"), [("GET", "/register"), ("POST", "/"), ("GET", "/x")])
def test_auth_serves_only_post_register(method: str, path: str) -> None:
    assert auth_call(method, path).status_code in (404, 405)


# --- me ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PATCH"])
def test_me_needs_a_token(method: str) -> None:
    problem(me_call(method, json_body={"display_name": "X"}), 401)
    problem(me_call(method, json_body={}, headers={"Authorization": "Bearer forged"}), 401)


def test_get_me_makes_the_profile_on_the_first_call(profiles: InMemoryProfiles) -> None:
    first = me_call("GET", headers=AS_OTHER)
    assert first.status_code == 200
    body = body_of(first)
    assert (body["uid"], body["email"], body["display_name"], body["tier"]) == (
        "customer-2",
        "other@unit.test",
        "Otto",
        "BRONZE",
    )
    again = me_call("GET", "/me", headers=AS_OTHER)
    assert body_of(again) == body and again.headers["ETag"] == first.headers["ETag"]
    assert len(profiles) == 1


def test_get_me_of_an_admin_token_records_the_admin_role() -> None:
    assert body_of(me_call("GET", headers=AS_ADMIN))["role"] == "admin"


def test_get_me_takes_no_query_parameters() -> None:
    assert error_fields(me_call("GET", "/?uid=someone-else", headers=AS_CUSTOMER)) == ["uid"]


def test_patch_me_changes_display_name_phone_addresses() -> None:
    address = {"label": "Home", "line1": "1 Main St", "city": "Porto", "country": "PT"}
    response = me_call(
        "PATCH",
        json_body={"display_name": " Cleo ", "phone": "+351912345678", "addresses": [address]},
        headers=AS_CUSTOMER,
    )
    assert response.status_code == 200
    body = body_of(response)
    assert (body["display_name"], body["phone"]) == ("Cleo", "+351912345678")
    assert body["addresses"][0]["label"] == "Home" and body["addresses"][0]["line2"] is None
    assert body_of(me_call("GET", headers=AS_CUSTOMER)) == body


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"role": "admin"}, ["role"]),
        ({"tier": "GOLD"}, ["tier"]),
        ({"stats": {"orders_count": 99}}, ["stats"]),
        ({"tier_locked": True}, ["tier_locked"]),
        ({"disabled": False}, ["disabled"]),
        ({"email": "x@example.com"}, ["email"]),
        ({"display_name": "Fine", "role": "admin"}, ["role"]),
        ({"display_name": None}, ["display_name"]),
        ({"addresses": None}, ["addresses"]),
        ({"phone": "0912345678"}, ["phone"]),
        ({"addresses": [{"line1": "x", "city": "y", "country": "PT"}] * 11}, ["addresses"]),
        (
            {"addresses": [{"line1": "x", "city": "y", "country": "PT", "lat": 1}]},
            ["addresses[0].lat"],
        ),
        ({"addresses": [{"line1": "x", "city": "y"}]}, ["addresses[0].country"]),
    ],
)
def test_patch_me_refuses_server_owned_and_invalid_fields(
    body: dict[str, Any], fields: list[str], profiles: InMemoryProfiles
) -> None:
    before = me_call("GET", headers=AS_CUSTOMER)
    writes = profiles.writes
    assert error_fields(me_call("PATCH", json_body=body, headers=AS_CUSTOMER)) == fields
    assert profiles.writes == writes
    after = me_call("GET", headers=AS_CUSTOMER)
    assert body_of(after) == body_of(before) and after.headers["ETag"] == before.headers["ETag"]


def test_patch_me_honours_if_match() -> None:
    etag = me_call("GET", headers=AS_CUSTOMER).headers["ETag"]
    ok = me_call(
        "PATCH", json_body={"display_name": "A"}, headers={**AS_CUSTOMER, "If-Match": etag}
    )
    assert ok.status_code == 200
    stale = me_call(
        "PATCH", json_body={"display_name": "B"}, headers={**AS_CUSTOMER, "If-Match": etag}
    )
    problem(stale, 412)


def test_me_has_no_sub_paths_here() -> None:
    problem(me_call("GET", "/someone-else", headers=AS_CUSTOMER), 404)
    problem(me_call("DELETE", headers=AS_CUSTOMER), 405)


# --- users ------------------------------------------------------------------------------------

USER_ROUTES = [("GET", "/"), ("GET", "/{uid}"), ("PATCH", "/{uid}")]


@pytest.mark.parametrize(("method", "path"), USER_ROUTES)
@pytest.mark.parametrize(("headers", "status"), [({}, 401), (AS_CUSTOMER, 403), (AS_OTHER, 403)])
def test_users_is_for_admins_only(
    method: str, path: str, headers: dict[str, str], status: int, identity: FakeIdentity
) -> None:
    target = registered()["uid"]
    response = users_call(
        method, path.format(uid=target), json_body={"role": "admin"}, headers=headers
    )
    problem(response, status)
    assert identity.accounts[target].claims == {}


def test_a_customer_cannot_read_their_own_profile_through_users_either() -> None:
    me_call("GET", headers=AS_CUSTOMER)
    problem(users_call("GET", f"/{CUSTOMER.uid}", headers=AS_CUSTOMER), 403)


def test_admin_lists_with_filters_and_pages() -> None:
    uids = [registered(f"u{i}@example.com")["uid"] for i in range(5)]
    users_call("PATCH", f"/{uids[2]}", json_body={"tier": "GOLD"}, headers=AS_ADMIN)
    users_call("PATCH", f"/{uids[3]}", json_body={"role": "admin"}, headers=AS_ADMIN)
    seen: list[str] = []
    path = "/?limit=2"
    while path:
        page = body_of(users_call("GET", path, headers=AS_ADMIN))
        assert set(page) == {"items", "next_cursor"}
        seen += [u["uid"] for u in page["items"]]
        path = f"/?limit=2&cursor={page['next_cursor']}" if page["next_cursor"] else ""
    assert seen == uids
    gold = body_of(users_call("GET", "/?tier=GOLD", headers=AS_ADMIN))["items"]
    assert [u["uid"] for u in gold] == [uids[2]]
    admins = body_of(users_call("GET", "/users?role=admin", headers=AS_ADMIN))["items"]
    assert [u["uid"] for u in admins] == [uids[3]]
    assert set(admins[0]) == PROFILE_FIELDS


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("role=owner", "role"),
        ("tier=gold", "tier"),
        ("tier=", "tier"),
        ("limit=101", "limit"),
        ("cursor=garbage", "cursor"),
        ("email=x", "email"),
    ],
)
def test_admin_list_bad_query_is_400(query: str, field: str) -> None:
    assert error_fields(users_call("GET", f"/?{query}", headers=AS_ADMIN)) == [field]


def test_admin_gets_one_user_or_404() -> None:
    uid = registered()["uid"]
    response = users_call("GET", f"/{uid}", headers=AS_ADMIN)
    assert body_of(response)["uid"] == uid and response.headers["ETag"]
    problem(users_call("GET", "/ghost", headers=AS_ADMIN), 404)
    problem(users_call("GET", "/a..b", headers=AS_ADMIN), 404)
    problem(users_call("PATCH", "/ghost", json_body={"role": "admin"}, headers=AS_ADMIN), 404)


def test_admin_patch_role_sets_the_claim(identity: FakeIdentity) -> None:
    uid = registered()["uid"]
    response = users_call("PATCH", f"/{uid}", json_body={"role": "admin"}, headers=AS_ADMIN)
    assert body_of(response)["role"] == "admin"
    assert identity.accounts[uid].claims == {"role": "admin"}


def test_admin_patch_tier_lock_and_disable(identity: FakeIdentity) -> None:
    uid = registered()["uid"]
    body = {"tier": "SILVER", "tier_locked": True, "disabled": True}
    updated = body_of(users_call("PATCH", f"/{uid}", json_body=body, headers=AS_ADMIN))
    assert (updated["tier"], updated["tier_locked"], updated["disabled"]) == ("SILVER", True, True)
    assert identity.accounts[uid].disabled and identity.accounts[uid].tokens_revoked


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"tier": "DIAMOND"}, ["tier"]),
        ({"role": "superuser"}, ["role"]),
        ({"role": None}, ["role"]),
        ({"disabled": "true"}, ["disabled"]),
        ({"stats": {"orders_count": 1}}, ["stats"]),
        ({"display_name": "X"}, ["display_name"]),
    ],
)
def test_admin_patch_invalid_is_400(body: dict[str, Any], fields: list[str]) -> None:
    uid = registered()["uid"]
    assert error_fields(users_call("PATCH", f"/{uid}", json_body=body, headers=AS_ADMIN)) == fields


def test_admin_cannot_demote_themselves_409() -> None:
    me_call("GET", headers=AS_ADMIN)
    response = users_call(
        "PATCH", f"/{ADMIN.uid}", json_body={"role": "customer"}, headers=AS_ADMIN
    )
    problem(response, 409)


def test_admin_patch_honours_if_match() -> None:
    uid = registered()["uid"]
    etag = users_call("GET", f"/{uid}", headers=AS_ADMIN).headers["ETag"]
    headers = {**AS_ADMIN, "If-Match": etag}
    ok = users_call("PATCH", f"/{uid}", json_body={"tier_locked": True}, headers=headers)
    assert ok.status_code == 200
    problem(users_call("PATCH", f"/{uid}", json_body={"tier_locked": False}, headers=headers), 412)
