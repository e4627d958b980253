"""The categories function through the functions emulator, with Auth-emulator tokens."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Api
from tools.devauth import SignedIn

pytestmark = pytest.mark.e2e


def test_admin_creates_and_public_reads(api: Api, admin: SignedIn) -> None:
    created = api.request("POST", "categories", user=admin, json={"name": "Fruit", "slug": "fruit"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["Location"] == f"categories/{body['id']}"
    assert created.headers["ETag"]
    one = api.request("GET", "categories", f"/{body['id']}")
    assert one.status_code == 200 and one.json()["slug"] == "fruit"
    listed = api.request("GET", "categories")
    assert [c["id"] for c in listed.json()["items"]] == [body["id"]]
