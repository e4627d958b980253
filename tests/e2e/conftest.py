"""E2E fixtures: the functions emulator over HTTP, with real Auth-emulator tokens."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis
import requests

from tests.conftest import require_env
from tests.support.emulators import clear_firestore
from tools.devauth import AuthEmulator, SignedIn

pytestmark = pytest.mark.e2e


class Api:
    """A requests session bound to the functions base URL."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()

    def url(self, function: str, path: str = "") -> str:
        """``{base}/{function}{path}``."""
        return f"{self.base}/{function}{path}"

    def request(
        self,
        method: str,
        function: str,
        path: str = "",
        *,
        user: SignedIn | None = None,
        **kwargs: object,
    ) -> requests.Response:
        """One call; ``user`` adds its bearer token."""
        headers = dict(kwargs.pop("headers", {}) or {})  # type: ignore[call-overload]
        if user is not None:
            headers.update(user.headers)
        return self.session.request(
            method, self.url(function, path), headers=headers, timeout=60, **kwargs
        )  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def api() -> Api:
    """The functions emulator's base URL, wrapped."""
    return Api(require_env("CELESTE_FUNCTIONS_URL")["CELESTE_FUNCTIONS_URL"])


@pytest.fixture(scope="session")
def auth() -> AuthEmulator:
    """The Auth emulator."""
    require_env("FIREBASE_AUTH_EMULATOR_HOST")
    return AuthEmulator()


@pytest.fixture(scope="session")
def admin(auth: AuthEmulator) -> SignedIn:
    """A signed-in admin (``role: admin`` claim)."""
    return auth.user("admin@e2e.test", "password-admin", role="admin")


@pytest.fixture(scope="session")
def customer(auth: AuthEmulator) -> SignedIn:
    """A signed-in customer."""
    return auth.user("customer@e2e.test", "password-customer")


@pytest.fixture(scope="session")
def redis_client() -> redis.Redis:
    """A client of the test Redis the functions use."""
    return redis.Redis.from_url(require_env("REDIS_URL")["REDIS_URL"])


@pytest.fixture(autouse=True)
def clean_state(redis_client: redis.Redis) -> Iterator[None]:
    """Each test starts with empty Firestore and Redis (users persist for the session)."""
    require_env("FIRESTORE_EMULATOR_HOST")
    clear_firestore()
    redis_client.flushdb()
    yield


def problem(response: requests.Response, status: int) -> dict[str, object]:
    """Assert ``response`` is a problem+json of ``status`` and return its body."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["type"]
    assert "Traceback" not in response.text
    return body


os.environ.setdefault("GCLOUD_PROJECT", "demo-celeste")
