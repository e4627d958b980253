"""Browser fixtures: Debian's Chromium driven by Playwright against the Hosting emulator."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, expect, sync_playwright

from tests.conftest import require_env
from tests.support.emulators import clear_firestore
from tools.devauth import AuthEmulator, SignedIn

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-results" / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
PASSWORD = "celeste-demo"  # the demo seed's users
#: How long an expectation waits: a function's first call in the emulator starts a Python worker
#: (seconds on a busy 2-core machine). Waiting is for readiness, never a speed assertion.
expect.set_options(timeout=30_000)


@pytest.fixture(scope="session", autouse=True)
def _services(local_services: None) -> None:
    """Redis and the local Stripe, started once for the session (tests/conftest.py)."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Remember each phase's report on the test item (the page fixture names screenshots by it)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="session")
def storefront() -> str:
    """The storefront's URL (the Hosting emulator the test command started)."""
    return require_env("CELESTE_STOREFRONT_URL")["CELESTE_STOREFRONT_URL"].rstrip("/")


@pytest.fixture(scope="session")
def functions_url() -> str:
    """The functions emulator's base URL."""
    return require_env("CELESTE_FUNCTIONS_URL")["CELESTE_FUNCTIONS_URL"]


@pytest.fixture(scope="session")
def seeded(functions_url: str) -> None:
    """The demo data of ``make dev`` (tools/seed.py) on an empty Firestore and Redis (whatever
    earlier layers of ``make test`` left is gone): catalogue with images, stores, stock, tiers
    with a GOLD price list, a GOLD customer, shipping, tax and codes."""
    env = require_env("FIREBASE_AUTH_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST", "REDIS_URL")
    clear_firestore()
    redis.Redis.from_url(env["REDIS_URL"]).flushdb()
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools/seed.py")],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


@pytest.fixture(scope="session")
def auth() -> AuthEmulator:
    """The Auth emulator."""
    require_env("FIREBASE_AUTH_EMULATOR_HOST")
    return AuthEmulator()


@pytest.fixture(scope="session")
def admin(auth: AuthEmulator, seeded: None) -> SignedIn:
    """The seed's admin."""
    return auth.sign_in("admin@celeste.test", PASSWORD)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    """Playwright's driver (its own browser downloads are not used)."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless."""
    executable = os.environ.get("CELESTE_CHROMIUM", "/usr/bin/chromium")
    if not Path(executable).exists():
        pytest.fail(f"{executable} is missing: run `make test-browser` (it installs chromium)")
    browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def page(
    request: pytest.FixtureRequest, chromium: Browser, storefront: str, seeded: None
) -> Iterator[Page]:
    """A fresh browser profile on the storefront; a screenshot of the last state is saved as
    ``test-results/browser/<test>.png`` (``<test>-FAILED.png`` when the test failed)."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, base_url=storefront)
    context.set_default_timeout(30_000)
    tab = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    tab.on("console", on_console)
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    call = getattr(request.node, "report_call", None)
    failed = call is None or call.failed
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    name = request.node.name.removeprefix("test_") + ("-FAILED" if failed else "")
    tab.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    if failed and errors:
        (SCREENSHOTS / f"{name}.console.txt").write_text("\n".join(errors))
    context.close()


def api(
    functions_url: str, method: str, path: str, user: SignedIn | None = None, **kw: Any
) -> requests.Response:
    """A direct call of the functions (test set-up and expected values)."""
    headers = dict(user.headers) if user else {}
    return requests.request(method, f"{functions_url}/{path}", headers=headers, timeout=60, **kw)


def euros(cents: int) -> str:
    """How the storefront writes an amount in EUR (en-IE)."""
    return f"€{cents // 100:,}.{cents % 100:02d}"


def product(functions_url: str, sku: str, user: SignedIn | None = None) -> dict[str, Any]:
    """The seeded product with ``sku`` as the API prices it for ``user`` (anonymous: None)."""
    listing = api(functions_url, "GET", "products?limit=100", user).json()
    found: dict[str, Any] = next(p for p in listing["items"] if p["sku"] == sku)
    return found
