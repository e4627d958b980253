"""Schemathesis fuzzes the public operations of openapi.json against the functions emulator.

Bounded (about ten generated cases per operation, plus schemathesis' coverage cases): the public
reads, ``POST /pricing/quote`` and ``POST /auth/register``, then checkout and its admin writes
with an admin's token. Every response must be a non-5xx one
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
from tools.devauth import SignedIn

pytestmark = pytest.mark.e2e

DOCUMENT = Path(__file__).resolve().parents[2] / "functions" / "celeste_functions" / "openapi.json"
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


#: Signed-in writes of checkout and its admin resources, fuzzed with an admin's token (admins
#: may call both; the admin's cart is empty, so checkout itself answers 409 or 400).
SIGNED_IN_WRITES = [
    "checkout_checkout",
    "checkout_quote",
    "pricing_create_code",
    "pricing_put_tax_rate",
    "shipping_create_method",
]
signed_in = schemathesis.openapi.from_path(DOCUMENT).include(operation_id=SIGNED_IN_WRITES)


@signed_in.parametrize()
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_checkout_and_its_admin_writes_never_fail(case: schemathesis.Case, admin: SignedIn) -> None:
    base = require_env("CELESTE_FUNCTIONS_URL")["CELESTE_FUNCTIONS_URL"]
    case.call_and_validate(
        base_url=base,
        headers={**admin.headers, "Idempotency-Key": "fuzz-key"},
        checks=[not_a_server_error, response_schema_conformance],
        timeout=60,
    )
