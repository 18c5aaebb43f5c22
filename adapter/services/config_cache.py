"""Stores and connections as logins use them, kept for a few seconds per process.

Loading a connection for a login costs three queries, opening every sealed secret of the
store and validating the connection's settings: more than the rest of a returning login.
Entries found are kept for `ttl_seconds`; nothing is kept for a name that was not found, so
a new connection works at once on every replica. A change made through this process's admin
API empties the cache at once; a change made on another replica is seen within the TTL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from adapter.clock import Clock
from adapter.core.cache import Cache
from adapter.core.records import ConnectionRecord, StoreRecord

Loaded = tuple[StoreRecord, ConnectionRecord]

# Only connections that exist are kept, and only for seconds: the bound is far above the
# connections a replica serves within one TTL, and only stops a flood of names from growing it.
MAXSIZE = 1_000


class ConnectionCache:
    def __init__(self, clock: Clock, ttl_seconds: float, *, maxsize: int = MAXSIZE):
        self._entries: Cache[tuple[str, str], Loaded | None] = Cache(
            clock, maxsize=maxsize, ttl=ttl_seconds, keep=lambda found: found is not None
        )

    def get(self, store_slug: str, connection_slug: str) -> Loaded | None:
        return self._entries.get((store_slug, connection_slug))

    def put(self, store_slug: str, connection_slug: str, loaded: Loaded) -> None:
        self._entries.put((store_slug, connection_slug), loaded)

    async def load(
        self,
        store_slug: str,
        connection_slug: str,
        read: Callable[[], Awaitable[Loaded | None]],
    ) -> Loaded | None:
        """The store and connection, from the cache or from `read()` (None: no such
        connection, which is not kept). Concurrent logins for one connection share a read."""
        return await self._entries.get_or_load((store_slug, connection_slug), read)

    def clear(self) -> None:
        self._entries.clear()
