"""Who may call what, for every route every router declares: anonymous callers get 401 and
customers 403 on each admin route, and anonymous callers 401 on each signed-in route."""

from __future__ import annotations

import importlib

import pytest

from tests.e2e.conftest import Api, problem
from tests.support.functions import HTTP_FUNCTIONS
from tools.devauth import SignedIn

pytestmark = pytest.mark.e2e


def _operations(auth: str) -> list[tuple[str, str, str]]:
    """(function, method, path) of every operation declared with ``auth``."""
    found = []
    for function in HTTP_FUNCTIONS:
        router = importlib.import_module(f"celeste_functions.resources.{function}").router
        for pattern, params, operations in router.routes:
            path = pattern
            for name in params:
                path = path.replace("{" + name + "}", "x1")
            for operation in operations:
                if operation.auth == auth:
                    found.append((function, operation.method, "" if path == "/" else path))
    return found


ADMIN_ROUTES = _operations("admin")
USER_ROUTES = _operations("user")


def test_the_route_tables_are_not_empty() -> None:
    assert len(ADMIN_ROUTES) >= 25 and len(USER_ROUTES) >= 8


@pytest.mark.parametrize(("function", "method", "path"), ADMIN_ROUTES)
def test_admin_routes_refuse_anonymous_and_customers(
    api: Api, customer: SignedIn, function: str, method: str, path: str
) -> None:
    body = {} if method in ("POST", "PUT", "PATCH") else None
    problem(api.request(method, function, path, json=body), 401)
    problem(api.request(method, function, path, json=body, user=customer), 403)


@pytest.mark.parametrize(("function", "method", "path"), USER_ROUTES)
def test_signed_in_routes_refuse_anonymous(api: Api, function: str, method: str, path: str) -> None:
    body = {} if method in ("POST", "PUT", "PATCH") else None
    problem(api.request(method, function, path, json=body), 401)
