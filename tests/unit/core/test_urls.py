"""Which resolved addresses the adapter refuses to call in production (SSRF)."""

from __future__ import annotations

import pytest

from adapter.core.urls import internal_address_reason


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",  # loopback
        "127.8.9.10",
        "::1",
        "10.0.0.1",  # private
        "172.16.5.4",
        "192.168.1.1",
        "fc00::1",  # unique local
        "169.254.169.254",  # link-local: the cloud metadata service
        "fe80::1",
        "100.64.0.1",  # shared address space (carrier-grade NAT)
        "0.0.0.0",  # noqa: S104 - unspecified, as a destination
        "::",
        "224.0.0.251",  # multicast
        "ff02::1",
        "240.0.0.1",  # reserved
        "255.255.255.255",
        "192.0.2.10",  # documentation
        "::ffff:10.0.0.1",  # IPv4-mapped
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
    ],
)
def test_internal_addresses_are_refused_with_their_kind(address: str) -> None:
    assert internal_address_reason(address) is not None


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]
)
def test_public_unicast_addresses_are_accepted(address: str) -> None:
    assert internal_address_reason(address) is None
