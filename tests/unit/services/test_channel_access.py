"""What channel access remembers per process: positive answers per customer and channel, and
each channel's global-logins setting, for their TTLs and within a size bound however many
customers and channels sign in."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from adapter.bigcommerce.customers import Customer
from adapter.clock import FrozenClock
from adapter.core.records import ChannelRecord, ConnectionRecord, StoreRecord
from adapter.errors import NotAdmitted
from adapter.services.channel_access import (
    ACCESS_MAXSIZE,
    ACCESS_TTL_SECONDS,
    SETTING_MAXSIZE,
    SETTING_TTL_SECONDS,
    ChannelAccess,
)

STORE = StoreRecord(
    id=1,
    slug="acme",
    store_hash="abc123",
    client_id="client",
    client_secret="secret",
    api_token="token",
    api_base_url="https://api.example.test",
    default_channel_id=1,
    bind_request_ip=False,
    app_client_id=None,
    app_client_secret=None,
    channels=(),
)
CONNECTION = cast(
    ConnectionRecord, SimpleNamespace(settings=SimpleNamespace(add_channel_to_customer=False))
)


class Customers:
    """Stands in for the BigCommerce customers client. Faked at this seam rather than at the
    transport: what is under test is what ChannelAccess remembers, not the API's wire format.
    Customers below 1000 belong to channel 1; the rest are global customers."""

    def __init__(self, *, global_logins: bool = True):
        self.global_logins = global_logins
        self.reads = 0
        self.setting_reads = 0

    async def get(self, customer_id: int) -> Customer:
        self.reads += 1
        channels = (1,) if customer_id < 1000 else None
        return Customer(customer_id, f"c{customer_id}@example.com", "", "", 0, channels)

    async def channel_allows_global_logins(self, channel_id: int) -> bool:
        self.setting_reads += 1
        return self.global_logins


def access_with(customers: Customers, clock: FrozenClock) -> ChannelAccess:
    runtime = SimpleNamespace(clock=clock, customers_api=lambda store: customers)
    return ChannelAccess(cast(Any, runtime))


async def ensure(
    access: ChannelAccess, customer_id: int, channel_id: int, how: str = "link"
) -> None:
    channel = ChannelRecord(channel_id=channel_id, kind="stencil", storefront_url="https://s")
    await access.ensure(STORE, CONNECTION, channel, customer_id, just_created=how == "created")


async def test_a_customer_is_looked_up_again_only_a_ttl_after_their_last_login() -> None:
    clock, customers = FrozenClock(), Customers()
    access = access_with(customers, clock)
    await ensure(access, 7, 1)
    clock.advance(ACCESS_TTL_SECONDS - 1)
    await ensure(access, 7, 1)
    clock.advance(ACCESS_TTL_SECONDS - 1)
    await ensure(access, 7, 1)
    assert customers.reads == 1
    clock.advance(ACCESS_TTL_SECONDS)
    await ensure(access, 7, 1)
    assert customers.reads == 2


async def test_a_channels_global_logins_setting_is_asked_once_per_ttl_refusals_included() -> None:
    clock, customers = FrozenClock(), Customers(global_logins=False)
    access = access_with(customers, clock)
    for customer_id in (1001, 1002):
        with pytest.raises(NotAdmitted):
            await ensure(access, customer_id, 5)
    assert customers.setting_reads == 1
    clock.advance(SETTING_TTL_SECONDS)
    customers.global_logins = True
    await ensure(access, 1003, 5)
    assert customers.setting_reads == 2


async def test_what_is_remembered_stays_bounded_after_100k_customers_and_channels() -> None:
    clock, customers = FrozenClock(), Customers()
    access = access_with(customers, clock)
    for n in range(100_000):
        # Customers the adapter creates are remembered without a lookup...
        await ensure(access, 10**6 + n, 1, how="created")
        # ...and global customers on as many distinct channels ask each channel's setting.
        await ensure(access, 1000 + n, 2 + n)
    assert customers.setting_reads == 100_000
    assert len(access._allowed) == ACCESS_MAXSIZE
    assert len(access._global_logins) == SETTING_MAXSIZE
