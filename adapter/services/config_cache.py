"""Stores and connections as logins use them, kept for a few seconds per process.

Loading a connection for a login costs three queries, opening every sealed secret of the
store and validating the connection's settings: more than the rest of a returning login.
Entries found are kept for `ttl_seconds`; nothing is kept for a name that was not found, so
a new connection works at once on every replica. A change made through this process's admin
API empties the cache at once; a change made on another replica is seen within the TTL.
"""

from __future__ import annotations

from adapter.clock import Clock
from adapter.core.records import ConnectionRecord, StoreRecord

Loaded = tuple[StoreRecord, ConnectionRecord]


class ConnectionCache:
    def __init__(self, clock: Clock, ttl_seconds: float):
        self._clock = clock
        self._ttl = ttl_seconds
        self._entries: dict[tuple[str, str], tuple[float, Loaded]] = {}

    def get(self, store_slug: str, connection_slug: str) -> Loaded | None:
        entry = self._entries.get((store_slug, connection_slug))
        if entry is None:
            return None
        expires_at, loaded = entry
        if self._clock.now() >= expires_at:
            del self._entries[(store_slug, connection_slug)]
            return None
        return loaded

    def put(self, store_slug: str, connection_slug: str, loaded: Loaded) -> None:
        if self._ttl > 0:
            self._entries[(store_slug, connection_slug)] = (self._clock.now() + self._ttl, loaded)

    def clear(self) -> None:
        self._entries.clear()
