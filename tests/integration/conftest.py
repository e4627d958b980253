"""Integration fixtures: the Firestore emulator (a database of its own) and real redis-servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google.cloud import firestore

from tests.conftest import require_env
from tests.support.emulators import PROJECT, clear_firestore
from tests.support.redis_server import RedisServer

# A named database of the emulator: the functions emulator's triggers watch "(default)", so
# adapter tests here never wake a trigger, and e2e tests never see these documents.
DATABASE = "integration"


@pytest.fixture(scope="session", autouse=True)
def _services(local_services: None) -> None:
    """Redis and the local Stripe, started once for the session (tests/conftest.py)."""


@pytest.fixture(scope="session")
def db() -> firestore.Client:
    """A Firestore client on the emulator's integration database."""
    require_env("FIRESTORE_EMULATOR_HOST")
    return firestore.Client(project=PROJECT, database=DATABASE)


@pytest.fixture(autouse=True)
def _clean_firestore() -> Iterator[None]:
    require_env("FIRESTORE_EMULATOR_HOST")
    clear_firestore(DATABASE)
    yield


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A redis-server of this test's own, stopped afterwards."""
    server = RedisServer().start()
    yield server
    server.stop()
