"""What a request carries, read and validated for the router: the JSON body, the query string
(memoised per process by its raw bytes) and the version ``If-Match`` names."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from flask import Request
from pydantic import BaseModel, ValidationError

from celeste.kernel.errors import ValidationFailed
from celeste_functions.http.problems import (
    MalformedRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
    validation_errors,
)

M = TypeVar("M", bound=BaseModel)

#: Largest accepted request body (docs/api.md: 413 above 1 MiB).
MAX_BODY_BYTES = 1024 * 1024
#: Validated query models kept per process, by model and raw query string.
QUERY_MEMO_CAP = 512
_queries: dict[tuple[type[BaseModel], bytes], BaseModel] = {}


def read_body(request: Request, model: type[M]) -> M:
    """The JSON body validated against ``model`` (400/413/415 on the way)."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body may be at most {MAX_BODY_BYTES} bytes")
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body may be at most {MAX_BODY_BYTES} bytes")
    mimetype = (request.mimetype or "").lower()
    if not (mimetype == "application/json" or mimetype.endswith("+json")):
        raise UnsupportedMediaType("send the body as application/json")
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise MalformedRequest(f"the body is not valid JSON: {exc}") from None
    except RecursionError:  # nesting deeper than the parser's stack (fits well within 1 MiB)
        raise MalformedRequest("the body's JSON is nested too deeply") from None
    if not isinstance(data, dict):
        raise ValidationFailed.on("body", "the body must be a JSON object")
    return model.model_validate(data)


def read_query(request: Request, model: type[M]) -> M:
    """The query string validated against ``model``; unknown or repeated parameters → 400.

    Memoised per process by the raw query string (validation is a function of it alone; an
    invalid one raises and is not kept), so the model is shared: handlers only read it."""
    memo_key = (model, request.query_string)
    found = _queries.get(memo_key)
    if found is None:
        found = parse_query(model, request.args)
        if len(_queries) >= QUERY_MEMO_CAP:
            _queries.clear()  # a client varying its queries at will costs only validation
        _queries[memo_key] = found
    return found  # type: ignore[return-value]


def if_match(request: Request) -> str | None:
    """The version named by ``If-Match`` (quotes stripped), or ``None``."""
    value = request.headers.get("If-Match")
    if value is None or value.strip() == "*":
        return None
    return value.strip().removeprefix("W/").strip('"')


def parse_query(model: type[M], args: Any) -> M:
    """Query parameters (a werkzeug ``MultiDict``) validated against ``model``: unknown or
    repeated parameters → 400. A function of the parameters alone, so callers may memoise it
    by the raw query string."""
    data: dict[str, str] = {}
    for key in args:
        values = args.getlist(key)
        if len(values) > 1:
            raise ValidationFailed.on(key, "give this parameter once")
        data[key] = values[0]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(
            "the query string has invalid parameters", validation_errors(exc)
        ) from None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")
