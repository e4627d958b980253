"""The OpenAPI document: committed, current, sound, true to the route declarations, served."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from celeste_functions.resources import openapi as openapi_resource
from tests.support.functions import HTTP_FUNCTIONS
from tests.support.handlers import call
from tools import openapi

STALE = "openapi.json is out of date with the routes or models: run `make openapi`"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi.build()


def test_committed_document_is_current(document: dict[str, Any]) -> None:
    assert openapi.OUTPUT.exists(), STALE
    assert openapi.OUTPUT.read_text(encoding="utf-8") == openapi.render(document), STALE


def test_one_document_the_one_the_function_serves() -> None:
    assert openapi.OUTPUT == openapi_resource.DOCUMENT
    assert not (openapi.ROOT / "openapi.json").exists(), "one copy: functions/celeste_functions/"


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"unresolved $ref {ref}"
        node = node[part]
    return node


def _walk(node: Any) -> Any:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_document_is_structurally_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] and document["info"]["version"]
    assert document["servers"][0]["url"].startswith("http://127.0.0.1:5001/")
    schemes = document["components"]["securitySchemes"]
    assert schemes["firebase"] == {**schemes["firebase"], "type": "http", "scheme": "bearer"}
    for node in _walk(document):
        if isinstance(node.get("$ref"), str):
            _resolve(document, node["$ref"])
    ids = []
    for path, item in document["paths"].items():
        assert path.startswith("/")
        templated = set(re.findall(r"{(\w+)}", path))
        for method, op in item.items():
            assert method in {"get", "put", "post", "patch", "delete"}
            ids.append(op["operationId"])
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == templated, (path, method)
            assert all(p["required"] for p in op.get("parameters", []) if p["in"] == "path")
            assert op["responses"], (path, method)
            for status, response in op["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d", status) and response["description"]
            for requirement in op["security"]:
                assert set(requirement) <= set(schemes)
    assert len(ids) == len(set(ids)), "operationIds must be unique"
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert "errors" in problem["properties"]


def test_every_route_of_every_function_is_documented(document: dict[str, Any]) -> None:
    functions = openapi.http_functions()
    assert sorted(name for name, _ in functions) == sorted(HTTP_FUNCTIONS)
    for name, router in functions:
        for pattern, _, ops in router.routes:
            path = f"/{name}{pattern.rstrip('/')}" if pattern != "/" else f"/{name}"
            assert path in document["paths"], path
            for op in ops:
                documented = document["paths"][path][op.method.lower()]
                assert str(op.status) in documented["responses"], (path, op.method)
                if op.body is not None:
                    assert "requestBody" in documented, (path, op.method)
                if op.auth != "public":
                    assert documented["security"] == [{"firebase": []}]
                    assert "401" in documented["responses"]
                if op.auth == "admin":
                    assert "403" in documented["responses"]
                # Preconditions and rate limits are documented exactly where they are declared.
                responses = documented["responses"]
                assert ("412" in responses) == op.if_match, (path, op.method)
                limited = op.limit is not None or bool(op.handler_limits)
                assert ("429" in responses) == limited, (path, op.method)


def test_openapi_function_serves_the_document() -> None:
    response = call(openapi_resource.router, "GET", "/openapi")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert "public" in response.headers["Cache-Control"]
    assert json.loads(response.get_data()) == json.loads(
        openapi_resource.DOCUMENT.read_text(encoding="utf-8")
    )
    assert call(openapi_resource.router, "GET", "/openapi?x=1").status_code == 400
    assert call(openapi_resource.router, "POST", "/openapi").status_code == 405
