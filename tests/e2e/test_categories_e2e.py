"""The categories function through the functions emulator, with Auth-emulator tokens."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
import redis
import requests
from google.cloud import firestore

from tests.e2e.conftest import Api, problem
from tests.support.emulators import PROJECT, eventually
from tools.devauth import SignedIn

pytestmark = pytest.mark.e2e


def _create(api: Api, admin: SignedIn, **body: object) -> dict[str, object]:
    body.setdefault("name", str(body.get("slug", "x")).title())
    response = api.request("POST", "categories", user=admin, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_admin_creates_and_public_reads(api: Api, admin: SignedIn) -> None:
    created = api.request("POST", "categories", user=admin, json={"name": "Fruit", "slug": "fruit"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["Location"] == f"categories/{body['id']}"
    assert created.headers["ETag"]
    assert body["created_at"].endswith("Z")
    for path in (f"/{body['id']}", f"/categories/{body['id']}"):  # both path forms
        one = api.request("GET", "categories", path)
        assert one.status_code == 200 and one.json()["slug"] == "fruit"
        assert one.headers["ETag"] == created.headers["ETag"]
    listed = api.request("GET", "categories")
    assert listed.json() == {"items": [body], "next_cursor": None}


def test_who_may_write(api: Api, admin: SignedIn, customer: SignedIn) -> None:
    body = {"name": "Fruit", "slug": "fruit"}
    problem(api.request("POST", "categories", json=body), 401)
    problem(
        api.request(
            "POST", "categories", json=body, headers={"Authorization": "Bearer not-a-token"}
        ),
        401,
    )
    problem(api.request("POST", "categories", user=customer, json=body), 403)
    cat = _create(api, admin, slug="veg")
    problem(
        api.request("PATCH", "categories", f"/{cat['id']}", user=customer, json={"name": "x"}), 403
    )
    problem(api.request("DELETE", "categories", f"/{cat['id']}", user=customer), 403)
    # A forged token on a public route is still refused: a client that sends one expects it used.
    problem(api.request("GET", "categories", headers={"Authorization": "Bearer forged"}), 401)


def test_bad_input_is_a_problem_and_writes_nothing(api: Api, admin: SignedIn) -> None:
    bad = problem(
        api.request(
            "POST",
            "categories",
            user=admin,
            json={"name": "", "slug": "Not A Slug", "colour": "red"},
        ),
        400,
    )
    fields = {e["field"] for e in bad["errors"]}  # type: ignore[union-attr]
    assert {"name", "slug", "colour"} <= fields
    problem(
        api.request(
            "POST",
            "categories",
            user=admin,
            data="{oops",
            headers={"Content-Type": "application/json"},
        ),
        400,
    )
    problem(
        api.request(
            "POST",
            "categories",
            user=admin,
            data="name=x",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        415,
    )
    problem(
        api.request(
            "POST",
            "categories",
            user=admin,
            data=b"{" + b" " * (1024 * 1024 + 10),
            headers={"Content-Type": "application/json"},
        ),
        413,
    )
    problem(
        api.request(
            "POST",
            "categories",
            user=admin,
            json={"name": "Orphan", "slug": "orphan", "parent_id": "nope"},
        ),
        400,
    )
    problem(api.request("GET", "categories", "?limit=1000"), 400)
    problem(api.request("GET", "categories", "?cursor=garbage"), 400)
    problem(api.request("GET", "categories", "/a/b/c"), 404)
    allowed = problem(api.request("PUT", "categories", "/abc", user=admin, json={}), 405)
    assert allowed["status"] == 405
    assert api.request("GET", "categories").json()["items"] == []


def test_etag_if_match_and_delete_rules(api: Api, admin: SignedIn) -> None:
    parent = _create(api, admin, slug="parent")
    child = _create(api, admin, slug="child", parent_id=parent["id"])
    got = api.request("GET", "categories", f"/{parent['id']}")
    etag = got.headers["ETag"]
    ok = api.request(
        "PATCH",
        "categories",
        f"/{parent['id']}",
        user=admin,
        json={"name": "Renamed"},
        headers={"If-Match": etag},
    )
    assert ok.status_code == 200 and ok.json()["name"] == "Renamed"
    problem(
        api.request(
            "PATCH",
            "categories",
            f"/{parent['id']}",
            user=admin,
            json={"name": "Again"},
            headers={"If-Match": etag},
        ),
        412,
    )
    problem(
        api.request(
            "PATCH", "categories", f"/{parent['id']}", user=admin, json={"parent_id": child["id"]}
        ),
        409,
    )  # a cycle
    problem(api.request("DELETE", "categories", f"/{parent['id']}", user=admin), 409)
    assert api.request("DELETE", "categories", f"/{child['id']}", user=admin).status_code == 204
    assert api.request("DELETE", "categories", f"/{parent['id']}", user=admin).status_code == 204
    problem(api.request("GET", "categories", f"/{parent['id']}"), 404)


def test_inactive_is_for_admins_and_pages_walk(api: Api, admin: SignedIn) -> None:
    hidden = _create(api, admin, slug="hidden", active=False)
    problem(api.request("GET", "categories", f"/{hidden['id']}"), 404)
    assert api.request("GET", "categories", f"/{hidden['id']}", user=admin).status_code == 200
    for i in range(5):
        _create(api, admin, slug=f"c{i}", sort_order=i)
    seen, url = [], "?limit=2"
    while url is not None:
        page = api.request("GET", "categories", url).json()
        seen += [c["slug"] for c in page["items"]]
        url = f"?limit=2&cursor={page['next_cursor']}" if page["next_cursor"] else None
    assert seen == [f"c{i}" for i in range(5)]


def test_cache_hits_and_admin_edit_is_visible_at_once(api: Api, admin: SignedIn) -> None:
    cat = _create(api, admin, slug="fruit")
    path = f"/{cat['id']}"
    assert api.request("GET", "categories", path).headers["X-Cache"] == "miss"
    # The create's own trigger retires the entry once more, asynchronously; then hits follow.
    eventually(
        lambda: api.request("GET", "categories", path).headers["X-Cache"] == "hit",
        what="a cache hit",
    )
    api.request("PATCH", "categories", path, user=admin, json={"name": "Fresh fruit"})
    after = api.request("GET", "categories", path)
    assert after.json()["name"] == "Fresh fruit"
    for _ in range(5):
        assert api.request("GET", "categories", path).json()["name"] == "Fresh fruit"


def test_trigger_invalidates_writes_made_outside_the_api(api: Api, admin: SignedIn) -> None:
    cat = _create(api, admin, slug="fruit")
    path = f"/{cat['id']}"
    # Warm the cache once the create's own trigger has run (triggers are asynchronous).
    eventually(
        lambda: api.request("GET", "categories", path).headers["X-Cache"] == "hit",
        what="a cache hit",
    )
    # A console or script edit: straight to Firestore, no API call to invalidate anything.
    firestore.Client(project=PROJECT).collection("categories").document(str(cat["id"])).update(
        {"name": "Edited in console"}
    )
    eventually(
        lambda: api.request("GET", "categories", path).json()["name"] == "Edited in console",
        what="trigger invalidation",
    )
    for _ in range(5):  # and the old value never returns
        assert api.request("GET", "categories", path).json()["name"] == "Edited in console"


@pytest.fixture(scope="session")
def revived_redis(redis_client: redis.Redis) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Redis servers this session restarted; stopped when the session ends (not leaked)."""
    revived: list[subprocess.Popen[bytes]] = []
    yield revived
    for proc in revived:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture
def redis_down(
    redis_client: redis.Redis, revived_redis: list[subprocess.Popen[bytes]]
) -> Iterator[None]:
    """Kill the stack's Redis for one test, then bring it back on the same port."""
    port = os.environ["CELESTE_REDIS_PORT"]
    redis_client.shutdown(nosave=True)
    yield
    revived_redis.append(
        subprocess.Popen(
            [
                os.environ["CELESTE_REDIS_SERVER"],
                "--port",
                port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    eventually(lambda: _ping(redis_client), what="redis back")


def _ping(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def test_reads_survive_redis_dying(api: Api, admin: SignedIn, redis_down: None) -> None:
    cat = _create(api, admin, slug="fruit")
    for _ in range(3):
        response = api.request("GET", "categories", f"/{cat['id']}")
        assert response.status_code == 200 and response.headers["X-Cache"] == "miss"
    assert api.request("GET", "categories").status_code == 200


def test_no_html_or_traceback_anywhere(api: Api) -> None:
    for method, path in [("GET", "/%00"), ("DELETE", "/x"), ("OPTIONS", "/"), ("GET", "/..")]:
        response = api.request(method, "categories", path)
        assert "<html" not in response.text.lower() and "Traceback" not in response.text
        assert response.status_code < 500, (method, path, response.status_code)
    assert requests.get(api.url("categories"), timeout=30).status_code == 200
