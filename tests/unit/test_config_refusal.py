"""Configuration fails closed: no project id, or emulators outside a ``demo-`` project, and the
functions refuse to serve (503 problem+json, the reason in the log once)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from celeste_functions import config
from celeste_functions.config import (
    STRIPE_SECRETS,
    Misconfigured,
    Settings,
    payment_secrets,
    refusal,
)
from celeste_functions.http.router import Reply, RequestContext, Router
from tests.support.handlers import assert_problem, body_of, call

PROD = {"GCLOUD_PROJECT": "celeste-prod"}
DEMO = {"GCLOUD_PROJECT": "demo-celeste"}
AUTH_EMULATOR = {"FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9099"}


@pytest.mark.parametrize(
    ("env", "refused"),
    [
        ({}, "no project id"),
        ({"GCLOUD_PROJECT": ""}, "no project id"),
        (PROD, None),
        ({"GOOGLE_CLOUD_PROJECT": "celeste-prod"}, None),
        ({**PROD, "GOOGLE_CLOUD_PROJECT": "celeste-prod"}, None),
        ({**PROD, "GOOGLE_CLOUD_PROJECT": "demo-celeste"}, "different projects"),
        (DEMO, None),
        ({**DEMO, **AUTH_EMULATOR, "FIRESTORE_EMULATOR_HOST": "127.0.0.1:8080"}, None),
        ({**DEMO, "FUNCTIONS_EMULATOR": "true"}, None),
        ({**PROD, **AUTH_EMULATOR}, "FIREBASE_AUTH_EMULATOR_HOST"),
        ({**PROD, "FIRESTORE_EMULATOR_HOST": "127.0.0.1:8080"}, "FIRESTORE_EMULATOR_HOST"),
        ({**PROD, "FIREBASE_EMULATOR_HUB": "127.0.0.1:4400"}, "FIREBASE_EMULATOR_HUB"),
        ({**PROD, "FIREBASE_STORAGE_EMULATOR_HOST": "x:1"}, "FIREBASE_STORAGE_EMULATOR_HOST"),
        ({**PROD, "FUNCTIONS_EMULATOR": "true"}, "FUNCTIONS_EMULATOR"),
        ({**PROD, "FUNCTIONS_EMULATOR": "false"}, None),
        ({**PROD, "FIREBASE_AUTH_EMULATOR_HOST": ""}, None),  # set but empty: no emulator
        ({"GCLOUD_PROJECT": "celeste-demo", **AUTH_EMULATOR}, "FIREBASE_AUTH_EMULATOR_HOST"),
    ],
)
def test_the_functions_serve_only_a_named_project_and_emulators_only_in_demo_ones(
    env: dict[str, str], refused: str | None
) -> None:
    reason = refusal(env)
    if refused is None:
        assert reason is None
        assert Settings.from_env(env).project_id == (
            env.get("GCLOUD_PROJECT") or env["GOOGLE_CLOUD_PROJECT"]
        )
    else:
        assert reason is not None and refused in reason
        with pytest.raises(Misconfigured) as raised:
            Settings.from_env(env)
        assert raised.value.reason == reason
        assert "_" not in raised.value.detail  # the client's answer names no setting


def test_no_project_id_is_never_the_demo_project_and_its_public_keys() -> None:
    with pytest.raises(Misconfigured, match="refuses to serve"):
        Settings.from_env({"STRIPE_SECRET_KEY": ""})
    # Secrets are declared unless the project is known to be a demo- one.
    assert payment_secrets({}) == list(STRIPE_SECRETS)
    assert payment_secrets(DEMO) == []
    assert payment_secrets(PROD) == list(STRIPE_SECRETS)


served: list[str] = []
router = Router("things")


@router.get("/")
def listing(ctx: RequestContext) -> Reply:
    served.append("get")
    return Reply({"items": []})


@router.post("/")
def create(ctx: RequestContext) -> Reply:
    served.append("post")
    return Reply({"ok": True}, status=201)


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The process settings re-read from an environment the test sets (and again afterwards)."""
    for name in (*config.PROJECT_VARS, *config.emulator_settings(dict(os.environ))):
        monkeypatch.delenv(name, raising=False)
    config.settings.cache_clear()
    config._log_refusal.cache_clear()
    served.clear()
    yield monkeypatch
    monkeypatch.undo()
    config.settings.cache_clear()
    config._log_refusal.cache_clear()


def _refusals(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    return [r for r in records if r.getMessage().startswith("refusing to serve")]


@pytest.mark.parametrize(
    ("env", "reason"),
    [({}, "no project id"), ({**PROD, **AUTH_EMULATOR}, "FIREBASE_AUTH_EMULATOR_HOST")],
)
def test_a_refused_environment_answers_503_to_every_request_and_logs_why_once(
    environment: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    env: dict[str, str],
    reason: str,
) -> None:
    for name, value in env.items():
        environment.setenv(name, value)
    headers = {"Origin": "http://127.0.0.1:5000", "Authorization": "Bearer forged"}
    for method in ("GET", "POST", "OPTIONS"):
        problem = assert_problem(call(router, method, "/", json_body={}, headers=headers), 503)
        assert problem["type"].endswith("/not-configured")
        assert "server log" in problem["detail"]
    assert served == []
    logged = _refusals(caplog.records)
    assert len(logged) == 1 and logged[0].levelno == logging.ERROR
    assert logged[0].name == "celeste.config" and reason in logged[0].getMessage()
    # Fixed in the environment: served from the next request on, no restart of the code.
    environment.setenv("GCLOUD_PROJECT", "demo-celeste")
    for name in env:
        if name != "GCLOUD_PROJECT":
            environment.delenv(name)
    assert body_of(call(router, "GET", "/")) == {"items": []}
    assert served == ["get"]
