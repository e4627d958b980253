"""Test-wide guards: tests only ever touch a demo project on loopback emulators."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

LOOPBACK = ("127.0.0.1", "localhost", "[::1]")

# The functions refuse to serve without a project id (celeste_functions.config): tests run in
# the demo project unless the stack names one (the guard below refuses anything else).
os.environ.setdefault("GCLOUD_PROJECT", "demo-celeste")

# Property tests check rules, never speed: on a shared, loaded machine one example may take far
# longer than Hypothesis's default 200 ms deadline, which would fail a correct property (speed
# is measured by the benchmarks). A test may still set its own settings on top of this profile.
settings.register_profile("celeste", deadline=None)
settings.load_profile("celeste")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Refuse to run against anything but a ``demo-`` project on loopback hosts."""
    project = os.environ.get("GCLOUD_PROJECT", "demo-celeste")
    if not project.startswith("demo-"):
        pytest.exit(f"refusing to run: GCLOUD_PROJECT={project!r} is not a demo- project", 2)
    for var in (
        "FIRESTORE_EMULATOR_HOST",
        "FIREBASE_AUTH_EMULATOR_HOST",
        "REDIS_URL",
        "CELESTE_FUNCTIONS_URL",
    ):
        value = os.environ.get(var, "")
        if value and not any(host in value for host in LOOPBACK):
            pytest.exit(f"refusing to run: {var}={value!r} is not a loopback address", 2)


@pytest.fixture(scope="session")
def local_services() -> Iterator[None]:
    """Redis, the local Stripe, MailDev and the fake FCM for this session (``tools/services.py``):
    on the ports the test command named (the functions emulator was started knowing them), or on
    free ones written to the environment when pytest runs alone. Stopped when the session ends."""
    from tools.services import local_services as services

    with services(os.environ):
        yield


def require_env(*names: str) -> dict[str, str]:
    """The named variables, or a clear failure saying which command starts the services."""
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not set: run this layer through `make test` "
            "(tools/stack.py has firebase-tools start the emulators)",
            pytrace=False,
        )
    return {n: os.environ[n] for n in names}
