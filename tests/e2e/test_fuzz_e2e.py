"""Schemathesis fuzzes the public operations of openapi.json against the functions emulator.

Bounded (about ten generated cases per operation, plus schemathesis' coverage cases): the public
reads, ``POST /pricing/quote`` and ``POST /auth/register``. Every response must be a non-5xx one
that matches its documented schema (success bodies and problem+json errors alike). A failure
schemathesis finds becomes a regression test beside the resource's other tests.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.conftest import require_env

pytestmark = pytest.mark.e2e

DOCUMENT = Path(__file__).resolve().parents[2] / "openapi.json"
#: The public writes worth fuzzing: anyone may call them, and they validate rich bodies.
PUBLIC_POSTS = {("post", "/pricing/quote"), ("post", "/auth/register")}


def _fuzzed_operation_ids() -> list[str]:
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    ids = []
    for path, item in document["paths"].items():
        for method, op in item.items():
            public = {} in op.get("security", [])
            if public and (method == "get" or (method, path) in PUBLIC_POSTS):
                ids.append(op["operationId"])
    return sorted(ids)


schema = schemathesis.openapi.from_path(DOCUMENT).include(operation_id=_fuzzed_operation_ids())
if os.environ.get("CELESTE_FUNCTIONS_URL"):
    schema.config.update(base_url=os.environ["CELESTE_FUNCTIONS_URL"])


@schema.parametrize()
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_public_operations_never_fail_and_match_the_schema(case: schemathesis.Case) -> None:
    base = require_env("CELESTE_FUNCTIONS_URL")["CELESTE_FUNCTIONS_URL"]
    case.call_and_validate(
        base_url=base,
        checks=[not_a_server_error, response_schema_conformance],
        timeout=60,
    )
