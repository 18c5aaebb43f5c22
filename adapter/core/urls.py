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
