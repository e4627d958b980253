"""The server layer's handlers on a real Flask app: errors raised outside the router (a wrapper
around it, werkzeug itself) are problem+json, not functions-framework's HTML crash text."""

from __future__ import annotations

import json

import flask
import pytest
from werkzeug.exceptions import MethodNotAllowed

from celeste_functions.http import server


@pytest.fixture
def client() -> flask.testing.FlaskClient:
    app = flask.Flask("wrapped")
    app.register_error_handler(500, lambda e: (str(e), 500))  # what functions-framework does

    @app.route("/boom")
    def boom() -> str:
        raise RuntimeError("secret internals")

    @app.route("/refused")
    def refused() -> str:
        raise MethodNotAllowed(valid_methods=["GET"])

    @app.route("/fine")
    def fine() -> str:
        return "ok"

    with app.app_context():
        server.install_flask_handlers()
    return app.test_client()


def test_a_crash_outside_the_router_is_an_opaque_500_problem(
    client: flask.testing.FlaskClient,
) -> None:
    response = client.get("/boom")
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    assert b"secret internals" not in response.data
    assert json.loads(response.data)["type"].endswith("/internal")
    assert response.headers["X-Google-Status"] == "crash"


def test_werkzeug_errors_outside_the_router_are_problems(
    client: flask.testing.FlaskClient,
) -> None:
    for path, status in (("/refused", 405), ("/nowhere", 404)):
        response = client.get(path)
        assert response.status_code == status
        assert response.mimetype == "application/problem+json"
        assert json.loads(response.data)["status"] == status
    assert client.get("/fine").data == b"ok"


def test_install_outside_an_app_context_touches_nothing() -> None:
    server.install_flask_handlers()  # no app being built: nothing to do, no error


def test_the_server_problem_bodies_are_rfc_9457() -> None:
    body = json.loads(server.problem_body(431, "Request Header Fields Too Large"))
    assert body["status"] == 431 and body["type"].endswith("/headers-too-large")
    assert body["title"] and body["detail"]
