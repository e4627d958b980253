#!/usr/bin/env python3
"""Generate Celeste's OpenAPI 3.1 document from the routers and their Pydantic models.

Every HTTP function of ``functions/main.py`` has a ``Router`` in
``celeste_functions.resources.<name>``; each route declares, once, its body, query and response
models, its success status, who may call it, whether it honours If-Match and the rate limits it
counts (``Router.route``). The router enforces that same declaration, so the errors documented
here are the ones it answers. This turns it into ``functions/celeste_functions/openapi.json``,
the one committed copy: the ``openapi`` function serves it and it deploys with ``functions/``.
Run ``make openapi`` (or ``python3 tools/openapi.py``) after changing a route or a model; a unit
test fails while the committed file is stale.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"
VENV_PY = FUNCTIONS / "venv" / "bin" / "python"
#: The one committed document, beside the code that serves it (deploy uploads only functions/).
OUTPUT = FUNCTIONS / "celeste_functions" / "openapi.json"

EMULATOR_URL = "http://127.0.0.1:5001/demo-celeste/us-central1"
PRODUCTION_URL = "https://{region}-{project}.cloudfunctions.net"
REF = "#/components/schemas/{model}"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "An RFC 9457 problem detail (application/problem+json).",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}

PROBLEMS = {
    400: "Invalid request: a field, a query parameter or an id is wrong.",
    401: "No valid Firebase ID token (or a bad one was sent, or the account is disabled).",
    403: "Signed in, but this route is for admins.",
    404: "No such resource (or not yours).",
    405: "This path does not serve the method.",
    409: "The request conflicts with the current state.",
    412: "If-Match names an outdated version.",
    413: "The body is over 1 MiB.",
    415: "The body is not application/json.",
    429: "Too many requests of this kind from this caller or address; retry after Retry-After.",
}


def _ensure_runtime() -> None:
    """Run under functions/venv (pydantic, firebase_functions) with functions/ importable."""
    try:
        import firebase_functions  # noqa: F401
    except ImportError:
        if VENV_PY.exists() and Path(sys.executable) != VENV_PY:
            os.execv(str(VENV_PY), [str(VENV_PY), *sys.argv])
        raise
    if str(FUNCTIONS) not in sys.path:
        sys.path.insert(0, str(FUNCTIONS))


def http_functions() -> list[tuple[str, Any]]:
    """``(function name, router)`` for every HTTP function main.py registers, by name."""
    import main

    out = []
    for name, value in sorted(vars(main).items()):
        endpoint = getattr(value, "__firebase_endpoint__", None)
        if endpoint is None or endpoint.httpsTrigger is None:
            continue
        module = importlib.import_module(f"celeste_functions.resources.{name}")
        out.append((name, module.router))
    return out


def _strip_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema without the ``null`` branch of an optional field."""
    schema = dict(schema)
    options = schema.get("anyOf")
    if isinstance(options, list):
        kept = [o for o in options if o != {"type": "null"}]
        if len(kept) == 1:
            del schema["anyOf"]
            schema = {**kept[0], **schema}
        else:
            schema["anyOf"] = kept
    if schema.get("default", 0) is None:
        del schema["default"]
    return schema


def _query_parameters(query_schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(query_schema.get("required", []))
    params = []
    for name, prop in query_schema.get("properties", {}).items():
        prop = _strip_null(prop)
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required}
        if "description" in prop:
            param["description"] = prop["description"]
        prop.pop("title", None)
        param["schema"] = prop
        params.append(param)
    return params


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def _problem_statuses(op: Any, *, has_params: bool) -> list[int]:
    """The error statuses an operation can answer, from its declaration (``Router.route``)."""
    statuses = [400, 401, 405]
    if op.auth == "admin":
        statuses.append(403)
    if has_params:
        statuses.append(404)
    if op.method != "GET" and (op.auth != "public" or op.status == 201):
        statuses.append(409)
    if op.if_match:
        statuses.append(412)
    if op.body is not None:
        statuses += [413, 415]
    if op.limit is not None or op.handler_limits:
        statuses.append(429)
    return sorted(statuses)


def build() -> dict[str, Any]:
    """The OpenAPI document as a dict."""
    _ensure_runtime()
    from pydantic.json_schema import models_json_schema

    functions = http_functions()
    wanted: list[tuple[Any, Any]] = []
    for _, router in functions:
        for _, _, ops in router.routes:
            for op in ops:
                for model, mode in (
                    (op.body, "validation"),
                    (op.query, "validation"),
                    (op.response, "serialization"),
                ):
                    if model is not None and (model, mode) not in wanted:
                        wanted.append((model, mode))
    refs, top = models_json_schema(wanted, ref_template=REF)  # type: ignore[arg-type]
    schemas: dict[str, Any] = dict(top.get("$defs", {}))

    def resolved(model: Any, mode: str) -> dict[str, Any]:
        ref = refs[(model, mode)]["$ref"]
        return schemas[ref.rsplit("/", 1)[1]]  # type: ignore[no-any-return]

    paths: dict[str, Any] = {}
    for function, router in functions:
        for pattern, params, ops in router.routes:
            path = f"/{function}{pattern.rstrip('/')}" if pattern != "/" else f"/{function}"
            item = paths.setdefault(path, {})
            for op in ops:
                item[op.method.lower()] = _operation(function, op, params, refs, resolved)

    used: set[str] = {"Problem"}
    frontier = _refs(paths)
    while frontier:
        name = frontier.pop()
        if name in used:
            continue
        used.add(name)
        frontier |= _refs(schemas.get(name, {})) - used
    components = {name: schemas[name] for name in sorted(used) if name in schemas}
    components["Problem"] = PROBLEM_SCHEMA

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Celeste API",
            "version": "1.0.0",
            "description": (
                "Celeste's e-commerce backend: one Cloud Function per resource. Generated from "
                "the Pydantic models by tools/openapi.py (`make openapi`); served by the "
                "`openapi` function. Errors are application/problem+json (RFC 9457)."
            ),
        },
        "servers": [
            {"url": EMULATOR_URL, "description": "Local functions emulator (make dev)"},
            {
                "url": PRODUCTION_URL,
                "description": "Deployed Cloud Functions",
                "variables": {
                    "region": {"default": "us-central1"},
                    "project": {"default": "your-project-id"},
                },
            },
        ],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "firebase": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A Firebase Auth ID token: Authorization: Bearer <token>.",
                }
            },
        },
    }


def _operation(
    function: str, op: Any, params: list[str], refs: Any, resolved: Any
) -> dict[str, Any]:
    doc = inspect.getdoc(op.handler) or ""
    operation: dict[str, Any] = {
        "operationId": f"{function}_{op.handler.__name__}",
        "tags": [function],
        "summary": doc.split("\n", 1)[0],
        "description": doc,
    }
    operation["security"] = [{"firebase": []}] if op.auth != "public" else [{}, {"firebase": []}]
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"},
        }
        for name in params
    ]
    if op.query is not None:
        parameters += _query_parameters(resolved(op.query, "validation"))
    if parameters:
        operation["parameters"] = parameters
    if op.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
        }
    responses: dict[str, Any] = {}
    if op.status == 204:
        responses["204"] = {"description": "Done; no content."}
    else:
        schema = (
            refs[(op.response, "serialization")]
            if op.response is not None
            else {"type": "object", "description": "A JSON object (see docs/api.md)."}
        )
        responses[str(op.status)] = {
            "description": "Success.",
            "content": {"application/json": {"schema": schema}},
        }
    for status in _problem_statuses(op, has_params=bool(params)):
        responses[str(status)] = {
            "description": PROBLEMS[status],
            "content": {"application/problem+json": {"schema": PROBLEM_REF}},
        }
    operation["responses"] = responses
    return operation


def render(document: dict[str, Any]) -> str:
    """The document as committed: sorted keys, two-space indent, a trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    OUTPUT.write_text(render(build()), encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
