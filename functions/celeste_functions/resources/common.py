"""Request shapes and replies every resource shares: list parameters, pages, ETags."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from celeste.accounts.profiles import Profile
from celeste.kernel.paging import Page
from celeste.kernel.versions import Versioned
from celeste_functions.adapters.cache import Bounded, Codec
from celeste_functions.composition import services
from celeste_functions.http.router import Reply, json_bytes

Cursor = Annotated[str, StringConstraints(min_length=1, max_length=1000)]


DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class ListParams(BaseModel):
    """``?limit=`` (1..100, default 20) and ``?cursor=``."""

    model_config = ConfigDict(extra="forbid")

    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT
    cursor: Cursor | None = None


#: Pages a client can vary at will (any cursor: it is opaque but not signed, so any position
#: can be named; any page size but the default and the largest): at most 100 such entries per
#: version of a scope, for a minute each (about 10 MB at 100 items a page); the rest are
#: computed. A first page at the default or the largest size is cached without a cap: there is
#: one per filter the shop's own data allows.
PAGES = Bounded(family="pages", cap=100, ttl_s=60)


def page_family(params: ListParams) -> Bounded | None:
    """The capped family of a list request's cache entry (``PAGES``), or ``None`` for a first
    page at the default or largest size."""
    if params.cursor is None and params.limit in (DEFAULT_LIMIT, MAX_LIMIT):
        return None
    return PAGES


def page_body(page: Page[Any]) -> dict[str, Any]:
    """The list envelope of the API: ``{"items": [...], "next_cursor": ...}``."""
    return {
        "items": [item.model_dump(mode="json") for item in page.items],
        "next_cursor": page.next_cursor,
    }


def etag(version: str) -> str:
    """The ``ETag`` header value of a version."""
    return f'"{version}"'


def resource_reply(
    found: Versioned[Any], *, status: int = 200, location: str | None = None
) -> Reply:
    """A single resource with its ``ETag`` (and ``Location`` when just created)."""
    headers = {"ETag": etag(found.version)}
    if location:
        headers["Location"] = location
    return Reply(found.value.model_dump(mode="json"), status=status, headers=headers)


def profile_reply(found: Versioned[Profile], *, status: int = 200) -> Reply:
    """A profile as the API shows it (``GET /me``, ``/users``), with its ``ETag``."""
    view = services.get().accounts.view(found.value)
    return Reply(view.model_dump(mode="json"), status=status, headers={"ETag": etag(found.version)})


def _encode_reply(reply: Reply) -> bytes:
    head = f"{reply.status} {reply.headers.get('ETag') or '-'}\n"  # an ETag has no whitespace
    return head.encode() + json_bytes(reply.body)


def _decode_reply(entry: bytes) -> Reply:
    head, _, body = entry.partition(b"\n")
    status, _, tag = head.decode().partition(" ")
    return Reply(body, status=int(status), headers={} if tag == "-" else {"ETag": tag})


#: A cached reply: ``<status> <ETag or ->`` on one line, then the response body's bytes as sent
#: (a hit parses no JSON). Its name is part of every key, so a deploy that changes the format
#: never reads the entries of the one before.
_REPLY: Codec[Reply] = Codec(encode=_encode_reply, decode=_decode_reply)
_REPLY_FORMAT = "reply.2"


def cached_reply(
    *,
    scope: str,
    key: str,
    compute: Callable[[], Reply],
    enabled: bool = True,
    bounded: Bounded | None = None,
) -> Reply:
    """Serve a GET through the cache: status, ETag and the serialised body are cached (a hit is
    sent without parsing JSON); ``X-Cache`` says which.

    Errors are not cached (they propagate from ``compute``). A reply's ``fresh_for_s`` bounds
    its entry's TTL. With ``enabled=False`` (live data such as stock) it always computes;
    ``bounded`` caps a family of keys a client can vary at will (filtered lists).
    """
    if not enabled:
        reply = compute()
        reply.headers["X-Cache"] = "miss"
        return reply

    def serialised() -> Reply:
        reply = compute()
        reply.body = json_bytes(reply.body)  # once: the entry and the response share the bytes
        return reply

    lookup = services.get().cache.get_or_compute(
        scope=scope,
        key=f"{_REPLY_FORMAT}:{key}",
        compute=serialised,
        ttl_s=lambda r: r.fresh_for_s,
        codec=_REPLY,
        bounded=bounded,
    )
    reply = lookup.value
    reply.headers["X-Cache"] = "hit" if lookup.hit else "miss"
    return reply
