"""Token checks against the real Auth emulator: deleted, disabled and demoted accounts, and Auth
down."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator

import firebase_admin
import pytest
from firebase_admin import auth as fb_auth

from celeste.kernel.errors import Forbidden, ValidationFailed
from celeste_functions.clients import Lazy, firebase_app
from celeste_functions.http import auth as auth_module
from celeste_functions.http.auth import Caller
from celeste_functions.http.router import Reply, RequestContext, Router
from tests.conftest import require_env
from tests.support.emulators import PROJECT
from tests.support.handlers import assert_problem, body_of, call
from tools.devauth import AuthEmulator

pytestmark = pytest.mark.integration

router = Router("probe")


@router.get("/")
def public(ctx: RequestContext) -> Reply:
    """A public read that names its caller (anonymous allowed)."""
    caller = ctx.caller
    return Reply({"uid": caller.uid if caller else None})


@router.post("/")
def write(ctx: RequestContext) -> Reply:
    """A write anyone may send (its caller is checked strictly, as every write's is)."""
    caller = ctx.caller
    return Reply({"uid": caller.uid if caller else None})


@router.get("/mine", auth="user")
def signed_in(caller: Caller) -> Reply:
    """A route for signed-in callers only."""
    return Reply({"uid": caller.uid})


@router.get("/admin", auth="admin")
def admins_only(caller: Caller) -> Reply:
    """A route for admins only."""
    return Reply({"uid": caller.uid})


@router.get("/role")
def public_role(ctx: RequestContext) -> Reply:
    """A public read that says whether its caller counts as an admin (as catalogue reads do)."""
    return Reply({"admin": ctx.is_admin})


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    """Fresh account states per test, on a clock the test moves."""
    require_env("FIREBASE_AUTH_EMULATOR_HOST")
    moved = Clock()
    states = auth_module.AccountStates(
        lookup=auth_module._firebase_account, window_s=5.0, clock=moved
    )
    monkeypatch.setattr(auth_module, "accounts", states)
    yield moved


def _user() -> tuple[str, dict[str, str]]:
    emulator = AuthEmulator()
    signed = emulator.sign_up(f"u-{uuid.uuid4().hex[:10]}@celeste.test", "secret-pass-1")
    return signed.uid, signed.headers


def test_a_deleted_accounts_token_is_401_even_on_a_public_route(clock: Clock) -> None:
    uid, headers = _user()
    assert body_of(call(router, "GET", "/", headers=headers)) == {"uid": uid}
    fb_auth.delete_user(uid, app=firebase_app.get())
    # A signed-in route asks Auth at once.
    problem = assert_problem(call(router, "GET", "/mine", headers=headers), 401)
    assert "no longer exists" in problem["detail"]
    # A public read may use the answer of the last few seconds, never longer.
    clock.now += 5.0
    problem = assert_problem(call(router, "GET", "/", headers=headers), 401)
    assert "no longer exists" in problem["detail"]
    # Anonymous still works.
    assert body_of(call(router, "GET", "/")) == {"uid": None}


def test_a_disabled_account_is_refused_by_writes_at_once_and_reads_within_the_window(
    clock: Clock,
) -> None:
    uid, headers = _user()
    assert call(router, "GET", "/", headers=headers).status_code == 200
    fb_auth.update_user(uid, disabled=True, app=firebase_app.get())
    assert call(router, "POST", "/", headers=headers).status_code == 401  # strict: writes
    clock.now += 5.0
    assert_problem(call(router, "GET", "/", headers=headers), 401)


def test_a_demoted_admin_loses_the_role_on_admin_routes_at_once_and_reads_within_the_window(
    clock: Clock,
) -> None:
    emulator = AuthEmulator()
    email = f"a-{uuid.uuid4().hex[:10]}@celeste.test"
    signed = emulator.sign_up(email, "secret-pass-1")
    emulator.set_claims(signed.uid, {"role": "admin", "team": "ops"})
    headers = emulator.sign_in(email, "secret-pass-1").headers  # carries role: admin
    assert body_of(call(router, "GET", "/admin", headers=headers)) == {"uid": signed.uid}
    assert body_of(call(router, "GET", "/role", headers=headers)) == {"admin": True}
    # Demoted as the users service does it: the claim set to customer, other claims kept.
    fb_auth.set_custom_user_claims(
        signed.uid, {"role": "customer", "team": "ops"}, app=firebase_app.get()
    )
    problem = assert_problem(call(router, "GET", "/admin", headers=headers), 403)
    assert "admins" in problem["detail"]
    clock.now += 5.0
    assert body_of(call(router, "GET", "/role", headers=headers)) == {"admin": False}
    assert body_of(call(router, "GET", "/mine", headers=headers)) == {"uid": signed.uid}
    # Promoted again: the same token is an admin's again, at once.
    fb_auth.set_custom_user_claims(signed.uid, {"role": "admin"}, app=firebase_app.get())
    assert body_of(call(router, "GET", "/role", headers=headers)) == {"admin": True}
    assert body_of(call(router, "GET", "/admin", headers=headers)) == {"uid": signed.uid}


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_auth_unavailable_is_503_with_retry_after(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, headers = _user()
    # Another app whose Auth client talks to a port nobody listens on (the token itself still
    # verifies locally: it is an Auth-emulator token).
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", f"127.0.0.1:{_dead_port()}")
    dead = firebase_admin.initialize_app(
        options={"projectId": PROJECT}, name=f"dead-{uuid.uuid4().hex[:6]}"
    )
    monkeypatch.setattr(auth_module, "firebase_app", Lazy(lambda: dead))
    try:
        for path in ("/", "/mine"):
            response = call(router, "GET", path, headers=headers)
            problem = assert_problem(response, 503)
            assert response.headers["Retry-After"] == "2"
            assert problem["type"].endswith("/unavailable")
    finally:
        firebase_admin.delete_app(dead)


def test_a_guest_token_proves_a_current_anonymous_account(clock: Clock) -> None:
    emulator = AuthEmulator()
    guest = emulator.sign_in_anonymously()
    assert auth_module.authenticate_guest(guest.id_token) == guest.uid
    # An account's token (not anonymous) is no guest's.
    _, headers = _user()
    with pytest.raises(Forbidden):
        auth_module.authenticate_guest(headers["Authorization"].removeprefix("Bearer "))
    # A guest who linked an email since is an account: their earlier token no longer proves one.
    # Setting a password moves the account's validSince, revoking tokens minted in an earlier
    # second: the answer is still "signed up since", not "revoked", however the seconds fall.
    linked = emulator.sign_in_anonymously()
    time.sleep(1.1)
    emulator.link_email(linked, f"g-{uuid.uuid4().hex[:10]}@celeste.test", "secret-pass-1")
    with pytest.raises(Forbidden):
        auth_module.authenticate_guest(linked.id_token)
    # A disabled or deleted guest, or no token at all: 400 naming guest_token.
    emulator.disable(guest.uid)
    gone = emulator.sign_in_anonymously()
    fb_auth.delete_user(gone.uid, app=firebase_app.get())
    for token in (guest.id_token, gone.id_token, "nonsense"):
        with pytest.raises(ValidationFailed) as caught:
            auth_module.authenticate_guest(token)
        assert [e.field for e in caught.value.errors] == ["guest_token"]
