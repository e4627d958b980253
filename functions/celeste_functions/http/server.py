"""The server layer's own error answers (gunicorn's and werkzeug's dev server's) as problem+json.

functions-framework serves the functions with gunicorn (production, and the emulator with
``DEBUG=False``) or werkzeug's development server (``--debug``). Both answer some requests before
any Flask code runs: a header over gunicorn's 8190-byte line limit (431), too many headers (431),
a request line with bytes that are not ASCII (400), a malformed header (400). gunicorn writes every
such answer through ``gunicorn.util.write_error`` (called from ``Worker.handle_error``) and
werkzeug's server through ``BaseHTTPRequestHandler.send_error``; neither takes a setting for the
body, so :func:`install` replaces those two writers with ones that answer RFC 9457 documents.
Inside Flask, an exception raised outside the router (a wrapper around it) reaches
functions-framework's ``crash_handler``, which answers ``str(exc)`` as HTML: :func:`install`
registers problem+json handlers on the app instead.
"""

from __future__ import annotations

import json
import sys
from typing import Any

PROBLEM_JSON = "application/problem+json"

#: Slugs and client-facing explanations for the statuses the server layer answers by itself.
_SERVER_PROBLEMS: dict[int, tuple[str, str]] = {
    400: (
        "bad-request",
        "the request line or a header is not valid HTTP/1.1 (percent-encode bytes that are not "
        "ASCII in the path)",
    ),
    403: ("forbidden", "the request was refused by the server"),
    408: ("request-timeout", "the request was not received in time"),
    414: ("uri-too-long", "the request line is too long"),
    417: ("expectation-failed", "the Expect header is not supported"),
    431: (
        "headers-too-large",
        "a request header is too large (at most 8190 bytes per header line, 100 headers)",
    ),
    500: ("internal", "something went wrong on our side"),
    501: ("not-implemented", "the request uses a feature this server does not implement"),
}


def problem_body(status: int, title: str) -> bytes:
    """The problem document the server layer answers with for ``status``."""
    from celeste_functions.http.problems import PROBLEM_BASE  # at use: keeps `import main` light

    slug, detail = _SERVER_PROBLEMS.get(status, ("http-error", "the request could not be served"))
    body = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail}
    return json.dumps(body).encode()


def gunicorn_write_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """``gunicorn.util.write_error`` answering problem+json (``mesg``, which echoes the
    client's bytes, goes to gunicorn's log line only, as gunicorn already logs it)."""
    from gunicorn import util  # type: ignore[import-untyped]

    body = problem_body(int(status_int), reason)
    head = (
        f"HTTP/1.1 {int(status_int)} {reason}\r\n"
        "Connection: close\r\n"
        f"Content-Type: {PROBLEM_JSON}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


def werkzeug_send_error(
    self: Any, code: int, message: str | None = None, explain: str | None = None
) -> None:
    """``BaseHTTPRequestHandler.send_error`` answering problem+json (werkzeug's dev server)."""
    try:
        short, _long = self.responses[code]
    except KeyError:
        short = "Error"
    title = message or short
    self.log_error("code %d, message %s", code, title)
    self.send_response(code, short)
    self.send_header("Connection", "close")
    self.close_connection = True
    body = b""
    if code >= 200 and code not in (204, 304):
        body = problem_body(code, short)
        self.send_header("Content-Type", PROBLEM_JSON)
        self.send_header("Content-Length", str(len(body)))
    self.end_headers()
    if self.command != "HEAD" and body:
        self.wfile.write(body)


def flask_crash_problem(exc: BaseException) -> Any:
    """A crash outside the router (Flask logged it already): an opaque 500 problem, with the
    header functions-framework's own crash handler sets for the platform's logs."""
    from celeste_functions.http.problems import problem

    return problem(
        500,
        "internal",
        "Internal error",
        "something went wrong on our side",
        headers={"X-Google-Status": "crash"},
    )


def flask_http_problem(exc: Any) -> Any:
    """A werkzeug ``HTTPException`` raised outside the router, as its problem document."""
    from celeste_functions.http.problems import problem

    status = int(getattr(exc, "code", None) or 500)
    if status >= 500:
        return flask_crash_problem(exc)
    slug = _SERVER_PROBLEMS.get(status, ("http-error", ""))[0]
    title = str(getattr(exc, "name", "") or "Error")
    detail = str(getattr(exc, "description", "") or "the request could not be served")
    return problem(status, slug, title, detail)


def install(*, force: bool = False) -> None:
    """Make the server layer's own errors problem+json; idempotent.

    Only when this process is a functions-framework server (or ``force``): ``import main`` for
    ``firebase deploy`` stays as light as before.
    """
    if not force and "functions_framework._cli" not in sys.modules:
        return
    try:
        from gunicorn import util as gunicorn_util
    except ImportError:  # pragma: no cover - gunicorn ships with functions-framework
        pass
    else:
        gunicorn_util.write_error = gunicorn_write_error
    from werkzeug.serving import WSGIRequestHandler

    WSGIRequestHandler.send_error = werkzeug_send_error  # type: ignore[method-assign]
    install_flask_handlers()


def install_flask_handlers() -> None:
    """Problem+json handlers on the Flask app being built (functions-framework imports
    ``main.py`` inside the app's context); nothing outside an app context."""
    import flask
    from werkzeug.exceptions import HTTPException

    if not flask.has_app_context():
        return
    app = flask.current_app._get_current_object()  # type: ignore[attr-defined]
    app.register_error_handler(500, flask_crash_problem)  # replaces functions-framework's
    app.register_error_handler(HTTPException, flask_http_problem)
