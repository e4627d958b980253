"""The one router: matches a resource's sub-paths and methods, runs the handler, maps errors."""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from flask import Request, Response
from pydantic import BaseModel, ValidationError

from celeste.errors import NotFound, ValidationFailed
from celeste.ids import is_valid_id
from celeste_functions.config import Misconfigured, settings
from celeste_functions.http.auth import Caller, authenticate
from celeste_functions.http.cors import is_preflight
from celeste_functions.http.problems import (
    MalformedRequest,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
    to_problem,
    validation_errors,
)
from celeste_functions.logs import get_logger, request_id

if TYPE_CHECKING:
    from celeste.services.ratelimits import Counted

log = get_logger("http")
M = TypeVar("M", bound=BaseModel)

#: Largest accepted request body (docs/api.md: 413 above 1 MiB).
MAX_BODY_BYTES = 1024 * 1024
_PARAM = re.compile(r"{(\w+)}")
#: Methods that only read: their caller's account state may come from the last few seconds.
_READS = frozenset({"GET", "HEAD", "OPTIONS"})
#: A request id a client may choose (anything else is replaced by one of ours).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
#: Successful requests answered faster than this are logged at DEBUG (the platform's own request
#: log already has every request's status and latency); errors and slow ones at INFO.
SLOW_REQUEST_MS = 250.0
#: Validated query models kept per process, by model and raw query string.
QUERY_MEMO_CAP = 512
_queries: dict[tuple[type[BaseModel], bytes], BaseModel] = {}


@dataclass
class Reply:
    """What a handler returns: a JSON-able body (a model, or JSON already as bytes), a status
    and extra headers."""

    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    #: How long a cached copy stays right (e.g. until a price list starts); None: the default TTL.
    fresh_for_s: int | None = None


class RequestContext:
    """The request as handlers see it: caller, parsed body and query, preconditions."""

    def __init__(self, request: Request, *, rid: str) -> None:
        self.request = request
        self.request_id = rid
        self._caller: Caller | bool | None = False
        self._strict = False

    @property
    def caller(self) -> Caller | None:
        """The signed-in caller, ``None`` when anonymous; a bad token is a 401 even where
        anonymous calls are allowed (a client that sends a token expects it to count)."""
        if self._caller is False:
            self._strict = self.request.method.upper() not in _READS
            header = self.request.headers.get("Authorization")
            self._caller = authenticate(header, strict=self._strict)
        return self._caller  # type: ignore[return-value]

    def require_user(self) -> Caller:
        """The caller, or 401; the account is checked with Firebase Auth now (a public read
        may rely on its answer of the last few seconds, a signed-in route may not)."""
        from celeste.errors import Unauthenticated

        caller = self.caller
        if caller is None:
            raise Unauthenticated("sign in: send Authorization: Bearer <Firebase ID token>")
        if not self._strict:
            self._strict = True
            caller = authenticate(self.request.headers.get("Authorization"), strict=True)
            self._caller = caller
            assert caller is not None
        return caller

    def require_admin(self) -> Caller:
        """The caller if an admin, else 401/403."""
        from celeste.errors import Forbidden

        caller = self.require_user()
        if not caller.is_admin:
            raise Forbidden("this route is for admins")
        return caller

    @property
    def is_admin(self) -> bool:
        """Whether the caller is a signed-in admin (anonymous and customers are not)."""
        caller = self.caller
        return caller is not None and caller.is_admin

    def body(self, model: type[M]) -> M:
        """The JSON body validated against ``model`` (400/413/415 on the way)."""
        request = self.request
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

    def query(self, model: type[M]) -> M:
        """The query string validated against ``model``; unknown or repeated parameters → 400.

        Memoised per process by the raw query string (validation is a function of it alone; an
        invalid one raises and is not kept), so the model is shared: handlers only read it."""
        memo_key = (model, self.request.query_string)
        found = _queries.get(memo_key)
        if found is None:
            found = parse_query(model, self.request.args)
            if len(_queries) >= QUERY_MEMO_CAP:
                _queries.clear()  # a client varying its queries at will costs only validation
            _queries[memo_key] = found
        return found  # type: ignore[return-value]

    @property
    def client_ip(self) -> str | None:
        """The caller's address: ``CELESTE_TRUSTED_PROXY_HOPS`` entries from the right of
        ``X-Forwarded-For`` (each trusted proxy in front appends the address it saw; entries
        further left are the client's own claims), else the connection's peer."""
        from celeste_functions.config import settings

        hops = settings().trusted_proxy_hops
        forwarded = [
            part.strip()
            for header in self.request.headers.getlist("X-Forwarded-For")
            for part in header.split(",")
            if part.strip()
        ]
        if hops > 0 and forwarded:
            return forwarded[-min(hops, len(forwarded))][:64]
        return self.request.remote_addr

    def rate_limit(self, policy: str) -> Counted:
        """Count this request against the rate limit ``policy``, per signed-in caller and per
        client IP; over a limit it is a 429 with ``Retry-After``. The one hook for limits:
        routes declare theirs (``limit=``), a handler whose cost depends on the request (an
        uncached catalogue scan) calls it when that cost is incurred."""
        from celeste_functions.composition import services

        caller = self.caller
        uid = caller.uid if caller is not None else None
        return services.get().limiter.check(policy, uid=uid, ip=self.client_ip)

    @contextmanager
    def attempt_rate_limit(
        self, policy: str, *, failed: Callable[[BaseException], bool]
    ) -> Iterator[None]:
        """Count an attempt (a discount code tried) against ``policy`` before the block runs,
        and take it back unless the block raised what ``failed`` calls a failed attempt: only
        failed attempts use the allowance, yet every attempt in flight is counted, so a burst
        of concurrent guesses is held to the limit too, and a caller over it is refused (429)
        whatever it tries (a refusal of wrong guesses only would tell a right one)."""
        counted = self.rate_limit(policy)
        try:
            yield
        except BaseException as exc:
            if not failed(exc):
                counted.give_back()
            raise
        counted.give_back()

    @property
    def if_match(self) -> str | None:
        """The version named by ``If-Match`` (quotes stripped), or ``None``."""
        value = self.request.headers.get("If-Match")
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


Handler = Callable[..., Reply]
#: Who may call a route: anyone, any signed-in user, or admins only.
Auth = Literal["public", "user", "admin"]


@dataclass(frozen=True)
class Operation:
    """What a route declares about itself (for the OpenAPI document); dispatch ignores it."""

    method: str
    handler: Handler
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    auth: Auth = "public"
    #: The rate limit policy counted before the handler runs (``RequestContext.rate_limit``).
    limit: str | None = None


@dataclass
class _Route:
    pattern: str
    regex: re.Pattern[str]
    params: list[str]
    methods: dict[str, Handler] = field(default_factory=dict)
    operations: dict[str, Operation] = field(default_factory=dict)


class Router:
    """Routes of one HTTP function; also answers with the function name in front of the path."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self._routes: list[_Route] = []

    @property
    def routes(self) -> list[tuple[str, list[str], list[Operation]]]:
        """Every route as ``(pattern, path parameters, operations)``, in registration order."""
        return [(r.pattern, list(r.params), list(r.operations.values())) for r in self._routes]

    def route(
        self,
        method: str,
        pattern: str,
        *,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        auth: Auth = "public",
        limit: str | None = None,
    ) -> Callable[[Handler], Handler]:
        """Register ``handler(ctx, **params)`` for ``method`` on ``pattern`` (e.g. ``/{id}``).

        ``body``, ``query``, ``response``, ``status`` (on success) and ``auth`` describe the
        route for the OpenAPI document; the handler still validates and authorises itself.
        ``limit`` names a rate limit policy counted before the handler runs.
        """

        def register(handler: Handler) -> Handler:
            route = next((r for r in self._routes if r.pattern == pattern), None)
            if route is None:
                params = _PARAM.findall(pattern)
                regex = re.compile("^" + _PARAM.sub(r"([^/]+)", pattern.rstrip("/")) + "/?$")
                route = _Route(pattern, regex, params)
                self._routes.append(route)
            route.methods[method.upper()] = handler
            route.operations[method.upper()] = Operation(
                method.upper(), handler, body, query, response, status, auth, limit
            )
            return handler

        return register

    def get(self, pattern: str, **meta: Any) -> Callable[[Handler], Handler]:
        """Register a GET handler (HEAD is served by it too)."""
        return self.route("GET", pattern, **meta)

    def post(self, pattern: str, **meta: Any) -> Callable[[Handler], Handler]:
        """Register a POST handler."""
        return self.route("POST", pattern, **meta)

    def put(self, pattern: str, **meta: Any) -> Callable[[Handler], Handler]:
        """Register a PUT handler."""
        return self.route("PUT", pattern, **meta)

    def patch(self, pattern: str, **meta: Any) -> Callable[[Handler], Handler]:
        """Register a PATCH handler."""
        return self.route("PATCH", pattern, **meta)

    def delete(self, pattern: str, **meta: Any) -> Callable[[Handler], Handler]:
        """Register a DELETE handler."""
        return self.route("DELETE", pattern, **meta)

    def __call__(self, request: Request) -> Response:
        """Serve one request: route it, run the handler, serialise or map the error."""
        # The SDK hands us Flask's ``request`` proxy, which looks up the request on every
        # attribute read; the request itself is read directly from here on.
        unwrap = getattr(request, "_get_current_object", None)
        if unwrap is not None:
            request = unwrap()
        rid = request.headers.get("X-Request-Id")
        if rid is None or _REQUEST_ID.fullmatch(rid) is None:
            rid = f"{random.getrandbits(128):032x}"  # unique, not secret: no syscall per request
        try:
            cors = settings().cors
        except Misconfigured as exc:  # fail closed: no handler, no CORS (the log says why)
            refused = to_problem(exc)
            refused.headers["X-Request-Id"] = rid
            return refused
        if is_preflight(request):
            return cors.preflight(request)
        token = request_id.set(rid)
        started = time.perf_counter()
        try:
            response = self._dispatch(request, rid)
        except Exception as exc:
            response = to_problem(exc)
        finally:
            request_id.reset(token)
        response.headers["X-Request-Id"] = rid
        cors.decorate(request, response)
        ms = (time.perf_counter() - started) * 1000
        status = response.status_code
        level = logging.DEBUG if status < 400 and ms < SLOW_REQUEST_MS else logging.INFO
        if log.isEnabledFor(level):
            fields = {
                "request_id": rid,
                "method": request.method,
                "path": request.path,
                "status": status,
                "ms": round(ms, 2),
            }
            log.log(level, "request", extra={"fields": fields})
        return response

    def _dispatch(self, request: Request, rid: str) -> Response:
        path = self._local_path(request.path)
        for route in self._routes:
            match = route.regex.match(path)
            if not match:
                continue
            method = request.method.upper()
            handler = route.methods.get("GET" if method == "HEAD" else method)
            if handler is None:
                allow = ", ".join(
                    sorted({*route.methods, "HEAD"} if "GET" in route.methods else route.methods)
                )
                raise MethodNotAllowed(
                    f"{method} is not served on this path", headers={"Allow": allow}
                )
            params = dict(zip(route.params, match.groups(), strict=True))
            for name, value in params.items():
                if not is_valid_id(value):
                    raise NotFound(f"no such {name.removesuffix('_id')}: malformed id")
            ctx = RequestContext(request, rid=rid)
            limit = route.operations["GET" if method == "HEAD" else method].limit
            if limit is not None:
                ctx.rate_limit(limit)
            reply = handler(ctx, **params)
            return _serialise(reply, head=method == "HEAD")
        raise NotFound(f"no route {path} in {self.function_name}")

    def _local_path(self, path: str) -> str:
        # The emulator and Cloud Functions hand us only the sub-path ("/abc"); a Hosting rewrite
        # hands us "/categories/abc". Both reach the same route.
        path = "/" + path.strip("/")
        prefix = "/" + self.function_name
        if path == prefix or path.startswith(prefix + "/"):
            path = path[len(prefix) :] or "/"
        return path


#: Statuses that never carry content (RFC 9110 §15.3.5, §15.4.5).
_NO_BODY_STATUSES = frozenset({204, 304})


def _serialise(reply: Reply, *, head: bool) -> Response:
    body = reply.body
    if isinstance(body, BaseModel):
        body = body.model_dump(mode="json")
    if body is None or reply.status in _NO_BODY_STATUSES:
        response = Response(status=reply.status, headers=reply.headers)
        # werkzeug gives every response ``text/html`` by default; a reply without a body has
        # no media type at all (RFC 9110 §8.3: Content-Type describes content).
        response.headers.pop("Content-Type", None)
    else:
        payload = json_bytes(body)
        response = Response(
            "" if head else payload,
            status=reply.status,
            headers=reply.headers,
            content_type="application/json",  # as is: ``mimetype`` would be parsed for a charset
        )
    return response


def json_bytes(body: Any) -> bytes:
    """A reply body as the JSON bytes sent (a ``bytes`` body is sent as it is)."""
    if isinstance(body, bytes):
        return body
    if isinstance(body, BaseModel):
        body = body.model_dump(mode="json")
    return json.dumps(
        body, separators=(",", ":"), default=_json_default, ensure_ascii=False
    ).encode()


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return rfc3339(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def rfc3339(moment: datetime) -> str:
    """A UTC instant as RFC 3339 with a ``Z``."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
