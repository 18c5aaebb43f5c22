"""May this customer use this channel? Asked before logging an existing customer in.

BigCommerce restricts a customer to their `channel_ids`; a customer without any (a global
customer) may use a channel only where its `allow_global_logins` setting says so. The rule
itself is core.first_login.channel_access; this module fetches its facts and carries it out.
Positive answers are remembered per process for a while, so a returning login rarely asks.
"""

from __future__ import annotations

from adapter.core.cache import Cache
from adapter.core.first_login import channel_access, channel_refusal, is_global
from adapter.core.records import ChannelRecord, ConnectionRecord, StoreRecord
from adapter.errors import NotAdmitted
from adapter.services.resolution import refusal_error
from adapter.services.runtime import Runtime

ACCESS_TTL_SECONDS = 600
SETTING_TTL_SECONDS = 300
# One entry per customer and channel that signed in within the TTL: only a saving for
# returning logins, so the bound is set by memory (about 200 bytes an entry), not by need.
ACCESS_MAXSIZE = 20_000
# One entry per store and channel.
SETTING_MAXSIZE = 2_000


class ChannelAccess:
    def __init__(self, runtime: Runtime):
        self._rt = runtime
        self._allowed: Cache[tuple[int, int, int], bool] = Cache(
            runtime.clock, maxsize=ACCESS_MAXSIZE, ttl=ACCESS_TTL_SECONDS
        )
        self._global_logins: Cache[tuple[int, int], bool] = Cache(
            runtime.clock, maxsize=SETTING_MAXSIZE, ttl=SETTING_TTL_SECONDS
        )

    def _remember(self, store: StoreRecord, customer_id: int, channel_id: int) -> None:
        self._allowed.put((store.id, customer_id, channel_id), True)

    async def _global_logins_allowed(self, store: StoreRecord, channel_id: int) -> bool:
        async def load() -> bool:
            return await self._rt.customers_api(store).channel_allows_global_logins(channel_id)

        return await self._global_logins.get_or_load((store.id, channel_id), load)

    async def ensure(
        self,
        store: StoreRecord,
        connection: ConnectionRecord,
        channel: ChannelRecord,
        customer_id: int,
        *,
        just_created: bool = False,
    ) -> None:
        key = (store.id, customer_id, channel.channel_id)
        if just_created or self._allowed.get(key, False):
            # A customer the adapter just created belongs to the requested channel.
            self._remember(store, customer_id, channel.channel_id)
            return
        customers = self._rt.customers_api(store)
        customer = await customers.get(customer_id)
        if customer is None:
            raise NotAdmitted("the linked customer no longer exists", code="customer_missing")
        verdict = channel_access(
            customer.channel_ids,
            channel.channel_id,
            add_channel_to_customer=connection.settings.add_channel_to_customer,
            global_logins_allowed=(
                await self._global_logins_allowed(store, channel.channel_id)
                if is_global(customer.channel_ids)
                else None
            ),
        )
        if verdict == "denied":
            raise refusal_error(channel_refusal(customer.id, channel.channel_id))
        if verdict == "add_channel":
            await customers.add_channels(customer, [channel.channel_id])
        self._remember(store, customer.id, channel.channel_id)
