"""Unit tests of the HTTP layer: the categories router end to end over in-memory fakes.

Requests are real ``flask.Request`` objects built by werkzeug; the only stand-in besides the
repository is ``authenticate`` (token verification is covered by the e2e tests against the Auth
emulator): test tokens map to callers, and every header without a bearer token still goes
through the real function.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, cast

import pytest
from flask import Request, Response
from werkzeug.test import EnvironBuilder

from celeste.catalog.categories import Category, CategoryCreate
from celeste.kernel.errors import (
    CelesteError,
    Conflict,
    Contention,
    FieldError,
    Forbidden,
    NotFound,
    PreconditionFailed,
    Unauthenticated,
    ValidationFailed,
)
from celeste.kernel.versions import Versioned
from celeste.services.categories import CategoryService
from celeste_functions import clients, composition
from celeste_functions.adapters.cache import Cache
from celeste_functions.composition import Services
from celeste_functions.http.problems import (
    PROBLEM_BASE,
    MalformedRequest,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
    field_path,
    to_problem,
)
from celeste_functions.http.reading import MAX_BODY_BYTES, read_query
from celeste_functions.http.router import Reply, RequestContext, Router
from celeste_functions.resources.categories import router
from tests.fakes import InMemoryCategories
from tests.support.handlers import (
    AS_ADMIN,
    AS_CUSTOMER,
    assert_problem,
    body_of,
    error_fields,
    use_test_tokens,
)
from tests.support.handlers import call as serve

GENERATED_RID = re.compile(r"[0-9a-f]{32}")


# --- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture(autouse=True)
def repo() -> Iterator[InMemoryCategories]:
    """The categories function wired to an in-memory repository and a cache without Redis."""
    repository = InMemoryCategories()
    composition.use(
        Services(
            categories=CategoryService(repository=repository),
            cache=Cache(client=lambda: None, ttl_s=60),
        )
    )
    yield repository
    composition.services.reset()


@pytest.fixture(autouse=True)
def test_tokens(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Test bearer tokens (``tests.support.handlers.TOKENS``), and proof Firebase was never hit."""
    use_test_tokens(monkeypatch)
    yield
    assert clients.firebase_app._value is clients._UNSET, "a unit test reached Firebase"


def request_for(**kwargs: Any) -> Request:
    """A ``flask.Request`` as the Functions runtime hands one to a function."""
    return cast(Request, EnvironBuilder(**kwargs).get_request(Request))


def call(method: str = "GET", path: str = "/", **kwargs: Any) -> Response:
    """Serve one request through the categories router."""
    return serve(router, method, path, **kwargs)


def seed(slug: str, **fields: Any) -> Versioned[Category]:
    """Create a category straight through the service."""
    body = {"name": slug.title(), "slug": slug, **fields}
    return composition.services.get().categories.create(CategoryCreate.model_validate(body))


# --- routing --------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["", "/categories"])
def test_both_path_forms_reach_one_category(prefix: str) -> None:
    made = seed("fruit")
    response = call("GET", f"{prefix}/{made.value.id}")
    assert response.status_code == 200
    assert body_of(response)["id"] == made.value.id
    assert response.headers["ETag"] == f'"{made.version}"'


@pytest.mark.parametrize("path", ["", "/", "/categories", "/categories/"])
def test_every_form_of_the_collection_path_lists(path: str) -> None:
    seed("fruit")
    response = call("GET", path or "/")
    assert response.status_code == 200
    assert [c["slug"] for c in body_of(response)["items"]] == ["fruit"]


@pytest.mark.parametrize(
    "path", ["/abc/children", "/categories/abc/def", "/a/b/c", "/categoriesx/abc/def"]
)
def test_unknown_sub_path_is_a_404_problem(path: str) -> None:
    assert_problem(call("GET", path), 404)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/", "GET, HEAD, POST"),
        ("DELETE", "/categories", "GET, HEAD, POST"),
        ("PATCH", "/", "GET, HEAD, POST"),
        ("POST", "/abc", "DELETE, GET, HEAD, PATCH"),
        ("PUT", "/categories/abc", "DELETE, GET, HEAD, PATCH"),
        ("OPTIONS", "/abc", "DELETE, GET, HEAD, PATCH"),
    ],
)
def test_wrong_method_is_405_with_allow(method: str, path: str, allow: str) -> None:
    response = call(method, path)
    assert_problem(response, 405)
    assert response.headers["Allow"] == allow


@pytest.mark.parametrize(
    "path",
    [
        "/a%2Fb",
        "/categories/a%2Fb",
        "/__x__",
        "/a..b",
        "/..",
        "/%2e%2e",
        "/-abc",
        "/_abc",
        "/a%20b",
        "/x%00y",
        "/%C3%A9t%C3%A9",
        "/a%3Bb",
        "/" + "a" * 129,
        "/categories/" + "a" * 129,
        "/" + "a" * 10_000,
    ],
)
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_invalid_id_in_the_path_is_404_never_500(method: str, path: str) -> None:
    response = call(method, path, headers=AS_ADMIN, json_body={"name": "X"})
    assert_problem(response, 404)


def test_unknown_valid_id_is_404() -> None:
    assert_problem(call("GET", "/" + "a" * 128), 404)
    assert_problem(call("PATCH", "/ghost", headers=AS_ADMIN, json_body={"name": "X"}), 404)
    assert_problem(call("DELETE", "/ghost", headers=AS_ADMIN), 404)


def test_head_is_served_by_get_without_a_body() -> None:
    made = seed("fruit")
    response = call("HEAD", f"/{made.value.id}")
    assert response.status_code == 200
    assert response.get_data() == b""
    assert response.headers["ETag"] == f'"{made.version}"'


# --- request bodies -------------------------------------------------------------------------


def test_body_over_one_mib_is_413() -> None:
    data = b'{"name":"' + b"a" * MAX_BODY_BYTES + b'","slug":"big"}'
    response = call("POST", "/", data=data, content_type="application/json", headers=AS_ADMIN)
    assert_problem(response, 413)


def test_body_of_exactly_one_mib_is_read() -> None:
    head, tail = b'{"name":"Big","slug":"big","description":"', b'"}'
    data = head + b"a" * (MAX_BODY_BYTES - len(head) - len(tail)) + tail
    assert len(data) == MAX_BODY_BYTES
    response = call("POST", "/", data=data, content_type="application/json", headers=AS_ADMIN)
    assert error_fields(response) == ["description"]


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_body_that_is_not_json_is_415(content_type: str | None) -> None:
    data = b'{"name":"Fruit","slug":"fruit"}'
    response = call("POST", "/", data=data, content_type=content_type, headers=AS_ADMIN)
    assert_problem(response, 415)


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "x/y+json"],
)
def test_json_media_types_are_accepted(content_type: str) -> None:
    data = b'{"name":"Fruit","slug":"fruit"}'
    response = call("POST", "/", data=data, content_type=content_type, headers=AS_ADMIN)
    assert response.status_code == 201


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b'{"name":',
        b"{'name': 'Fruit'}",
        b'{"name":"Fruit","slug":"fruit"} {}',
        b"NaN",
        b'{"name":"Fruit","slug":"fruit","sort_order":Infinity}',
        b'{"name":"\xff\xfe"}',
        b'\xef\xbb\xbf{"name":"Fruit","slug":"fruit"}',
        b'{"name":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
    ids=[
        "empty",
        "truncated",
        "single-quotes",
        "trailing",
        "nan",
        "infinity",
        "not-utf8",
        "bom",
        "deep",
    ],
)
def test_malformed_json_is_400(data: bytes) -> None:
    response = call("POST", "/", data=data, content_type="application/json", headers=AS_ADMIN)
    assert_problem(response, 400)


@pytest.mark.parametrize(
    "data", [b"[]", b'[{"name":"Fruit","slug":"fruit"}]', b'"x"', b"1", b"null"]
)
def test_json_body_that_is_not_an_object_is_400(data: bytes) -> None:
    response = call("POST", "/", data=data, content_type="application/json", headers=AS_ADMIN)
    assert error_fields(response) == ["body"]


@pytest.mark.parametrize(
    ("method", "body", "field"),
    [
        ("POST", {"name": "Fruit", "slug": "fruit", "colour": "red"}, "colour"),
        ("POST", {"name": "Fruit", "slug": "fruit", "id": "abc"}, "id"),
        ("PATCH", {"created_at": "2025-01-01T00:00:00Z"}, "created_at"),
        ("PATCH", {"Name": "Fruit"}, "Name"),
    ],
)
def test_unknown_field_is_400_naming_it(method: str, body: dict[str, Any], field: str) -> None:
    path = "/" if method == "POST" else f"/{seed('fruit').value.id}"
    problem = assert_problem(call(method, path, json_body=body, headers=AS_ADMIN), 400)
    assert problem["errors"] == [{"field": field, "message": "unknown field"}]


VALID = {"name": "Fruit", "slug": "fruit"}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({**VALID, "slug": "Not A Slug"}, ["slug"]),
        ({**VALID, "slug": "trailing-"}, ["slug"]),
        ({**VALID, "slug": ""}, ["slug"]),
        ({**VALID, "slug": "a" * 101}, ["slug"]),
        ({**VALID, "name": ""}, ["name"]),
        ({**VALID, "name": "   "}, ["name"]),
        ({**VALID, "name": "x" * 201}, ["name"]),
        ({**VALID, "name": 5}, ["name"]),
        ({**VALID, "description": "x" * 5001}, ["description"]),
        ({**VALID, "sort_order": "1"}, ["sort_order"]),
        ({**VALID, "sort_order": 1.5}, ["sort_order"]),
        ({**VALID, "sort_order": True}, ["sort_order"]),
        ({**VALID, "sort_order": 10**7}, ["sort_order"]),
        ({**VALID, "parent_id": "__x__"}, ["parent_id"]),
        ({**VALID, "parent_id": ""}, ["parent_id"]),
        ({**VALID, "parent_id": "a/b"}, ["parent_id"]),
        ({**VALID, "active": "maybe"}, ["active"]),
        ({}, ["name", "slug"]),
        ({"name": "", "slug": "BAD"}, ["name", "slug"]),
        ({**VALID, "parent_id": "missing"}, ["parent_id"]),
    ],
)
def test_invalid_create_fields_are_400_per_field(body: dict[str, Any], fields: list[str]) -> None:
    assert error_fields(call("POST", "/", json_body=body, headers=AS_ADMIN)) == fields


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"name": None}, ["name"]),
        ({"slug": None}, ["slug"]),
        ({"active": None}, ["active"]),
        ({"slug": "BAD"}, ["slug"]),
        ({"parent_id": "a/b"}, ["parent_id"]),
        ({"parent_id": "ghost"}, ["parent_id"]),
        ({"sort_order": "2"}, ["sort_order"]),
    ],
)
def test_invalid_patch_fields_are_400_per_field(body: dict[str, Any], fields: list[str]) -> None:
    made = seed("fruit")
    response = call("PATCH", f"/{made.value.id}", json_body=body, headers=AS_ADMIN)
    assert error_fields(response) == fields


def test_patch_to_own_id_is_400_and_under_a_descendant_is_409() -> None:
    a = seed("a").value
    b = seed("b", parent_id=a.id).value
    own = call("PATCH", f"/{a.id}", json_body={"parent_id": a.id}, headers=AS_ADMIN)
    assert error_fields(own) == ["parent_id"]
    cycle = call("PATCH", f"/{a.id}", json_body={"parent_id": b.id}, headers=AS_ADMIN)
    assert_problem(cycle, 409)


# --- query strings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=-1", "limit"),
        ("limit=abc", "limit"),
        ("limit=1.5", "limit"),
        ("limit=", "limit"),
        ("colour=red", "colour"),
        ("limit=1&limit=2", "limit"),
        ("parent_id=a&parent_id=b", "parent_id"),
        ("parent_id=__x__", "parent_id"),
        ("parent_id=a%2Fb", "parent_id"),
        ("cursor=", "cursor"),
        ("cursor=" + "c" * 1001, "cursor"),
        ("cursor=not-a-cursor", "cursor"),
    ],
)
def test_bad_list_query_is_400_naming_the_parameter(query: str, field: str) -> None:
    assert error_fields(call("GET", f"/?{query}")) == [field]


def test_query_models_are_memoised_by_the_raw_query_string() -> None:
    from celeste_functions.http import reading as reading_module
    from celeste_functions.resources.common import ListParams

    def parsed(query: str) -> ListParams:
        return read_query(request_for(path="/", query_string=query), ListParams)

    first = parsed("limit=7")
    assert first.limit == 7 and parsed("limit=7") is first
    assert parsed("limit=8").limit == 8 and parsed("") is not first
    with pytest.raises(ValidationFailed):
        parsed("limit=0")
    assert (ListParams, b"limit=0") not in reading_module._queries  # errors are never kept
    for n in range(reading_module.QUERY_MEMO_CAP + 1):
        parsed(f"limit={n % 100 + 1}&cursor=c{n}")
    assert len(reading_module._queries) <= reading_module.QUERY_MEMO_CAP


@pytest.mark.parametrize("query", ["limit=5", "x=1", "cursor=abc"])
def test_single_category_takes_no_query_parameters(query: str) -> None:
    made = seed("fruit")
    fields = error_fields(call("GET", f"/{made.value.id}?{query}"))
    assert fields == [query.split("=")[0]]


def test_list_pages_with_limit_and_cursor() -> None:
    for i in range(5):
        seed(f"c-{i}", sort_order=i)
    slugs: list[str] = []
    path = "/?limit=2"
    for _ in range(5):
        response = call("GET", path)
        page = body_of(response)
        assert set(page) == {"items", "next_cursor"}
        assert len(page["items"]) <= 2
        slugs += [c["slug"] for c in page["items"]]
        if page["next_cursor"] is None:
            break
        path = f"/?limit=2&cursor={page['next_cursor']}"
    assert slugs == [f"c-{i}" for i in range(5)]


def test_list_filters_by_parent_and_roots() -> None:
    fruit = seed("fruit", sort_order=1).value
    seed("veg", sort_order=2)
    seed("apples", parent_id=fruit.id)
    children = body_of(call("GET", f"/?parent_id={fruit.id}"))["items"]
    roots = body_of(call("GET", "/?parent_id="))["items"]
    assert [c["slug"] for c in children] == ["apples"]
    assert [c["slug"] for c in roots] == ["fruit", "veg"]


# --- every error is a problem ---------------------------------------------------------------


def test_problem_carries_type_title_status_detail() -> None:
    problem = assert_problem(call("GET", "/nope"), 404)
    assert problem["type"] == PROBLEM_BASE + "not-found"
    assert problem["title"] == "Not found"


@pytest.mark.parametrize(
    ("error", "status", "slug"),
    [
        (ValidationFailed.on("lines[0].quantity", "must be positive"), 400, "validation"),
        (MalformedRequest("bad"), 400, "bad-request"),
        (Unauthenticated("who"), 401, "unauthenticated"),
        (Forbidden("no"), 403, "forbidden"),
        (NotFound("gone"), 404, "not-found"),
        (MethodNotAllowed("no", headers={"Allow": "GET"}), 405, "method-not-allowed"),
        (Conflict("taken"), 409, "conflict"),
        (type("SlugTaken", (Conflict,), {})("taken"), 409, "conflict"),
        (PreconditionFailed("stale"), 412, "precondition-failed"),
        (PayloadTooLarge("big"), 413, "payload-too-large"),
        (UnsupportedMediaType("xml"), 415, "unsupported-media-type"),
        (Contention("busy", retry_after_s=3), 503, "contention"),
    ],
)
def test_to_problem_maps_each_error_once(error: CelesteError, status: int, slug: str) -> None:
    response = to_problem(error)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    problem = body_of(response)
    assert problem["type"] == PROBLEM_BASE + slug
    assert problem["detail"] == error.detail
    if isinstance(error, ValidationFailed):
        assert problem["errors"] == [{"field": "lines[0].quantity", "message": "must be positive"}]
    if isinstance(error, Contention):
        assert response.headers["Retry-After"] == "3"
    if isinstance(error, MethodNotAllowed):
        assert response.headers["Allow"] == "GET"


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        (("lines", 0, "quantity"), "lines[0].quantity"),
        (("name",), "name"),
        (("address", "city"), "address.city"),
        (("lines", 0, 1), "lines[0][1]"),
        ((0, "name"), "[0].name"),
        ((), "body"),
    ],
)
def test_field_path(loc: tuple[int | str, ...], path: str) -> None:
    assert field_path(loc) == path


def test_field_errors_keep_their_order() -> None:
    error = ValidationFailed("two", [FieldError("a", "x"), FieldError("b", "y")])
    assert [e["field"] for e in body_of(to_problem(error))["errors"]] == ["a", "b"]


SECRET = "s3cr3t-connection-string"


def test_unexpected_exception_in_a_handler_is_an_opaque_500() -> None:
    boom = Router("boom")

    @boom.get("/")
    def explode(ctx: RequestContext) -> Reply:
        raise RuntimeError(SECRET)

    response = boom(request_for(path="/"))
    problem = assert_problem(response, 500)
    assert problem["detail"] == "something went wrong on our side"
    assert SECRET not in response.get_data(as_text=True)


def test_unexpected_storage_failure_is_an_opaque_500(
    repo: InMemoryCategories, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise OSError(SECRET)

    monkeypatch.setattr(repo, "list", broken)
    response = call("GET", "/")
    assert_problem(response, 500)
    assert SECRET not in response.get_data(as_text=True)


def test_handler_returning_something_unserialisable_is_an_opaque_500() -> None:
    odd = Router("odd")

    @odd.get("/")
    def unserialisable(ctx: RequestContext) -> Reply:
        return Reply({"value": object()})

    assert_problem(odd(request_for(path="/")), 500)


# --- request ids ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/nope/nope"])
def test_request_id_is_generated_when_absent(path: str) -> None:
    assert GENERATED_RID.fullmatch(call("GET", path).headers["X-Request-Id"])


@pytest.mark.parametrize("rid", ["abc-123.DEF_9", "a", "x" * 64])
@pytest.mark.parametrize("path", ["/", "/nope/nope"])
def test_valid_client_request_id_is_echoed(path: str, rid: str) -> None:
    assert call("GET", path, headers={"X-Request-Id": rid}).headers["X-Request-Id"] == rid


@pytest.mark.parametrize("rid", ["has space", "x" * 65, "a/b", "<script>", "é"])
def test_invalid_client_request_id_is_replaced(rid: str) -> None:
    returned = call("GET", "/", headers={"X-Request-Id": rid}).headers["X-Request-Id"]
    assert GENERATED_RID.fullmatch(returned)


# --- authentication and roles ---------------------------------------------------------------

WRITES = [
    ("POST", "/", {"name": "Fruit", "slug": "fruit"}),
    ("PATCH", "/{id}", {"name": "Renamed"}),
    ("DELETE", "/{id}", None),
]


def _write(method: str, path: str, body: Any, headers: dict[str, str]) -> Response:
    made = seed("existing")
    path = path.format(id=made.value.id)
    if body is None:
        return call(method, path, headers=headers)
    return call(method, path, json_body=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_admin_route_without_authorization_is_401(method: str, path: str, body: Any) -> None:
    assert_problem(_write(method, path, body, {}), 401)


@pytest.mark.parametrize(
    "authorization",
    ["Basic x", "Bearer", "Bearer    ", "Token abc", "admin-token", "Bearer forged"],
)
@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_admin_route_with_malformed_or_forged_authorization_is_401(
    method: str, path: str, body: Any, authorization: str
) -> None:
    assert_problem(_write(method, path, body, {"Authorization": authorization}), 401)


@pytest.mark.parametrize("authorization", ["Basic x", "Bearer forged"])
def test_public_route_with_a_bad_token_is_401(authorization: str) -> None:
    assert_problem(call("GET", "/", headers={"Authorization": authorization}), 401)


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_customer_on_an_admin_route_is_403(
    repo: InMemoryCategories, method: str, path: str, body: Any
) -> None:
    assert_problem(_write(method, path, body, AS_CUSTOMER), 403)
    assert [
        c.slug
        for c in repo.list(
            parent_id=None, root_only=False, active_only=False, limit=10, cursor=None
        ).items
    ] == ["existing"]


def test_admin_create_is_201_with_location_and_etag(repo: InMemoryCategories) -> None:
    parent = seed("fruit").value
    body = {"name": "Apples", "slug": "apples", "parent_id": parent.id, "sort_order": 2}
    response = call("POST", "/categories", json_body=body, headers=AS_ADMIN)
    assert response.status_code == 201
    created = body_of(response)
    stored = repo.get(created["id"])
    assert response.headers["Location"] == f"categories/{created['id']}"
    assert response.headers["ETag"] == f'"{stored.version}"'
    assert {k: created[k] for k in body} == body
    assert (created["description"], created["active"]) == ("", True)
    assert created["created_at"].endswith("Z")


def test_admin_create_with_a_taken_slug_is_409() -> None:
    seed("fruit")
    body = {"name": "Fruit again", "slug": "fruit"}
    assert_problem(call("POST", "/", json_body=body, headers=AS_ADMIN), 409)


def test_patch_honours_if_match() -> None:
    made = seed("fruit")
    path = f"/{made.value.id}"
    first = call(
        "PATCH",
        path,
        json_body={"name": "One"},
        headers={**AS_ADMIN, "If-Match": f'"{made.version}"'},
    )
    assert first.status_code == 200
    assert body_of(first)["name"] == "One"
    fresh = first.headers["ETag"]
    assert fresh != f'"{made.version}"'

    stale = call(
        "PATCH",
        path,
        json_body={"name": "Two"},
        headers={**AS_ADMIN, "If-Match": f'"{made.version}"'},
    )
    assert_problem(stale, 412)

    weak = call(
        "PATCH", path, json_body={"name": "Three"}, headers={**AS_ADMIN, "If-Match": "W/" + fresh}
    )
    assert weak.status_code == 200
    anything = call(
        "PATCH", path, json_body={"name": "Four"}, headers={**AS_ADMIN, "If-Match": "*"}
    )
    assert anything.status_code == 200
    unconditional = call("PATCH", path, json_body={"name": "Five"}, headers=AS_ADMIN)
    assert body_of(unconditional)["name"] == "Five"
    assert unconditional.headers["ETag"] == call("GET", path).headers["ETag"]


def test_patch_with_unknown_if_match_is_412() -> None:
    made = seed("fruit")
    response = call(
        "PATCH",
        f"/{made.value.id}",
        json_body={"name": "X"},
        headers={**AS_ADMIN, "If-Match": '"nope"'},
    )
    assert_problem(response, 412)


def test_delete_is_204_then_gone() -> None:
    made = seed("fruit")
    response = call("DELETE", f"/categories/{made.value.id}", headers=AS_ADMIN)
    assert response.status_code == 204
    assert response.get_data() == b""
    assert "Content-Type" not in response.headers
    assert_problem(call("GET", f"/{made.value.id}"), 404)
    assert_problem(call("DELETE", f"/{made.value.id}", headers=AS_ADMIN), 404)


def test_delete_honours_if_match() -> None:
    made = seed("fruit")
    path = f"/{made.value.id}"
    call("PATCH", path, json_body={"name": "Changed"}, headers=AS_ADMIN)
    stale = call("DELETE", path, headers={**AS_ADMIN, "If-Match": f'"{made.version}"'})
    assert_problem(stale, 412)
    current = call("GET", path).headers["ETag"]
    assert call("DELETE", path, headers={**AS_ADMIN, "If-Match": current}).status_code == 204


def test_delete_of_a_referenced_category_is_409(repo: InMemoryCategories) -> None:
    parent = seed("fruit").value
    child = seed("apples", parent_id=parent.id).value
    assert_problem(call("DELETE", f"/{parent.id}", headers=AS_ADMIN), 409)
    repo.products["p1"] = child.id
    assert_problem(call("DELETE", f"/{child.id}", headers=AS_ADMIN), 409)


# --- reads: visibility and cache header -----------------------------------------------------


def test_gets_say_x_cache_miss_without_redis() -> None:
    made = seed("fruit")
    one = call("GET", f"/{made.value.id}")
    many = call("GET", "/")
    assert (one.headers["X-Cache"], many.headers["X-Cache"]) == ("miss", "miss")
    assert one.headers["ETag"] == f'"{made.version}"'
    assert one.mimetype == many.mimetype == "application/json"


def test_inactive_categories_are_visible_to_admins_only() -> None:
    hidden = seed("hidden", active=False).value
    seed("shown")
    assert_problem(call("GET", f"/{hidden.id}"), 404)
    assert_problem(call("GET", f"/{hidden.id}", headers=AS_CUSTOMER), 404)
    assert call("GET", f"/{hidden.id}", headers=AS_ADMIN).status_code == 200
    public = [c["slug"] for c in body_of(call("GET", "/"))["items"]]
    admin = [c["slug"] for c in body_of(call("GET", "/", headers=AS_ADMIN))["items"]]
    assert (sorted(public), sorted(admin)) == (["shown"], ["hidden", "shown"])


# --- media types: JSON, problem+json, or none at all ----------------------------------------


def test_every_response_is_json_problem_or_typeless() -> None:
    """No reply the router can produce is labelled HTML: empty ones carry no media type."""
    probe = Router("probe")

    @probe.get("/empty")
    def empty(ctx: RequestContext) -> Reply:
        return Reply(status=204)

    @probe.get("/none")
    def none(ctx: RequestContext) -> Reply:
        return Reply(None, status=202)

    @probe.get("/unmodified")
    def unmodified(ctx: RequestContext) -> Reply:
        return Reply({"ignored": True}, status=304)

    @probe.get("/json")
    def some_json(ctx: RequestContext) -> Reply:
        return Reply({"a": 1})

    @probe.get("/boom")
    def boom(ctx: RequestContext) -> Reply:
        raise RuntimeError("internal")

    typeless = [serve(probe, "GET", p) for p in ("/empty", "/none", "/unmodified")]
    typeless.append(serve(probe, "HEAD", "/empty"))
    for response in typeless:
        assert "Content-Type" not in response.headers, response.status_code
        assert response.get_data() == b""
    assert serve(probe, "GET", "/json").mimetype == "application/json"
    assert serve(probe, "HEAD", "/json").mimetype == "application/json"
    for method, path in [("GET", "/boom"), ("GET", "/nope"), ("POST", "/json")]:
        response = serve(probe, method, path)
        assert response.mimetype == "application/problem+json", (method, path)
