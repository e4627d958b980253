"""The per-uid account-state window: public reads may reuse Auth's answer, strict checks never."""

from __future__ import annotations

import time

import pytest

from celeste.kernel.errors import Unauthenticated
from celeste_functions.http import auth as auth_module
from celeste_functions.http.auth import AccountStates, VerifiedTokens, _Account


class Auth:
    """Answers of a pretend Firebase Auth, counting lookups."""

    def __init__(self) -> None:
        self.state = _Account(disabled=False, tokens_valid_after_ms=0)
        self.lookups = 0

    def __call__(self, uid: str) -> _Account:
        self.lookups += 1
        return self.state


@pytest.fixture
def setup() -> tuple[AccountStates, Auth, list[float]]:
    now = [100.0]
    auth = Auth()
    return AccountStates(lookup=auth, window_s=5.0, clock=lambda: now[0]), auth, now


CLAIMS = {"uid": "u1", "iat": 1_000}


def test_reads_within_the_window_ask_auth_once(
    setup: tuple[AccountStates, Auth, list[float]],
) -> None:
    states, auth, now = setup
    for _ in range(5):
        states.check(CLAIMS, strict=False)
    assert auth.lookups == 1
    now[0] += 5.0
    states.check(CLAIMS, strict=False)
    assert auth.lookups == 2


def test_a_disabled_account_is_refused_by_strict_checks_at_once_and_by_reads_after_the_window(
    setup: tuple[AccountStates, Auth, list[float]],
) -> None:
    states, auth, now = setup
    states.check(CLAIMS, strict=False)
    auth.state = _Account(disabled=True, tokens_valid_after_ms=0)
    states.check(CLAIMS, strict=False)  # still inside the window: the earlier answer
    with pytest.raises(Unauthenticated, match="disabled"):
        states.check(CLAIMS, strict=True)
    now[0] += 1.0
    with pytest.raises(Unauthenticated):
        states.check(CLAIMS, strict=False)  # the strict answer is remembered too


@pytest.mark.parametrize(
    ("valid_after_ms", "refused"), [(999_999, False), (1_000_000, False), (1_000_001, True)]
)
def test_tokens_issued_before_a_sign_out_are_revoked(
    setup: tuple[AccountStates, Auth, list[float]], valid_after_ms: int, refused: bool
) -> None:
    states, auth, _ = setup
    auth.state = _Account(disabled=False, tokens_valid_after_ms=valid_after_ms)
    if refused:
        with pytest.raises(Unauthenticated, match="revoked"):
            states.check(CLAIMS, strict=True)
    else:
        states.check(CLAIMS, strict=True)


def test_a_remembered_refusal_is_confirmed_so_an_enabled_account_gets_in_at_once(
    setup: tuple[AccountStates, Auth, list[float]],
) -> None:
    states, auth, _ = setup
    auth.state = _Account(disabled=True, tokens_valid_after_ms=0)
    with pytest.raises(Unauthenticated):
        states.check(CLAIMS, strict=True)
    auth.state = _Account(disabled=False, tokens_valid_after_ms=0)
    states.check(CLAIMS, strict=False)  # inside the window, yet asked again: not refused
    assert auth.lookups == 2


def test_a_verified_token_is_remembered_until_it_expires() -> None:
    now = [1_000.0]
    tokens = VerifiedTokens(clock=lambda: now[0])
    claims = {"uid": "u1", "exp": 1_060}
    tokens.remember("t1", claims)
    assert tokens.get("t1") == claims
    assert tokens.get("t2") is None
    now[0] = 1_059.9
    assert tokens.get("t1") == claims
    now[0] = 1_060.0
    assert tokens.get("t1") is None
    now[0] = 0.0
    assert tokens.get("t1") is None  # forgotten, not just hidden


def test_claims_without_an_expiry_are_not_remembered() -> None:
    tokens = VerifiedTokens(clock=lambda: 0.0)
    tokens.remember("t1", {"uid": "u1"})
    tokens.remember("t2", {"uid": "u1", "exp": "soon"})
    assert tokens.get("t1") is None and tokens.get("t2") is None


def test_the_oldest_tokens_are_forgotten_past_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(VerifiedTokens, "MAX_REMEMBERED", 3)
    tokens = VerifiedTokens(clock=lambda: 0.0)
    for i in range(5):
        tokens.remember(f"t{i}", {"uid": "u", "exp": 10})
    assert [tokens.get(f"t{i}") is not None for i in range(5)] == [False, False, True, True, True]


def test_authenticate_verifies_a_token_once_but_checks_the_account_every_time(
    monkeypatch: pytest.MonkeyPatch, setup: tuple[AccountStates, Auth, list[float]]
) -> None:
    states, auth, _ = setup
    verifications: list[str] = []

    def verify(token: str) -> dict[str, object]:
        verifications.append(token)
        return {"uid": "u1", "iat": 1_000, "exp": time.time() + 3600, "role": "customer"}

    monkeypatch.setattr(auth_module, "_verify", verify)
    monkeypatch.setattr(auth_module, "verified", VerifiedTokens())
    monkeypatch.setattr(auth_module, "accounts", states)
    for _ in range(3):
        caller = auth_module.authenticate("Bearer tok-1", strict=True)
        assert caller is not None and caller.uid == "u1"
    assert verifications == ["tok-1"]
    assert auth.lookups == 3  # strict: Auth asked each time
    auth.state = _Account(disabled=True, tokens_valid_after_ms=0)
    with pytest.raises(Unauthenticated, match="disabled"):
        auth_module.authenticate("Bearer tok-1", strict=True)
    assert verifications == ["tok-1"]


ADMIN_CLAIMS = {"uid": "u1", "iat": 1_000, "role": "admin"}
ADMIN = _Account(disabled=False, tokens_valid_after_ms=0, role="admin")
CUSTOMER = _Account(disabled=False, tokens_valid_after_ms=0, role="customer")


@pytest.mark.parametrize(
    ("claims", "account", "role"),
    [
        (ADMIN_CLAIMS, ADMIN, "admin"),
        (ADMIN_CLAIMS, CUSTOMER, "customer"),  # demoted since the token was minted
        (CLAIMS, ADMIN, "customer"),  # promoted: the next token carries the claim
        (CLAIMS, CUSTOMER, "customer"),
        ({**ADMIN_CLAIMS, "role": "Admin"}, ADMIN, "customer"),
    ],
)
def test_the_callers_role_is_the_tokens_only_while_the_account_still_holds_it(
    setup: tuple[AccountStates, Auth, list[float]],
    claims: dict[str, object],
    account: _Account,
    role: str,
) -> None:
    states, auth, _ = setup
    auth.state = account
    assert states.check(claims, strict=True) == role
    assert states.check(claims, strict=False) == role


def test_a_demoted_admin_is_a_customer_to_strict_checks_at_once_and_to_reads_after_the_window(
    setup: tuple[AccountStates, Auth, list[float]],
) -> None:
    states, auth, now = setup
    auth.state = ADMIN
    assert states.check(ADMIN_CLAIMS, strict=False) == "admin"
    auth.state = CUSTOMER  # the claim removed in Auth; the token still carries it
    assert states.check(ADMIN_CLAIMS, strict=False) == "admin"  # inside the window
    assert states.check(ADMIN_CLAIMS, strict=True) == "customer"
    assert states.check(ADMIN_CLAIMS, strict=False) == "customer"  # the strict answer is kept
    auth.state = ADMIN
    states.check(ADMIN_CLAIMS, strict=True)
    auth.state = CUSTOMER
    now[0] += 5.0
    assert states.check(ADMIN_CLAIMS, strict=False) == "customer"  # past the window


def test_a_remembered_demotion_is_confirmed_so_a_promoted_admin_is_one_at_once(
    setup: tuple[AccountStates, Auth, list[float]],
) -> None:
    states, auth, _ = setup
    auth.state = CUSTOMER
    assert states.check(ADMIN_CLAIMS, strict=True) == "customer"
    auth.state = ADMIN  # promoted again
    assert states.check(ADMIN_CLAIMS, strict=False) == "admin"  # inside the window, yet asked
    assert auth.lookups == 2
    assert states.check(ADMIN_CLAIMS, strict=False) == "admin"
    assert auth.lookups == 2  # an answer that keeps the token's role is reused


def test_authenticate_gives_the_role_the_account_holds_now(
    monkeypatch: pytest.MonkeyPatch, setup: tuple[AccountStates, Auth, list[float]]
) -> None:
    states, auth, _ = setup

    def verify(token: str) -> dict[str, object]:
        return {"uid": "u1", "iat": 1_000, "exp": time.time() + 3600, "role": "admin"}

    monkeypatch.setattr(auth_module, "_verify", verify)
    monkeypatch.setattr(auth_module, "verified", VerifiedTokens())
    monkeypatch.setattr(auth_module, "accounts", states)
    auth.state = ADMIN
    caller = auth_module.authenticate("Bearer tok-1", strict=True)
    assert caller is not None and caller.is_admin
    auth.state = CUSTOMER
    caller = auth_module.authenticate("Bearer tok-1", strict=True)
    assert caller is not None and (caller.role, caller.is_admin) == ("customer", False)
