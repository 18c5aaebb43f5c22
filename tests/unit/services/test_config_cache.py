"""The per-process connection cache: kept for its TTL, emptied on demand, off at 0, one read
for concurrent logins, never more than its bound."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from adapter.clock import FrozenClock
from adapter.services.config_cache import ConnectionCache

LOADED = cast(Any, ("store record", "connection record"))


def test_an_entry_is_served_until_its_ttl_and_then_forgotten() -> None:
    clock = FrozenClock()
    cache = ConnectionCache(clock, ttl_seconds=5)
    cache.put("acme", "okta", LOADED)
    clock.advance(4.9)
    assert cache.get("acme", "okta") == LOADED
    clock.advance(0.1)
    assert cache.get("acme", "okta") is None


def test_entries_are_kept_per_store_and_connection() -> None:
    cache = ConnectionCache(FrozenClock(), ttl_seconds=5)
    cache.put("acme", "okta", LOADED)
    assert cache.get("acme", "entra") is None
    assert cache.get("globex", "okta") is None


def test_clear_forgets_everything() -> None:
    cache = ConnectionCache(FrozenClock(), ttl_seconds=5)
    cache.put("acme", "okta", LOADED)
    cache.clear()
    assert cache.get("acme", "okta") is None


def test_a_ttl_of_zero_keeps_nothing() -> None:
    cache = ConnectionCache(FrozenClock(), ttl_seconds=0)
    cache.put("acme", "okta", LOADED)
    assert cache.get("acme", "okta") is None


async def test_a_name_that_was_not_found_is_asked_again() -> None:
    cache = ConnectionCache(FrozenClock(), ttl_seconds=5)
    reads: list[str] = []

    async def read() -> Any:
        reads.append("read")
        return None

    assert await cache.load("acme", "okta", read) is None
    assert await cache.load("acme", "okta", read) is None
    assert len(reads) == 2


async def test_concurrent_logins_for_one_connection_share_one_read() -> None:
    cache = ConnectionCache(FrozenClock(), ttl_seconds=5)
    reads: list[str] = []
    gate = asyncio.Event()

    async def read() -> Any:
        reads.append("read")
        await gate.wait()
        return LOADED

    logins = [asyncio.create_task(cache.load("acme", "okta", read)) for _ in range(10)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*logins) == [LOADED] * 10
    assert reads == ["read"]


async def test_a_read_under_way_when_the_cache_is_emptied_is_not_kept() -> None:
    # The admin API empties the cache after its change commits: a read that began before may
    # have seen the connection as it was.
    cache = ConnectionCache(FrozenClock(), ttl_seconds=5)
    gate = asyncio.Event()

    async def read_before_the_change() -> Any:
        await gate.wait()
        return LOADED

    login = asyncio.create_task(cache.load("acme", "okta", read_before_the_change))
    await asyncio.sleep(0)
    cache.clear()
    gate.set()
    assert await login == LOADED
    assert cache.get("acme", "okta") is None


def test_the_cache_holds_at_most_its_bound() -> None:
    cache = ConnectionCache(FrozenClock(), ttl_seconds=5, maxsize=10)
    for n in range(1000):
        cache.put("acme", f"connection-{n}", LOADED)
    assert sum(cache.get("acme", f"connection-{n}") is not None for n in range(1000)) == 10
