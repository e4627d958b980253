"""The auth, me and users functions through the functions emulator, with Auth-emulator tokens."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from google.cloud import firestore

from tests.e2e.conftest import Api, problem
from tests.support.emulators import PROJECT, eventually
from tools.devauth import AuthEmulator, SignedIn

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"


def _email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@e2e.test"


def _register(api: Api, email: str, name: str = "Ana") -> dict[str, object]:
    response = api.request(
        "POST",
        "auth",
        "/register",
        json={"email": email, "password": PASSWORD, "display_name": name},
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_register_then_sign_in_with_that_password(api: Api, auth: AuthEmulator) -> None:
    email = _email("reg")
    response = api.request(
        "POST",
        "auth",
        "/register",
        json={"email": email.upper(), "password": PASSWORD, "display_name": "Ana"},
    )
    assert response.status_code == 201, response.text
    assert response.headers["ETag"]
    body = response.json()
    assert (body["email"], body["display_name"], body["role"], body["tier"]) == (
        email,
        "Ana",
        "customer",
        "BRONZE",
    )
    assert PASSWORD not in response.text
    signed = auth.sign_in(email, PASSWORD)
    assert signed.uid == body["uid"]
    me = api.request("GET", "me", user=signed)
    assert me.status_code == 200 and me.json() == body
    assert me.headers["ETag"] == response.headers["ETag"]


def test_register_takes_the_default_tier_from_the_tiers_collection(api: Api) -> None:
    firestore.Client(project=PROJECT).collection("tiers").document("STARTER").set(
        {"code": "STARTER", "name": "Starter", "level": 1, "is_default": True}
    )
    assert _register(api, _email("tier"))["tier"] == "STARTER"


def test_duplicate_email_is_409_and_bad_input_is_400(api: Api) -> None:
    email = _email("dup")
    _register(api, email)
    again = {"email": email, "password": "another password", "display_name": "Bo"}
    problem(api.request("POST", "auth", "/register", json=again), 409)
    bad = problem(
        api.request(
            "POST",
            "auth",
            "/register",
            json={"email": "not-an-email", "password": "short", "display_name": "X"},
        ),
        400,
    )
    assert [e["field"] for e in bad["errors"]] == ["email", "password"]  # type: ignore[union-attr]
    problem(api.request("POST", "auth", "/register", json={**again, "role": "admin"}), 400)


def test_get_me_makes_a_profile_for_an_account_made_elsewhere(api: Api, auth: AuthEmulator) -> None:
    signed = auth.sign_up(_email("sdk"), PASSWORD)  # a client SDK sign-up, not /auth/register
    users = firestore.Client(project=PROJECT).collection("users")
    assert not users.document(signed.uid).get().exists
    first = api.request("GET", "me", user=signed)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["uid"], body["email"], body["tier"], body["role"]) == (
        signed.uid,
        signed.email,
        "BRONZE",
        "customer",
    )
    assert body["stats"] == {"orders_count": 0, "lifetime_spend": {}, "orders_last_30_days": 0}
    assert users.document(signed.uid).get().exists
    again = api.request("GET", "me", "/me", user=signed)  # the Hosting-rewrite path form too
    assert again.json() == body and again.headers["ETag"] == first.headers["ETag"]


def test_patch_me_own_fields_only(api: Api, auth: AuthEmulator) -> None:
    signed = auth.sign_up(_email("patch"), PASSWORD)
    before = api.request("GET", "me", user=signed)
    for forbidden in ({"role": "admin"}, {"tier": "GOLD"}, {"stats": {"orders_count": 99}}):
        problem(api.request("PATCH", "me", user=signed, json=forbidden), 400)
        problem(api.request("PATCH", "me", user=signed, json={**forbidden, "phone": None}), 400)
    unchanged = api.request("GET", "me", user=signed)
    assert unchanged.json() == before.json()
    assert unchanged.headers["ETag"] == before.headers["ETag"]
    address = {"line1": "1 Main St", "city": "Porto", "country": "PT"}
    changed = api.request(
        "PATCH",
        "me",
        user=signed,
        json={"display_name": "Cleo", "phone": "+351912345678", "addresses": [address]},
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["display_name"], body["phone"], body["role"], body["tier"]) == (
        "Cleo",
        "+351912345678",
        "customer",
        "BRONZE",
    )
    assert body["addresses"][0]["city"] == "Porto"
    problem(api.request("PATCH", "me", user=signed, json={"addresses": [address] * 11}), 400)


def test_users_routes_refuse_anonymous_and_customers(
    api: Api, auth: AuthEmulator, customer: SignedIn
) -> None:
    other = auth.sign_up(_email("other"), PASSWORD)
    api.request("GET", "me", user=other)  # the other user has a profile
    routes = [("GET", ""), ("GET", f"/{other.uid}"), ("PATCH", f"/{other.uid}")]
    for method, path in routes:
        body = {"role": "admin"} if method == "PATCH" else None
        problem(api.request(method, "users", path, json=body), 401)
        problem(
            api.request(
                method, "users", path, json=body, headers={"Authorization": "Bearer forged"}
            ),
            401,
        )
        problem(api.request(method, "users", path, user=customer, json=body), 403)
    # A customer cannot read another's profile, and /me never shows anyone else's.
    problem(api.request("GET", "users", f"/{other.uid}", user=customer), 403)
    assert api.request("GET", "me", user=customer).json()["uid"] == customer.uid
    problem(api.request("GET", "me", f"/{other.uid}", user=customer), 404)
    again = auth.sign_in(other.email, PASSWORD)
    assert api.request("GET", "users", user=again).status_code == 403  # still a customer


def test_admin_lists_and_reads_users(api: Api, admin: SignedIn) -> None:
    made = [_register(api, _email(f"list{i}"), name=f"User {i}") for i in range(3)]
    listed = api.request("GET", "users", "?role=customer&limit=2", user=admin)
    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert [u["uid"] for u in page["items"]] == [u["uid"] for u in made[:2]]
    rest = api.request(
        "GET", "users", f"?role=customer&limit=2&cursor={page['next_cursor']}", user=admin
    ).json()
    assert [u["uid"] for u in rest["items"]] == [made[2]["uid"]]
    assert rest["next_cursor"] is None
    one = api.request("GET", "users", f"/{made[1]['uid']}", user=admin)
    assert one.json() == made[1] and one.headers["ETag"]
    problem(api.request("GET", "users", "/no-such-user", user=admin), 404)
    problem(api.request("GET", "users", "?tier=gold", user=admin), 400)


def test_promotion_takes_effect_after_a_token_refresh(
    api: Api, admin: SignedIn, auth: AuthEmulator
) -> None:
    email = _email("promo")
    uid = _register(api, email)["uid"]
    before = auth.sign_in(email, PASSWORD)
    problem(api.request("GET", "users", user=before), 403)
    promoted = api.request("PATCH", "users", f"/{uid}", user=admin, json={"role": "admin"})
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["role"] == "admin"
    problem(api.request("GET", "users", user=before), 403)  # the old token has the old claim
    after = auth.sign_in(email, PASSWORD)  # a fresh token carries the new claim
    assert api.request("GET", "users", user=after).status_code == 200
    assert api.request("GET", "users", "?role=admin", user=after).json()["items"][0]["uid"] == uid


#: ``CELESTE_AUTH_CHECK_S``: the longest a public read reuses Auth's answer about an account.
AUTH_CHECK_S = 5.0


def test_a_demoted_admins_token_loses_the_role_at_once(
    api: Api, admin: SignedIn, auth: AuthEmulator
) -> None:
    email = _email("demoted")
    uid = _register(api, email)["uid"]
    promoted = api.request("PATCH", "users", f"/{uid}", user=admin, json={"role": "admin"})
    assert promoted.status_code == 200, promoted.text
    stale = auth.sign_in(email, PASSWORD)  # a fresh token: role admin, valid for an hour
    hidden = api.request(
        "POST",
        "categories",
        user=stale,
        json={"name": "Hidden", "slug": f"hidden-{uuid.uuid4().hex[:8]}", "active": False},
    )
    assert hidden.status_code == 201, hidden.text
    hidden_path = f"/{hidden.json()['id']}"
    assert api.request("GET", "users", user=stale).status_code == 200
    assert api.request("GET", "categories", hidden_path, user=stale).status_code == 200

    demoted = api.request("PATCH", "users", f"/{uid}", user=admin, json={"role": "customer"})
    assert demoted.status_code == 200 and demoted.json()["role"] == "customer", demoted.text
    demoted_at = time.monotonic()
    # Admin routes and writes: at once.
    problem(api.request("GET", "users", user=stale), 403)
    code = {"code": "stale10", "kind": "percentage", "value": 10}
    problem(api.request("POST", "pricing", "/codes", user=stale, json=code), 403)
    # An admin's view of a public read: within the documented window.
    eventually(
        lambda: api.request("GET", "categories", hidden_path, user=stale).status_code == 404,
        timeout_s=AUTH_CHECK_S + 5,
        what="the demoted token to lose the admin view of the catalogue",
    )
    assert time.monotonic() - demoted_at < AUTH_CHECK_S + 5
    assert api.request("GET", "me", user=stale).status_code == 200  # still a signed-in customer

    # Promoted again: the new token is an admin's at once.
    again = api.request("PATCH", "users", f"/{uid}", user=admin, json={"role": "admin"})
    assert again.status_code == 200, again.text
    fresh = auth.sign_in(email, PASSWORD)
    assert api.request("GET", "users", user=fresh).status_code == 200
    created = api.request("POST", "pricing", "/codes", user=fresh, json=code)
    assert created.status_code == 201, created.text
    assert api.request("GET", "categories", hidden_path, user=fresh).status_code == 200


def test_admin_sets_a_tier_with_its_lock(api: Api, admin: SignedIn) -> None:
    firestore.Client(project=PROJECT).collection("tiers").document("GOLD").set(
        {"code": "GOLD", "name": "Gold", "level": 3, "is_default": False}
    )
    uid = _register(api, _email("gold"))["uid"]
    body = {"tier": "GOLD", "tier_locked": True}
    updated = api.request("PATCH", "users", f"/{uid}", user=admin, json=body)
    assert updated.status_code == 200, updated.text
    assert (updated.json()["tier"], updated.json()["tier_locked"]) == ("GOLD", True)
    problem(api.request("PATCH", "users", f"/{uid}", user=admin, json={"tier": "DIAMOND"}), 400)
    etag = updated.headers["ETag"]
    stale = {"Authorization": admin.headers["Authorization"], "If-Match": '"1"'}
    problem(
        api.request("PATCH", "users", f"/{uid}", json={"tier_locked": False}, headers=stale), 412
    )
    fresh = {"Authorization": admin.headers["Authorization"], "If-Match": etag}
    ok = api.request("PATCH", "users", f"/{uid}", json={"tier_locked": False}, headers=fresh)
    assert ok.status_code == 200, ok.text


def test_disabling_refuses_the_users_existing_token(
    api: Api, admin: SignedIn, auth: AuthEmulator
) -> None:
    email = _email("off")
    uid = _register(api, email)["uid"]
    signed = auth.sign_in(email, PASSWORD)
    assert api.request("GET", "me", user=signed).status_code == 200
    # Revocation is second-granular (a token minted in the revoking second survives it once the
    # account is enabled again); let the token be older, as a real session's token would be.
    time.sleep(1.1)
    off = api.request("PATCH", "users", f"/{uid}", user=admin, json={"disabled": True})
    assert off.status_code == 200 and off.json()["disabled"] is True
    problem(api.request("GET", "me", user=signed), 401)
    with pytest.raises(RuntimeError):
        auth.sign_in(email, PASSWORD)  # nor can they sign in again
    on = api.request("PATCH", "users", f"/{uid}", user=admin, json={"disabled": False})
    assert on.status_code == 200 and on.json()["disabled"] is False
    problem(api.request("GET", "me", user=signed), 401)  # the revoked token stays dead
    assert api.request("GET", "me", user=auth.sign_in(email, PASSWORD)).status_code == 200


def test_an_admin_cannot_demote_themselves(api: Api, admin: SignedIn) -> None:
    api.request("GET", "me", user=admin)
    problem(
        api.request("PATCH", "users", f"/{admin.uid}", user=admin, json={"role": "customer"}), 409
    )
    assert api.request("GET", "users", user=admin).status_code == 200


def test_make_admin_command_promotes_an_existing_user(api: Api, auth: AuthEmulator) -> None:
    email = _email("first-admin")
    signed = auth.sign_up(email, PASSWORD)  # never called the API: no profile yet
    env = {
        **os.environ,
        "FIREBASE_AUTH_EMULATOR_HOST": os.environ["FIREBASE_AUTH_EMULATOR_HOST"],
        "FIRESTORE_EMULATOR_HOST": os.environ["FIRESTORE_EMULATOR_HOST"],
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools/make_admin.py"), email.upper()],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"promoted {email} (uid {signed.uid}) to admin" in done.stdout
    problem(api.request("GET", "users", user=signed), 403)
    refreshed = auth.sign_in(email, PASSWORD)
    listed = api.request("GET", "users", "?role=admin", user=refreshed)
    assert listed.status_code == 200
    assert signed.uid in [u["uid"] for u in listed.json()["items"]]
    missing = subprocess.run(
        [sys.executable, str(ROOT / "tools/make_admin.py"), _email("nobody")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 1 and "no account" in missing.stderr
