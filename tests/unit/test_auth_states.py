"""The per-uid account-state window: public reads may reuse Auth's answer, strict checks never."""

from __future__ import annotations

import pytest

from celeste.errors import Unauthenticated
from celeste_functions.http.auth import AccountStates, _Account


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
