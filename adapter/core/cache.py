"""The one in-process cache: bounded, expiring, and loading a key once however many ask.

Every value a process keeps to save a round trip (connections read from the database, OP
discovery documents and key sets, IdP metadata, SAML service providers, BigCommerce channel
answers) is kept in a `Cache`:

- a size bound: past `maxsize` entries the least recently used one goes, so a cache keyed by
  something that keeps growing (customers, channels) cannot grow with it;
- a time to live per entry, read from the injected `Clock`; an entry past it is no longer
  served by `get` or `get_or_load`, yet stays available to `stale` (serving the last good
  copy while its source is away) until it is evicted, replaced or invalidated;
- single-flight loading: concurrent `get_or_load` calls that miss on one key await one call
  of the loader. Its exception reaches every one of them and nothing is kept; if the caller
  running the loader is cancelled, the others are not: one of them loads in its place;
- `invalidate(key)` and `clear()`; a load already under way when either is called still
  answers its callers but keeps nothing, so a value read before an invalidation never
  outlives it;
- optionally, a `keep` test for loaded values, for a cache that keeps only what was found.

Why not cachetools: its `TTLCache` takes an injectable timer and bounds its size, but it drops
expired entries itself (so no last good copy to fall back on), has no single-flight loading for
coroutines, and would be a new dependency for what an `OrderedDict` does in a dozen lines.

A cache belongs to one event loop and is not thread-safe, like the rest of the process state.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar, overload

from adapter.clock import Clock

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
D = TypeVar("D")


class _Default:
    """Marks a TTL argument left out: the cache's own TTL applies."""


DEFAULT_TTL = _Default()


@dataclass(slots=True)
class _Entry(Generic[V]):
    value: V
    expires_at: float | None  # None: kept until evicted, replaced or invalidated


class Cache(Generic[K, V]):
    def __init__(
        self,
        clock: Clock,
        *,
        maxsize: int,
        ttl: float | None,
        keep: Callable[[V], bool] | None = None,
        on_discard: Callable[[V], None] | None = None,
    ):
        """`ttl` in seconds (None: no expiry; 0 or less: nothing is kept, though concurrent
        loads are still shared). `keep(value)` decides whether a loaded value is kept.
        `on_discard(value)` is called when a value leaves the cache (evicted, replaced by
        another value, invalidated or cleared), for values that hold resources."""
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self._clock = clock
        self._maxsize = maxsize
        self._ttl = ttl
        self._keep = keep
        self._on_discard = on_discard
        self._entries: OrderedDict[K, _Entry[V]] = OrderedDict()
        self._flights: dict[K, asyncio.Future[V]] = {}

    @property
    def maxsize(self) -> int:
        return self._maxsize

    def __len__(self) -> int:
        """Entries held, expired ones included: never more than `maxsize`."""
        return len(self._entries)

    @overload
    def get(self, key: K) -> V | None: ...
    @overload
    def get(self, key: K, default: D) -> V | D: ...
    def get(self, key: K, default: D | None = None) -> V | D | None:
        """The value for `key` if it is held and within its TTL, else `default`."""
        entry = self._entries.get(key)
        if entry is None or not self._is_fresh(entry):
            return default
        self._entries.move_to_end(key)
        return entry.value

    @overload
    def stale(self, key: K) -> V | None: ...
    @overload
    def stale(self, key: K, default: D) -> V | D: ...
    def stale(self, key: K, default: D | None = None) -> V | D | None:
        """The value last kept for `key`, even past its TTL, unless it has been evicted,
        invalidated or cleared since."""
        entry = self._entries.get(key)
        return default if entry is None else entry.value

    def put(self, key: K, value: V, *, ttl: float | _Default | None = DEFAULT_TTL) -> None:
        """Keep `value` for `key` (for `ttl` seconds when given, else the cache's TTL)."""
        lifetime = self._ttl if isinstance(ttl, _Default) else ttl
        if lifetime is not None and lifetime <= 0:
            return
        expires_at = None if lifetime is None else self._clock.now() + lifetime
        previous = self._entries.pop(key, None)
        self._entries[key] = _Entry(value, expires_at)
        if previous is not None and previous.value is not value:
            self._discard(previous.value)
        while len(self._entries) > self._maxsize:
            _, evicted = self._entries.popitem(last=False)
            self._discard(evicted.value)

    async def get_or_load(
        self,
        key: K,
        load: Callable[[], Awaitable[V]],
        *,
        refresh: bool = False,
        ttl: float | _Default | None = DEFAULT_TTL,
    ) -> V:
        """The value for `key`, from the cache while it is fresh, else from `load()`.

        `refresh` skips the kept value and loads anew; a load already under way is shared,
        since it started after the kept value was loaded. A loader's exception is raised to
        every caller waiting on it and nothing is kept."""
        if not refresh:
            entry = self._entries.get(key)
            if entry is not None and self._is_fresh(entry):
                self._entries.move_to_end(key)
                return entry.value
        while True:
            flight = self._flights.get(key)
            if flight is None:
                return await self._lead(key, load, ttl)
            try:
                # Shielded: a waiter that is cancelled must not cancel the load for the rest.
                return await asyncio.shield(flight)
            except asyncio.CancelledError:
                if flight.cancelled() and not _current_task_is_cancelled():
                    continue  # the caller running the loader was cancelled: load in its place
                raise

    def invalidate(self, key: K) -> None:
        """Forget `key`; a load of it under way keeps nothing when it ends."""
        self._flights.pop(key, None)
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._discard(entry.value)

    def clear(self) -> None:
        """Forget everything; loads under way keep nothing when they end."""
        self._flights.clear()
        entries = list(self._entries.values())
        self._entries.clear()
        for entry in entries:
            self._discard(entry.value)

    async def _lead(
        self, key: K, load: Callable[[], Awaitable[V]], ttl: float | _Default | None
    ) -> V:
        flight: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._flights[key] = flight
        try:
            value = await load()
        except BaseException as exc:
            if self._flights.get(key) is flight:
                del self._flights[key]
            if isinstance(exc, Exception):
                flight.set_exception(exc)
                # Marks the exception as seen: with no waiter, asyncio would log it as lost.
                flight.exception()
            else:
                flight.cancel()  # cancelled (or the process is stopping): waiters take over
            raise
        # Only a load that is still the current one for its key may keep its value: one that
        # was invalidated while it ran may have read what the invalidation was about.
        if self._flights.get(key) is flight:
            del self._flights[key]
            if self._keep is None or self._keep(value):
                self.put(key, value, ttl=ttl)
        flight.set_result(value)
        return value

    def _is_fresh(self, entry: _Entry[V]) -> bool:
        return entry.expires_at is None or self._clock.now() < entry.expires_at

    def _discard(self, value: V) -> None:
        if self._on_discard is not None:
            self._on_discard(value)


def _current_task_is_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


__all__ = ["DEFAULT_TTL", "Cache"]
