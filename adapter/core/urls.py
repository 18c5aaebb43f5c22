"""Which outbound URLs the adapter may call or redirect to.

https everywhere; plain http only to a loopback host, and only when the operator allows it
(tests and the demo), so a misconfiguration cannot send secrets across a network in clear.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# IPv6 ranges that carry an IPv4 address, which is the one that is really reached.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def internal_address_reason(address: str) -> str | None:
    """None for a public unicast address; otherwise what kind of address it is.

    `is_global` is the base (it excludes private, loopback, link-local, shared 100.64/10,
    unspecified, documentation and reserved ranges); multicast is refused too, and an IPv6
    address that embeds an IPv4 one is judged by the IPv4 address it reaches.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and (embedded := _embedded_ipv4(ip)) is not None:
        reason = internal_address_reason(str(embedded))
        return None if reason is None else f"{reason} (in {ip})"
    for kind, flag in (
        ("a loopback address", ip.is_loopback),
        ("an unspecified address", ip.is_unspecified),
        ("a link-local address", ip.is_link_local),
        ("a multicast address", ip.is_multicast),
        ("a private address", ip.is_private),
        ("a reserved address", ip.is_reserved),
    ):
        if flag:
            return f"{kind}: {ip}"
    if not ip.is_global:
        return f"a non-public address: {ip}"
    return None


def check_outbound_url(url: str, *, allow_insecure_loopback: bool) -> str | None:
    """Return None when `url` is acceptable, otherwise the reason it is not."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return "is not a valid URL"
    if not parts.hostname:
        return "has no host"
    if parts.username or parts.password:
        return "must not carry credentials"
    if parts.fragment:
        return "must not carry a fragment"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http":
        if allow_insecure_loopback and is_loopback_host(parts.hostname):
            return None
        if is_loopback_host(parts.hostname):
            return (
                "uses http:// (allowed for loopback only with SSO_ADAPTER_ALLOW_INSECURE_LOOPBACK)"
            )
        return "must use https://"
    return "must use https://"
