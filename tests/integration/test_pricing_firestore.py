"""The pricing snapshot and catalogue availability against the Firestore emulator and a real
redis-server: each input comes from its collection's owner, the default tier from the one rule."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import redis
from google.cloud import firestore

from celeste_functions.adapters.cache import Cache
from celeste_functions.adapters.inventory import FirestoreInventory
from celeste_functions.adapters.pricing import CachedPricingSource
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _source(db: firestore.Client, server: RedisServer) -> CachedPricingSource:
    client = redis.Redis.from_url(server.url)
    cache = Cache(client=lambda: client, ttl_s=60)
    client.flushall()
    return CachedPricingSource(client=lambda: db, cache=cache, ceiling_s=60)


@pytest.mark.parametrize(
    ("tiers", "expected"),
    [
        ({}, "BRONZE"),  # no tiers at all: the fallback
        ({"IRON": (1, False), "GOLD": (3, False)}, "IRON"),  # none marked: the lowest
        ({"IRON": (1, False), "STARTER": (2, True)}, "STARTER"),  # the marked default
    ],
)
def test_snapshot_default_tier_follows_the_one_rule(
    db: firestore.Client,
    redis_server: RedisServer,
    tiers: dict[str, tuple[int, bool]],
    expected: str,
) -> None:
    for code, (level, is_default) in tiers.items():
        db.collection("tiers").document(code).set(
            {"code": code, "name": code.title(), "level": level, "is_default": is_default}
        )
    db.collection("categories").document("fruit").set({"name": "Fruit", "parent_id": None})
    db.collection("categories").document("apples").set({"name": "Apples", "parent_id": "fruit"})
    snapshot = _source(db, redis_server).snapshot()
    assert snapshot.default_tier == expected
    assert snapshot.parents == {"fruit": None, "apples": "fruit"}


def test_availability_is_on_hand_minus_reserved_and_zero_without_a_level(
    db: firestore.Client,
) -> None:
    inventory = db.collection("stores").document("s1").collection("inventory")
    inventory.document("apple").set(
        {"store_id": "s1", "product_id": "apple", "on_hand": 7, "reserved": 3, "updated_at": T0}
    )
    stock = FirestoreInventory(client=lambda: db)
    got = stock.available(store_id="s1", keys=["apple", "pear", "apple"])
    assert got == {"apple": 4, "pear": 0}
