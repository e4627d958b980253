"""A route is declared once (``Router.route``) and the router enforces the declaration before
the handler runs: who may call it, the query and body models, the path converters; it hands the
handler the typed values; a handler that disagrees with its declaration is refused at import;
and the OpenAPI document's errors are read from the same declarations."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from celeste.kernel.errors import ValidationFailed
from celeste_functions import clients, composition
from celeste_functions.adapters.cache import Cache
from celeste_functions.composition import Services
from celeste_functions.http.auth import Caller
from celeste_functions.http.router import Operation, Reply, RequestContext, Router
from tests.support.functions import HTTP_FUNCTIONS
from tests.support.handlers import (
    ADMIN,
    AS_ADMIN,
    AS_CUSTOMER,
    assert_problem,
    body_of,
    call,
    use_test_tokens,
)
from tools import openapi

#: A path parameter's sample value where ``x1`` would not pass the route's converter.
SAMPLES = {"country": "PT"}


def _routers() -> dict[str, Router]:
    return {
        name: importlib.import_module(f"celeste_functions.resources.{name}").router
        for name in HTTP_FUNCTIONS
    }


def _operations() -> list[tuple[str, str, Operation]]:
    """``(function, concrete path, operation)`` of every declared operation."""
    found = []
    for function, router in _routers().items():
        for pattern, params, ops in router.routes:
            path = pattern
            for name in params:
                path = path.replace("{" + name + "}", SAMPLES.get(name, "x1"))
            found += [(function, path, op) for op in ops]
    return found


OPERATIONS = _operations()


def _ids(rows: list[tuple[str, str, Operation]]) -> list[str]:
    return [f"{op.method} /{function}{path}" for function, path, op in rows]


ADMIN_OPS = [row for row in OPERATIONS if row[2].auth == "admin"]
SIGNED_IN_OPS = [row for row in OPERATIONS if row[2].auth != "public"]
BODY_OPS = [row for row in OPERATIONS if row[2].body is not None]
QUERY_OPS = [row for row in OPERATIONS if row[2].query is not None]


@pytest.fixture(autouse=True)
def wired(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Test tokens, no service wired (a handler that ran would fail loudly), no Firebase."""
    use_test_tokens(monkeypatch)
    composition.use(Services(cache=Cache(client=lambda: None, ttl_s=60)))
    yield
    composition.services.reset()
    assert clients.firebase_app._value is clients._UNSET, "a unit test reached Firebase"


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every handler of every router replaced by a spy that records what it was handed."""
    calls: list[dict[str, Any]] = []

    def spy(**kwargs: Any) -> Reply:
        calls.append(kwargs)
        return Reply({"spied": True})

    for router in _routers().values():
        for route in router._routes:
            for method, op in list(route.operations.items()):
                monkeypatch.setitem(route.operations, method, replace(op, handler=spy))
    return calls


def test_the_tables_cover_the_api() -> None:
    assert len(OPERATIONS) >= 70
    assert len(ADMIN_OPS) >= 40 and len(BODY_OPS) >= 25 and len(QUERY_OPS) >= 20


# --- auth -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("function", "path", "op"), ADMIN_OPS, ids=_ids(ADMIN_OPS))
def test_every_admin_route_refuses_a_customer_with_403_before_the_handler_runs(
    ran: list[dict[str, Any]], function: str, path: str, op: Operation
) -> None:
    # An unknown field and an unknown parameter too: the caller is refused before either is read.
    router = _routers()[function]
    bad = {"json_body": {"zz_unknown": 1}} if op.body is not None else {}
    refused = call(router, op.method, f"{path}?zz_unknown=1", headers=AS_CUSTOMER, **bad)
    assert assert_problem(refused, 403)["detail"] == "this route is for admins"
    assert ran == []


@pytest.mark.parametrize(("function", "path", "op"), SIGNED_IN_OPS, ids=_ids(SIGNED_IN_OPS))
def test_every_signed_in_route_refuses_anonymous_with_401_before_the_handler_runs(
    ran: list[dict[str, Any]], function: str, path: str, op: Operation
) -> None:
    router = _routers()[function]
    bad = {"json_body": {"zz_unknown": 1}} if op.body is not None else {}
    assert_problem(call(router, op.method, f"{path}?zz_unknown=1", **bad), 401)
    forged = {"Authorization": "Bearer forged"}
    assert_problem(call(router, op.method, path, headers=forged, **bad), 401)
    assert ran == []


# --- query and body ---------------------------------------------------------------------------


@pytest.mark.parametrize(("function", "path", "op"), BODY_OPS, ids=_ids(BODY_OPS))
def test_every_route_with_a_body_refuses_an_unknown_field_with_400_naming_it(
    ran: list[dict[str, Any]], function: str, path: str, op: Operation
) -> None:
    router = _routers()[function]
    headers = AS_ADMIN if op.auth == "admin" else AS_CUSTOMER
    response = call(router, op.method, path, json_body={"zz_unknown": 1}, headers=headers)
    problem = assert_problem(response, 400)
    assert {"field": "zz_unknown", "message": "unknown field"} in problem["errors"]
    assert_problem(call(router, op.method, path, data=b"{}", headers=headers), 415)
    assert ran == []


@pytest.mark.parametrize(("function", "path", "op"), QUERY_OPS, ids=_ids(QUERY_OPS))
def test_every_route_with_a_query_refuses_an_unknown_parameter_with_400_naming_it(
    ran: list[dict[str, Any]], function: str, path: str, op: Operation
) -> None:
    router = _routers()[function]
    headers = AS_ADMIN if op.auth == "admin" else AS_CUSTOMER
    response = call(router, op.method, f"{path}?zz_unknown=1", headers=headers, json_body={})
    problem = assert_problem(response, 400)
    assert problem["errors"] == [{"field": "zz_unknown", "message": "unknown field"}]
    assert ran == []


def test_a_path_converter_runs_after_auth_and_before_the_body(ran: list[dict[str, Any]]) -> None:
    pricing = _routers()["pricing"]
    bad_body = {"json_body": {"zz_unknown": 1}}
    assert_problem(call(pricing, "PUT", "/tax-rates/XX", headers=AS_CUSTOMER, **bad_body), 403)
    refused = call(pricing, "PUT", "/tax-rates/XX", headers=AS_ADMIN, **bad_body)
    assert [e["field"] for e in assert_problem(refused, 400)["errors"]] == ["country"]
    assert ran == []


# --- what the handler receives ----------------------------------------------------------------


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str


class Paging(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = 20


def test_the_handler_receives_the_declared_values_typed() -> None:
    probe = Router("things")
    seen: dict[str, Any] = {}

    @probe.patch("/{thing_id}", body=Thing, query=Paging, auth="admin", if_match=True)
    def update(
        ctx: RequestContext,
        caller: Caller,
        thing_id: str,
        body: Thing,
        query: Paging,
        if_match: str | None,
    ) -> Reply:
        seen.update(ctx=ctx, caller=caller, id=thing_id, body=body, query=query, tag=if_match)
        return Reply({"ok": True})

    @probe.get("/{thing_id}")
    def read(thing_id: str) -> Reply:  # takes only what it uses: no ctx at all
        return Reply({"id": thing_id})

    headers = {**AS_ADMIN, "If-Match": 'W/"v7"'}
    response = call(probe, "PATCH", "/t1?limit=5", json_body={"name": "N"}, headers=headers)
    assert body_of(response) == {"ok": True}
    assert isinstance(seen["ctx"], RequestContext)
    assert (seen["caller"], seen["id"], seen["tag"]) == (ADMIN, "t1", "v7")
    assert (seen["body"], seen["query"]) == (Thing(name="N"), Paging(limit=5))
    assert body_of(call(probe, "GET", "/things/t2?anything=1")) == {"id": "t2"}


def test_a_query_declared_but_not_taken_is_still_enforced() -> None:
    probe = Router("things")

    @probe.get("/", query=Paging)
    def listing() -> Reply:
        return Reply({"ok": True})

    assert call(probe, "GET", "/?limit=3").status_code == 200
    assert_problem(call(probe, "GET", "/?limit=x"), 400)


def _refused(**declared: Any) -> Any:
    """The ``TypeError`` registering ``handler`` with ``declared`` raises."""
    handler = declared.pop("handler")
    pattern = declared.pop("pattern", "/{thing_id}")
    with pytest.raises(TypeError) as refused:
        Router("things").post(pattern, **declared)(handler)
    return refused.value


def test_a_handler_that_disagrees_with_its_declaration_is_refused_at_import() -> None:
    def takes_body(thing_id: str, body: Thing) -> Reply:
        return Reply()

    def takes_if_match(thing_id: str, if_match: str | None) -> Reply:
        return Reply()

    def takes_caller(thing_id: str, caller: Caller) -> Reply:
        return Reply()

    def takes_nothing() -> Reply:
        return Reply()

    def takes_anything(*args: Any, **kwargs: Any) -> Reply:
        return Reply()

    def positional_only(thing_id: str, /) -> Reply:
        return Reply()

    assert "['body']" in str(_refused(handler=takes_body))  # no body declared
    assert "['body']" in str(_refused(handler=takes_nothing, pattern="/", body=Thing))
    assert "['if_match']" in str(_refused(handler=takes_if_match))
    assert "['if_match']" in str(_refused(handler=takes_nothing, pattern="/", if_match=True))
    assert "['caller']" in str(_refused(handler=takes_caller))  # a public route has no caller
    assert "['thing_id']" in str(_refused(handler=takes_nothing))
    _refused(handler=takes_anything)
    _refused(handler=positional_only)
    _refused(handler=takes_body, body=Thing, converters={"other": str})


def test_an_undeclared_rate_limit_is_a_500_and_counts_nothing() -> None:
    probe = Router("things")

    @probe.get("/")
    def sneaky(ctx: RequestContext) -> Reply:
        ctx.rate_limit("catalogue-scan")
        return Reply({"ok": True})

    assert_problem(call(probe, "GET", "/"), 500)


def test_a_converter_error_is_the_converters_400() -> None:
    probe = Router("things")

    def even(value: str) -> str:
        if len(value) % 2:
            raise ValidationFailed.on("thing_id", "give an even length")
        return value.upper()

    @probe.get("/{thing_id}", converters={"thing_id": even})
    def read(thing_id: str) -> Reply:
        return Reply({"id": thing_id})

    assert body_of(call(probe, "GET", "/ab")) == {"id": "AB"}
    problem = assert_problem(call(probe, "GET", "/abc"), 400)
    assert problem["errors"] == [{"field": "thing_id", "message": "give an even length"}]


# --- the OpenAPI document's errors come from the declarations ---------------------------------


def test_documented_errors_follow_the_declaration() -> None:
    probe = Router("things")

    def plain(thing_id: str) -> Reply:
        return Reply()

    def versioned(thing_id: str, body: Thing, if_match: str | None) -> Reply:
        return Reply()

    probe.get("/{thing_id}")(plain)
    probe.patch("/{thing_id}", body=Thing, auth="admin", if_match=True)(versioned)
    probe.put("/{thing_id}", handler_limits=("quote",))(plain)
    probe.delete("/{thing_id}", limit="orders", auth="user")(plain)
    ops = {op.method: op for _, _, found in probe.routes for op in found}
    statuses = {m: openapi._problem_statuses(op, has_params=True) for m, op in ops.items()}
    assert statuses == {
        "GET": [400, 401, 404, 405],
        "PATCH": [400, 401, 403, 404, 405, 409, 412, 413, 415],
        "PUT": [400, 401, 404, 405, 429],
        "DELETE": [400, 401, 404, 405, 409, 429],
    }
