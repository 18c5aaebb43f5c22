"""May this customer use this channel? Asked before logging an existing customer in.

BigCommerce restricts a customer to their `channel_ids`; a customer without any (a global
customer) may use a channel only where its `allow_global_logins` setting says so. Positive
answers are remembered per process for a while, so a returning login rarely asks.
"""

from __future__ import annotations

from adapter.core.records import ChannelRecord, ConnectionRecord, StoreRecord
from adapter.errors import NotAdmitted
from adapter.services.runtime import Runtime

ACCESS_TTL_SECONDS = 600
SETTING_TTL_SECONDS = 300


class ChannelAccess:
    def __init__(self, runtime: Runtime):
        self._rt = runtime
        self._allowed: dict[tuple[int, int, int], float] = {}
        self._global_logins: dict[tuple[int, int], tuple[float, bool]] = {}

    def _remember(self, store: StoreRecord, customer_id: int, channel_id: int) -> None:
        self._allowed[(store.id, customer_id, channel_id)] = (
            self._rt.clock.now() + ACCESS_TTL_SECONDS
        )

    async def _global_logins_allowed(self, store: StoreRecord, channel_id: int) -> bool:
        now = self._rt.clock.now()
        cached = self._global_logins.get((store.id, channel_id))
        if cached and cached[0] > now:
            return cached[1]
        allowed = await self._rt.customers_api(store).channel_allows_global_logins(channel_id)
        self._global_logins[(store.id, channel_id)] = (now + SETTING_TTL_SECONDS, allowed)
        return allowed

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
        if just_created or self._allowed.get(key, 0.0) > self._rt.clock.now():
            # A customer the adapter just created belongs to the requested channel.
            self._remember(store, customer_id, channel.channel_id)
            return
        customers = self._rt.customers_api(store)
        customer = await customers.get(customer_id)
        if customer is None:
            raise NotAdmitted("the linked customer no longer exists", code="customer_missing")
        if customer.channel_ids:
            if channel.channel_id in customer.channel_ids:
                self._remember(store, customer.id, channel.channel_id)
                return
            if connection.settings.add_channel_to_customer:
                await customers.add_channels(customer, [channel.channel_id])
                self._remember(store, customer.id, channel.channel_id)
                return
        elif await self._global_logins_allowed(store, channel.channel_id):
            self._remember(store, customer.id, channel.channel_id)
            return
        # A global customer on a channel closed to global logins is refused even when the
        # connection may add channels: giving them channel_ids would take away every other
        # channel they can use today.
        raise NotAdmitted(
            f"customer {customer.id} may not use channel {channel.channel_id}",
            code="channel_denied",
            public_message=(
                "Your account cannot sign in to this storefront. Please contact the store."
            ),
        )
