"""E2E fixtures: the functions emulator over HTTP, with real Auth-emulator tokens, and shops
(a store with stocked products) made through the API."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import redis
import requests
import stripe
from google.cloud import firestore

from tests.conftest import require_env
from tests.support.emulators import PROJECT, clear_firestore
from tools.devauth import AuthEmulator, SignedIn

pytestmark = pytest.mark.e2e

#: Tries of a careful client under the emulator's cold-start burst (``Api.post_keyed``).
KEYED_ATTEMPTS = 6


#: How often a safe request is carried again after the emulator dropped it (``Api.request``).
EMULATOR_ATTEMPTS = 4
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@pytest.fixture(scope="session", autouse=True)
def _services(local_services: None) -> None:
    """Redis and the local Stripe, started once for the session (tests/conftest.py)."""


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
        **kwargs: Any,
    ) -> requests.Response:
        """One call; ``user`` adds its bearer token. A safe request (GET, HEAD, OPTIONS) is
        carried again when the functions emulator itself failed to carry it: its own
        ``500 {"code": "ECONNRESET"}`` (a worker reset under the shared machine's load) or a
        dropped connection. Any answer of ours is returned as it is."""
        headers = dict(kwargs.pop("headers", {}) or {})
        if user is not None:
            headers.update(user.headers)
        attempts = EMULATOR_ATTEMPTS if method in SAFE_METHODS else 1
        response: requests.Response | None = None
        for attempt in range(attempts):
            if attempt:
                time.sleep(0.5 * attempt)
            try:
                response = self.session.request(
                    method, self.url(function, path), headers=headers, timeout=60, **kwargs
                )
            except requests.ConnectionError:
                if attempt + 1 == attempts:
                    raise
                continue
            if not (response.status_code == 500 and "ECONNRESET" in response.text[:200]):
                return response
        assert response is not None
        return response

    def post_keyed(
        self, function: str, body: dict[str, Any], *, headers: dict[str, str], timeout_s: float
    ) -> requests.Response:
        """POST as a careful client does: ``headers`` carry an ``Idempotency-Key``, and a 5xx, a
        dropped connection or an HTML page is retried under it. (Under a burst of cold starts the
        functions emulator sometimes hands two new workers the same port, drops a request or
        hands it to another function's worker, which answers HTML; the key makes it safe.)"""
        assert "Idempotency-Key" in headers
        response: requests.Response | None = None
        for attempt in range(KEYED_ATTEMPTS):
            if attempt:
                time.sleep(min(4.0, 0.25 * 2**attempt))  # let the emulator's new workers settle
            try:
                response = self.session.post(
                    self.url(function), json=body, headers=headers, timeout=timeout_s
                )
            except requests.ConnectionError:
                continue
            if response.status_code < 500 and "json" in response.headers.get("Content-Type", ""):
                return response
        assert response is not None, f"no answer in {KEYED_ATTEMPTS} attempts"
        return response


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


@pytest.fixture
def db() -> firestore.Client:
    return firestore.Client(project=PROJECT)


@pytest.fixture(scope="session")
def customers(auth: AuthEmulator) -> list[SignedIn]:
    """Forty signed-in customers with real Auth-emulator tokens."""
    with ThreadPoolExecutor(8) as pool:
        return list(
            pool.map(
                lambda i: auth.user(f"shopper{i}@e2e.test", f"password-shopper-{i}"), range(40)
            )
        )


@dataclass
class Shop:
    store_id: str
    products: dict[str, str]  # name -> id


def _created(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.fixture
def shop(api: Api, admin: SignedIn) -> Callable[..., Shop]:
    """A factory: a store with the given stock per product, all made through the API."""

    def make(stock: dict[str, int], *, price: int = 1_000) -> Shop:
        for body in (
            {"code": "BRONZE", "name": "Bronze", "level": 1, "is_default": True},
            {"code": "SILVER", "name": "Silver", "level": 2, "requirements": {"min_orders": 1}},
        ):
            api.request("POST", "tiers", user=admin, json=body)  # 409 once they exist
        tag = uuid.uuid4().hex[:8]
        category = _created(
            api.request(
                "POST", "categories", user=admin, json={"name": f"Cat {tag}", "slug": f"cat-{tag}"}
            )
        )
        store = _created(
            api.request(
                "POST",
                "stores",
                user=admin,
                json={
                    "name": f"Store {tag}",
                    "address": {
                        "line1": "1 Main St",
                        "city": "Lisbon",
                        "postal_code": "1000-001",
                        "country": "PT",
                    },
                    "location": {"lat": 38.72, "lng": -9.14},
                },
            )
        )
        products = {}
        for name, units in stock.items():
            product = _created(
                api.request(
                    "POST",
                    "products",
                    user=admin,
                    json={
                        "sku": f"{name}-{tag}".upper(),
                        "name": name.title(),
                        "category_id": category["id"],
                        "base_price": price,
                        "currency": "EUR",
                    },
                )
            )
            products[name] = product["id"]
            level = api.request(
                "PUT",
                "inventory",
                f"/{store['id']}/{product['id']}",
                user=admin,
                json={"on_hand": units, "low_stock_threshold": 1},
            )
            assert level.status_code == 201, level.text
        return Shop(store_id=store["id"], products=products)

    return make


@pytest.fixture(scope="module")
def stripe_client() -> stripe.StripeClient:
    """A client of the local Stripe: it plays the browser (Stripe.js), the dashboard or a payer."""
    env = require_env("STRIPE_API_BASE", "STRIPE_SECRET_KEY")
    return stripe.StripeClient(
        env["STRIPE_SECRET_KEY"], base_addresses={"api": env["STRIPE_API_BASE"]}
    )


def problem(response: requests.Response, status: int) -> dict[str, object]:
    """Assert ``response`` is a problem+json of ``status`` and return its body."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["type"]
    assert "Traceback" not in response.text
    return body


os.environ.setdefault("GCLOUD_PROJECT", "demo-celeste")
