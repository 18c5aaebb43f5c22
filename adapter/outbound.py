"""Calls to hosts that an administrator named: the address rule and the size cap.

Issuers, IdP metadata URLs, BigCommerce API bases and GraphQL URLs come from configuration,
and whoever may change the configuration must not be able to make the adapter reach into the
network it runs in (server-side request forgery) or hold a response of unbounded size.

Address rule: with `SSO_ADAPTER_ALLOW_INSECURE_LOOPBACK` false (production), a host is refused
when *any* of the addresses it resolves to is not a public unicast address (see
`adapter.core.urls.internal_address_reason`). The rule is applied twice: when a URL is saved
(`check_public_host`, so the operator hears of it at once) and when a connection is opened
(`AddressGuardBackend`), against the very address the socket then connects to, so a name that
resolved to a public address at save time and to 10.0.0.1 later (DNS rebinding) is still
refused. With loopback allowed (tests, the demo) nothing is resolved: everything is local.

Size cap: `read_capped` streams the body and stops reading at the cap, whatever the
Content-Length says or whether there is one; a document larger than the cap is refused.

    UpstreamFailed (502, adapter.errors)
    └── FetchFailed      a fetch of an IdP document failed; `reason` is safe to show operators
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from adapter.core.urls import internal_address_reason
from adapter.errors import UpstreamFailed


class FetchFailed(UpstreamFailed):
    """`detail` is for the log; `reason` says what an operator can fix, and no more: no
    exception names, no remote values (they would make the admin API a probe of other
    hosts)."""

    def __init__(self, detail: str, *, reason: str, code: str):
        super().__init__(detail, code=code)
        self.reason = reason


# -- the address rule -------------------------------------------------------------------------

SAVE_TIME_RESOLVE_SECONDS = 5.0


async def resolve_host(host: str, port: int) -> list[str]:
    """Every address `host` resolves to: the DNS boundary, and the one place tests replace."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class InternalAddress(Exception):
    """The host resolves to an address the adapter must not call."""


async def public_addresses(host: str, port: int) -> list[str]:
    """The addresses of `host`, all public, or InternalAddress / OSError."""
    try:
        addresses = [str(ipaddress.ip_address(host.strip("[]")))]  # a literal: nothing to ask
    except ValueError:
        addresses = await resolve_host(host, port)
    if not addresses:
        raise OSError(f"{host} has no address")
    for address in addresses:
        reason = internal_address_reason(address)
        if reason:
            raise InternalAddress(f"{host} resolves to {reason}")
    return addresses


async def check_public_host(url: str) -> str | None:
    """None when the host of `url` resolves only to public addresses, else the reason."""
    parts = httpx.URL(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        async with asyncio.timeout(SAVE_TIME_RESOLVE_SECONDS):
            await public_addresses(parts.host, port)
    except InternalAddress:
        return "resolves to an internal address (loopback, private, link-local or reserved)"
    except (OSError, UnicodeError, TimeoutError):
        return "has a host name that does not resolve"
    return None


class AddressGuardBackend(httpcore.AsyncNetworkBackend):
    """Resolves each host itself, refuses internal addresses, and connects to an address it
    checked: the TLS handshake still names (and verifies) the host, as httpcore passes the
    host name to `start_tls` separately."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None):
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            # The resolution is part of connecting, and bounded by the same timeout.
            async with asyncio.timeout(timeout):
                addresses = await public_addresses(host, port)
        except InternalAddress as exc:
            raise httpcore.ConnectError(str(exc)) from None
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"{host} did not resolve in time") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"{host} does not resolve") from exc
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not outbound destinations")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, with its connections opened by AddressGuardBackend. No proxy:
    a proxy would connect on our behalf, and the address it reached would go unchecked."""

    def __init__(
        self,
        *,
        verify: ssl.SSLContext,
        limits: httpx.Limits,
        backend: httpcore.AsyncNetworkBackend | None = None,
    ):
        super().__init__(verify=verify, limits=limits, trust_env=False)
        # httpx takes no network backend: the same pool again, built with ours.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=verify,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=AddressGuardBackend(backend),
        )


# -- the size cap -----------------------------------------------------------------------------

# The longest any one capped fetch may take, all reads together.
FETCH_DEADLINE_SECONDS = 30.0


@dataclass(frozen=True)
class Capped:
    status_code: int
    content: bytes


def plain_cause(exc: Exception) -> str:
    """Why a request failed, in words an operator can act on: a class of cause, never the
    exception's own text (which can quote what an internal host answered)."""
    text = str(exc).lower()
    if "internal" in text or "not outbound" in text or "resolves to" in text:
        return "the address is internal, and outbound calls may not go there"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    if "resolve" in text or "name or service" in text or "no address" in text:
        return "the host name does not resolve"
    if "refused" in text or "all connection attempts failed" in text:
        return "the connection was refused"
    if "ssl" in text or "certificate" in text or "tls" in text:
        return "the TLS handshake failed (certificate?)"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the server broke off or did not speak HTTP"
    return "the connection failed"


async def read_capped(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    what: str,
    max_bytes: int,
    unreachable_code: str = "idp_unreachable",
    too_large_code: str = "idp_bad_response",
    deadline_seconds: float = FETCH_DEADLINE_SECONDS,
    **request: Any,
) -> Capped:
    """One request whose answer is read up to `max_bytes` and refused beyond.

    Every outbound fetch of an IdP document goes through here, and the storefront GraphQL
    call; the caller judges the status.
    """
    too_large = FetchFailed(
        f"{what}: larger than {max_bytes} bytes",
        reason=f"{what} is larger than {max_bytes // 1024} KiB",
        code=too_large_code,
    )
    try:
        # The client's timeouts bound each read; this bounds them all, so a server that
        # trickles a byte at a time cannot hold the request (and a worker) for hours.
        async with (
            asyncio.timeout(deadline_seconds),
            http.stream(method, url, **request) as response,
        ):
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise too_large  # refused unread
            body = bytearray()
            # Decoded bytes are counted, so a compressed body is capped at its real size.
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise too_large  # leaving the block closes the connection mid-body
            return Capped(response.status_code, bytes(body))
    except TimeoutError:
        raise FetchFailed(
            f"{what} at {url}: not complete after {deadline_seconds:g}s",
            reason=f"{what} did not arrive from {url} within {deadline_seconds:g}s",
            code=unreachable_code,
        ) from None
    except httpx.HTTPError as exc:
        raise FetchFailed(
            f"{what} at {url}: {type(exc).__name__}: {exc}",
            reason=f"{what} could not be reached at {url}: {plain_cause(exc)}",
            code=unreachable_code,
        ) from None


async def fetch_document(
    http: httpx.AsyncClient, url: str, *, what: str, max_bytes: int, accept: str | None = None
) -> bytes:
    """GET a document that must answer 200, capped at `max_bytes`."""
    headers = {"Accept": accept} if accept else {}
    answer = await read_capped(http, "GET", url, what=what, max_bytes=max_bytes, headers=headers)
    if answer.status_code != 200:
        raise FetchFailed(
            f"{what}: HTTP {answer.status_code}",
            reason=f"{what} answered HTTP {answer.status_code}",
            code="idp_unreachable",
        )
    return answer.content
