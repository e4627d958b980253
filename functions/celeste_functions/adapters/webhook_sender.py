"""``WebhookSender`` over urllib3: resolve the host, check every address it resolved to
(``celeste.webhooks.addresses``), then connect to the address checked, never to a second
resolution of the name. For ``https`` the TLS handshake still names the host (SNI) and the
certificate is verified against it. Redirects are not followed; 10 s in all.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Mapping

from celeste.webhooks.addresses import (
    IPAddress,
    Target,
    literal_address,
    parse_target,
    resolved_refusal,
    url_refusal,
)
from celeste.webhooks.deliveries import SEND_TIMEOUT_S, Outcome

#: The most of a receiver's answer read (it is not used; reading a little lets the connection
#: close cleanly).
_READ = 1024

Resolver = Callable[[str, int], list[IPAddress]]


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (TCP), in the resolver's order."""
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM
    ):
        address = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
        if address not in found:
            found.append(address)
    return found


class HttpWebhookSender:
    """Posts deliveries to receivers the address policy allows."""

    def __init__(
        self,
        *,
        allow_loopback: bool,
        resolver: Resolver = resolve,
        timeout_s: float = SEND_TIMEOUT_S,
        ca_certs: str | None = None,
    ) -> None:
        self._allow_loopback = allow_loopback
        self._resolve = resolver
        self._timeout_s = timeout_s
        #: A CA bundle to trust instead of the system's (tests: their own CA).
        self._ca_certs = ca_certs

    def _checked(self, url: str) -> tuple[Target, IPAddress] | str:
        """The target and the address to connect to, or why not."""
        refused = url_refusal(url, allow_loopback=self._allow_loopback)
        if refused is not None:
            return refused
        target = parse_target(url)
        literal = literal_address(target.host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                addresses = self._resolve(target.host, target.port)
            except (OSError, UnicodeError, ValueError) as exc:
                return f"the host does not resolve ({type(exc).__name__})"
        refused = resolved_refusal(addresses, allow_loopback=self._allow_loopback)
        if refused is not None:
            return refused
        return target, addresses[0]

    def refusal(self, url: str) -> str | None:
        checked = self._checked(url)
        return checked if isinstance(checked, str) else None

    def send(self, url: str, *, headers: Mapping[str, str], body: bytes) -> Outcome:
        import urllib3

        checked = self._checked(url)
        if isinstance(checked, str):
            return Outcome(None, f"refused: {checked}")
        target, address = checked
        timeout = urllib3.Timeout(total=self._timeout_s)
        pool: urllib3.HTTPConnectionPool
        if target.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                str(address),
                target.port,
                server_hostname=target.host,
                assert_hostname=target.host,
                cert_reqs="CERT_REQUIRED",
                ca_certs=self._ca_certs,
                timeout=timeout,
                retries=False,
                maxsize=1,
            )
        else:
            pool = urllib3.HTTPConnectionPool(
                str(address), target.port, timeout=timeout, retries=False, maxsize=1
            )
        host = target.host if ":" not in target.host else f"[{target.host}]"
        default = 443 if target.scheme == "https" else 80
        host_header = host if target.port == default else f"{host}:{target.port}"
        try:
            with pool:
                response = pool.urlopen(
                    "POST",
                    target.path,
                    body=body,
                    headers={**headers, "Host": host_header},
                    redirect=False,
                    preload_content=False,
                    assert_same_host=False,
                )
                try:
                    response.read(_READ)
                finally:
                    response.release_conn()
        except urllib3.exceptions.HTTPError as exc:
            return Outcome(None, f"{type(exc).__name__}: {exc}"[:300])
        status = response.status
        if 200 <= status < 300:
            return Outcome(status)
        if 300 <= status < 400:
            return Outcome(status, f"redirect ({status}) not followed")
        return Outcome(status, f"HTTP {status}")
