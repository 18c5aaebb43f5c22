"""The per-process connection cache: kept for its TTL, emptied on demand, off at 0."""

from __future__ import annotations

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
