"""Which URLs and addresses a webhook may be sent to (server-side request forgery rules).

Pure functions over parsed URLs and ``ipaddress`` objects: the sender resolves the host and
checks every address it resolved to with :func:`address_refusal`, then connects to the address
checked. Outside ``demo-`` projects a URL must be ``https`` and every address public; a
``demo-`` project also accepts ``http``/``https`` to loopback (``127.0.0.1``, ``[::1]``,
``localhost``) for local receivers.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Carrier-grade NAT (RFC 6598): neither private nor global in ``ipaddress``'s terms.
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
LOCAL_NAMES = frozenset({"localhost", "localhost."})
MAX_URL = 2048


@dataclass(frozen=True)
class Target:
    """A URL's parts a sender needs: scheme, host (no brackets), port and the request path."""

    scheme: str
    host: str
    port: int
    path: str


def address_refusal(address: IPAddress, *, allow_loopback: bool) -> str | None:
    """Why ``address`` may not receive a webhook, or ``None`` when it may."""
    if isinstance(address, ipaddress.IPv6Address) and (
        address.ipv4_mapped is not None or address.sixtofour is not None or address.teredo
    ):
        return f"{address} embeds an IPv4 address: give the IPv4 address itself"
    if address.is_loopback:
        return None if allow_loopback else f"{address} is a loopback address"
    if address.is_unspecified:
        return f"{address} is the unspecified address"
    if address.is_link_local:
        return f"{address} is link-local (this includes the metadata server)"
    if address.is_multicast:
        return f"{address} is a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return f"{address} is a carrier-grade NAT address"
    if address.is_private:
        return f"{address} is a private address"
    if address.is_reserved:
        return f"{address} is a reserved address"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


def parse_target(url: str) -> Target:
    """The parts of an absolute ``http(s)`` URL; ``ValueError`` says what is wrong."""
    if len(url) > MAX_URL:
        raise ValueError(f"a URL has at most {MAX_URL} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("the URL must be https")
    if parts.username is not None or parts.password is not None:
        raise ValueError("the URL must not carry credentials")
    if parts.fragment:
        raise ValueError("the URL must not have a fragment")
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError("the URL has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValueError("the URL's port is not a number from 1 to 65535") from None
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(scheme=parts.scheme, host=host, port=port, path=path)


def literal_address(host: str) -> IPAddress | None:
    """The address a host names literally (``10.0.0.1``, ``::1``), else ``None``."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def url_refusal(url: str, *, allow_loopback: bool) -> str | None:
    """Why ``url`` may not be an endpoint before resolving its host, or ``None``: its form, the
    scheme (``https`` unless loopback is allowed and the host is loopback), and a literal
    address or ``localhost`` judged by :func:`address_refusal`."""
    try:
        target = parse_target(url)
    except ValueError as exc:
        return str(exc)
    address = literal_address(target.host)
    loopback_name = target.host in LOCAL_NAMES
    if address is not None:
        refused = address_refusal(address, allow_loopback=allow_loopback)
        if refused is not None:
            return refused
    elif loopback_name and not allow_loopback:
        return f"{target.host} is a loopback address"
    local = loopback_name or (address is not None and address.is_loopback)
    if target.scheme != "https" and not (allow_loopback and local):
        return "the URL must be https"
    return None


def resolved_refusal(addresses: list[IPAddress], *, allow_loopback: bool) -> str | None:
    """Why a host that resolved to ``addresses`` may not receive a webhook (any one refused
    refuses the host: a resolver may answer with any of them), or ``None``."""
    if not addresses:
        return "the host does not resolve"
    for address in addresses:
        refused = address_refusal(address, allow_loopback=allow_loopback)
        if refused is not None:
            return f"the host resolves to {address}: {refused}"
    return None
