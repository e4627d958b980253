"""The one router: matches a resource's sub-paths and methods, runs the handler, maps errors."""

from __future__ import annotations

import inspect
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
from pydantic import BaseModel

from celeste.kernel.errors import Forbidden, NotFound, Unauthenticated
from celeste.kernel.ids import is_valid_id
from celeste_functions.config import Misconfigured, settings
from celeste_functions.http.auth import Caller, authenticate
from celeste_functions.http.cors import is_preflight
from celeste_functions.http.problems import (
    MethodNotAllowed,
    to_problem,
)
from celeste_functions.http.reading import if_match, read_body, read_query
from celeste_functions.logs import get_logger, request_id

if TYPE_CHECKING:
    from celeste.services.ratelimits import Counted

log = get_logger("http")
M = TypeVar("M", bound=BaseModel)

_PARAM = re.compile(r"{(\w+)}")
#: Methods that only read: their caller's account state may come from the last few seconds.
_READS = frozenset({"GET", "HEAD", "OPTIONS"})
#: A request id a client may choose (anything else is replaced by one of ours).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
#: Successful requests answered faster than this are logged at DEBUG (the platform's own request
#: log already has every request's status and latency); errors and slow ones at INFO.
SLOW_REQUEST_MS = 250.0


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
    """The request as a handler sees it when it needs more than its declared values: the raw
    request, the caller on a public route, the client's address, the rate limits it counts."""

    def __init__(self, request: Request, *, rid: str, limits: frozenset[str] = frozenset()) -> None:
        self.request = request
        self.request_id = rid
        self._caller: Caller | bool | None = False
        self._strict = False
        #: The policies this request may count (the route's ``limit`` and ``handler_limits``).
        self._limits = limits

    @property
    def caller(self) -> Caller | None:
        """The signed-in caller, ``None`` when anonymous; a bad token is a 401 even where
        anonymous calls are allowed (a client that sends a token expects it to count)."""
        if self._caller is False:
            self._strict = self.request.method.upper() not in _READS
            header = self.request.headers.get("Authorization")
            self._caller = authenticate(header, strict=self._strict)
        return self._caller  # type: ignore[return-value]

    @property
    def is_admin(self) -> bool:
        """Whether the caller is a signed-in admin (anonymous and customers are not)."""
        caller = self.caller
        return caller is not None and caller.is_admin

    def _signed_in(self, auth: Auth) -> Caller:
        """The caller a route declared with ``auth`` ("user" or "admin") requires, else 401
        (anonymous) or 403 (a customer on an admin route). The account is checked with
        Firebase Auth now (a public read may rely on its answer of the last few seconds, a
        signed-in route may not)."""
        caller = self.caller
        if caller is None:
            raise Unauthenticated("sign in: send Authorization: Bearer <Firebase ID token>")
        if not self._strict:
            self._strict = True
            caller = authenticate(self.request.headers.get("Authorization"), strict=True)
            self._caller = caller
            assert caller is not None
        if auth == "admin" and not caller.is_admin:
            raise Forbidden("this route is for admins")
        return caller

    @property
    def client_ip(self) -> str | None:
        """The caller's address: ``CELESTE_TRUSTED_PROXY_HOPS`` entries from the right of
        ``X-Forwarded-For`` (each trusted proxy in front appends the address it saw; entries
        further left are the client's own claims), else the connection's peer."""
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
        routes declare theirs (``limit=``, counted before the handler runs), a handler whose
        cost depends on the request (an uncached catalogue scan) counts a policy its route
        declares in ``handler_limits`` when that cost is incurred. An undeclared policy is a
        programming error (500): the OpenAPI document would not list its 429."""
        from celeste_functions.composition import services

        if policy not in self._limits:
            raise UndeclaredLimit(f"rate limit {policy!r} is not declared on this route")
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


class UndeclaredLimit(RuntimeError):
    """A handler counted a rate limit policy its route does not declare."""


Handler = Callable[..., Reply]
#: Who may call a route: anyone, any signed-in user, or admins only.
Auth = Literal["public", "user", "admin"]
#: Turns a path parameter into the value the handler receives, or raises (e.g. a 400).
PathConverter = Callable[[str], str]


@dataclass(frozen=True)
class Operation:
    """One method of one route as declared: the router enforces it before the handler runs,
    and the OpenAPI document (errors included) is made from it."""

    method: str
    handler: Handler
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    auth: Auth = "public"
    #: The rate limit policy counted before the handler runs (``RequestContext.rate_limit``).
    limit: str | None = None
    #: Policies the handler counts itself when its cost is incurred (``ctx.rate_limit``,
    #: ``ctx.attempt_rate_limit``); any other policy is refused.
    handler_limits: tuple[str, ...] = ()
    #: Whether the route honours ``If-Match`` (the handler receives ``if_match``).
    if_match: bool = False
    #: Path parameters turned into the handler's values before the query and body are read.
    converters: tuple[tuple[str, PathConverter], ...] = ()
    #: The names the handler takes: path parameters, ``ctx``, ``caller``, ``body``, ``query``,
    #: ``if_match`` (``Router.route``).
    takes: frozenset[str] = frozenset()

    @property
    def limits(self) -> frozenset[str]:
        """Every policy a request of this operation may count."""
        declared = self.handler_limits if self.limit is None else (self.limit, *self.handler_limits)
        return frozenset(declared)


@dataclass
class _Route:
    pattern: str
    regex: re.Pattern[str]
    params: list[str]
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
        handler_limits: tuple[str, ...] = (),
        if_match: bool = False,
        converters: dict[str, PathConverter] | None = None,
    ) -> Callable[[Handler], Handler]:
        """Register a handler for ``method`` on ``pattern`` (e.g. ``/{id}``): the one
        declaration of the route, which the router enforces and the OpenAPI document describes.

        Before the handler runs the router counts ``limit`` (a rate limit policy), refuses a
        caller ``auth`` does not admit (401, or 403 for a customer on an admin route), turns
        path parameters through ``converters``, and validates the query string against
        ``query`` and the JSON body against ``body`` (400/413/415). The handler receives, by
        parameter name, the path parameters and whichever of these it takes: ``ctx``,
        ``caller`` (routes for signed-in callers), ``body``, ``query`` and ``if_match``
        (routes declared ``if_match=True``). ``response`` and ``status`` (on success) describe
        the reply; ``handler_limits`` names the policies the handler counts itself.

        A handler whose parameters disagree with the declaration is refused here (``TypeError``
        at import): one that takes a value the route does not declare, or leaves out a path
        parameter, a declared body or a declared ``If-Match``.
        """

        def register(handler: Handler) -> Handler:
            verb = method.upper()
            params = _PARAM.findall(pattern)
            takes = _parameters(handler)
            given = {"ctx", *params}
            if auth != "public":
                given.add("caller")
            for name, declared in (("body", body), ("query", query), ("if_match", if_match)):
                if declared:
                    given.add(name)
            where = f"{verb} {pattern} ({handler.__qualname__})"
            extra = takes - given
            if extra:
                raise TypeError(f"{where}: takes {sorted(extra)}, which the route does not give")
            needed = {*params, *(n for n, d in (("body", body), ("if_match", if_match)) if d)}
            if needed - takes:
                raise TypeError(f"{where}: declares {sorted(needed - takes)} but does not take it")
            unknown = set(converters or ()) - set(params)
            if unknown:
                raise TypeError(f"{where}: converters for {sorted(unknown)}, not path parameters")
            route = next((r for r in self._routes if r.pattern == pattern), None)
            if route is None:
                regex = re.compile("^" + _PARAM.sub(r"([^/]+)", pattern.rstrip("/")) + "/?$")
                route = _Route(pattern, regex, params)
                self._routes.append(route)
            route.operations[verb] = Operation(
                method=verb,
                handler=handler,
                body=body,
                query=query,
                response=response,
                status=status,
                auth=auth,
                limit=limit,
                handler_limits=tuple(handler_limits),
                if_match=if_match,
                converters=tuple((converters or {}).items()),
                takes=frozenset(takes),
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
            op = route.operations.get("GET" if method == "HEAD" else method)
            if op is None:
                methods = route.operations
                allow = ", ".join(sorted({*methods, "HEAD"} if "GET" in methods else methods))
                raise MethodNotAllowed(
                    f"{method} is not served on this path", headers={"Allow": allow}
                )
            params = dict(zip(route.params, match.groups(), strict=True))
            converted = {name for name, _ in op.converters}
            for name, value in params.items():
                # A parameter with a converter is checked by it (a push token is no id).
                if name not in converted and not is_valid_id(value):
                    raise NotFound(f"no such {name.removesuffix('_id')}: malformed id")
            ctx = RequestContext(request, rid=rid, limits=op.limits)
            reply = op.handler(**_arguments(op, ctx, params))
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


def _parameters(handler: Handler) -> set[str]:
    """The names a handler takes (read once, at registration)."""
    code = getattr(handler, "__code__", None)
    if (
        code is None
        or code.co_posonlyargcount
        or code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS)
    ):
        raise TypeError(f"{handler!r}: a handler takes named parameters only")
    return set(code.co_varnames[: code.co_argcount + code.co_kwonlyargcount])


def _arguments(op: Operation, ctx: RequestContext, params: dict[str, str]) -> dict[str, Any]:
    """Enforce what ``op`` declares, in the order a request meets it, and return the handler's
    arguments: the declared limit, the caller, the path parameters, the query, the body."""
    if op.limit is not None:
        ctx.rate_limit(op.limit)
    takes = op.takes
    kwargs: dict[str, Any] = {}
    if op.auth != "public":
        caller = ctx._signed_in(op.auth)
        if "caller" in takes:
            kwargs["caller"] = caller
    for name, convert in op.converters:
        params[name] = convert(params[name])
    kwargs.update(params)
    if op.query is not None:
        query = read_query(ctx.request, op.query)
        if "query" in takes:
            kwargs["query"] = query
    if op.body is not None:
        kwargs["body"] = read_body(ctx.request, op.body)
    if op.if_match:
        kwargs["if_match"] = if_match(ctx.request)
    if "ctx" in takes:
        kwargs["ctx"] = ctx
    return kwargs


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
