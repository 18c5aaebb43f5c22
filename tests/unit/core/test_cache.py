"""The one in-process cache: bounded, expiring on the injected clock, one load per key at a
time, errors never kept, invalidation that a load under way cannot undo."""

from __future__ import annotations

import asyncio

import pytest

from adapter.clock import FrozenClock
from adapter.core.cache import Cache


class Loader:
    """Counts its calls; answers `value`, or waits for `gate` first when one is set."""

    def __init__(self, value: object = "loaded", gate: asyncio.Event | None = None):
        self.value = value
        self.gate = gate
        self.calls = 0
        self.started = asyncio.Event()

    async def __call__(self) -> object:
        self.calls += 1
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        if isinstance(self.value, Exception):
            raise self.value
        return self.value


def cache(clock: FrozenClock | None = None, **options: object) -> Cache:
    settings: dict = {"maxsize": 100, "ttl": 10.0, **options}
    return Cache(clock or FrozenClock(), **settings)


async def test_a_loaded_value_is_served_until_its_ttl_and_then_loaded_again() -> None:
    clock = FrozenClock()
    kept = cache(clock)
    load = Loader()
    assert await kept.get_or_load("k", load) == "loaded"
    clock.advance(9.9)
    assert await kept.get_or_load("k", load) == "loaded"
    assert load.calls == 1
    clock.advance(0.1)
    assert kept.get("k") is None
    assert await kept.get_or_load("k", load) == "loaded"
    assert load.calls == 2


def test_a_ttl_given_with_an_entry_overrides_the_caches_own() -> None:
    clock = FrozenClock()
    kept = cache(clock, ttl=10.0)
    kept.put("short", 1, ttl=2)
    kept.put("forever", 2, ttl=None)
    clock.advance(2)
    assert kept.get("short") is None
    clock.advance(1_000_000)
    assert kept.get("forever") == 2


def test_a_ttl_of_zero_keeps_nothing() -> None:
    kept = cache(ttl=0)
    kept.put("k", 1)
    assert kept.get("k") is None and len(kept) == 0


def test_the_cache_never_holds_more_than_its_maxsize() -> None:
    kept = cache(maxsize=50)
    for n in range(100_000):
        kept.put(n, n)
        assert len(kept) <= 50
    assert kept.get(99_999) == 99_999 and kept.get(0) is None


def test_the_least_recently_used_entry_is_the_one_evicted() -> None:
    kept = cache(maxsize=2)
    kept.put("a", 1)
    kept.put("b", 2)
    assert kept.get("a") == 1  # "b" is now the least recently used
    kept.put("c", 3)
    assert kept.get("b") is None
    assert kept.get("a") == 1 and kept.get("c") == 3


async def test_many_distinct_keys_loaded_stay_within_the_bound() -> None:
    kept = cache(maxsize=100)
    for n in range(10_000):
        await kept.get_or_load(n, Loader(n))
    assert len(kept) == 100


async def test_concurrent_misses_for_one_key_share_one_load() -> None:
    kept = cache()
    load = Loader(gate=asyncio.Event())
    waiting = [asyncio.create_task(kept.get_or_load("k", load)) for _ in range(50)]
    await load.started.wait()
    load.gate.set()  # type: ignore[union-attr]
    assert await asyncio.gather(*waiting) == ["loaded"] * 50
    assert load.calls == 1


async def test_misses_for_different_keys_load_each_key() -> None:
    kept = cache()
    one, two = Loader(1), Loader(2)
    assert await asyncio.gather(kept.get_or_load("a", one), kept.get_or_load("b", two)) == [1, 2]
    assert one.calls == two.calls == 1


async def test_a_failed_load_reaches_every_waiter_and_is_not_kept() -> None:
    kept = cache()
    failing = Loader(RuntimeError("upstream down"), gate=asyncio.Event())
    waiting = [asyncio.create_task(kept.get_or_load("k", failing)) for _ in range(5)]
    await failing.started.wait()
    failing.gate.set()  # type: ignore[union-attr]
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(o, RuntimeError) and str(o) == "upstream down" for o in outcomes)
    assert failing.calls == 1 and len(kept) == 0
    working = Loader()
    assert await kept.get_or_load("k", working) == "loaded"
    assert working.calls == 1


async def test_a_failed_load_keeps_the_value_loaded_before_it_as_stale() -> None:
    clock = FrozenClock()
    kept = cache(clock)
    await kept.get_or_load("k", Loader("first"))
    clock.advance(10)
    with pytest.raises(RuntimeError):
        await kept.get_or_load("k", Loader(RuntimeError("down")))
    assert kept.get("k") is None and kept.stale("k") == "first"


async def test_a_waiter_that_is_cancelled_does_not_cancel_the_load_for_the_others() -> None:
    kept = cache()
    load = Loader(gate=asyncio.Event())
    leader = asyncio.create_task(kept.get_or_load("k", load))
    await load.started.wait()
    quitter = asyncio.create_task(kept.get_or_load("k", load))
    stayer = asyncio.create_task(kept.get_or_load("k", load))
    await asyncio.sleep(0)
    quitter.cancel()
    load.gate.set()  # type: ignore[union-attr]
    assert await leader == "loaded" and await stayer == "loaded"
    assert quitter.cancelled() and load.calls == 1


async def test_when_the_loading_caller_is_cancelled_a_waiter_loads_in_its_place() -> None:
    kept = cache()
    gate = asyncio.Event()
    first = Loader("from the first", gate=gate)
    leader = asyncio.create_task(kept.get_or_load("k", first))
    await first.started.wait()
    second = Loader("from the second")
    waiter = asyncio.create_task(kept.get_or_load("k", second))
    await asyncio.sleep(0)
    leader.cancel()
    assert await waiter == "from the second"
    assert leader.cancelled() and second.calls == 1
    assert kept.get("k") == "from the second"


async def test_refresh_loads_anew_while_the_kept_value_is_fresh() -> None:
    kept = cache()
    await kept.get_or_load("k", Loader("old"))
    assert await kept.get_or_load("k", Loader("new"), refresh=True) == "new"
    assert kept.get("k") == "new"


async def test_refresh_joins_a_load_already_under_way() -> None:
    kept = cache()
    load = Loader(gate=asyncio.Event())
    running = asyncio.create_task(kept.get_or_load("k", load))
    await load.started.wait()
    refreshing = asyncio.create_task(kept.get_or_load("k", load, refresh=True))
    await asyncio.sleep(0)
    load.gate.set()  # type: ignore[union-attr]
    assert await running == await refreshing == "loaded"
    assert load.calls == 1


async def test_only_values_that_pass_keep_are_kept() -> None:
    kept = cache(keep=lambda value: value is not None)
    missing = Loader(None)
    assert await kept.get_or_load("k", missing) is None
    assert await kept.get_or_load("k", missing) is None
    assert missing.calls == 2
    found = Loader("found")
    await kept.get_or_load("k", found)
    await kept.get_or_load("k", found)
    assert found.calls == 1


def test_invalidate_forgets_one_key() -> None:
    kept = cache()
    kept.put("a", 1)
    kept.put("b", 2)
    kept.invalidate("a")
    kept.invalidate("never there")
    assert kept.get("a") is None and kept.stale("a") is None and kept.get("b") == 2


def test_clear_forgets_everything() -> None:
    kept = cache()
    kept.put("a", 1)
    kept.put("b", 2)
    kept.clear()
    assert len(kept) == 0 and kept.get("a") is None and kept.get("b") is None


@pytest.mark.parametrize("forget", ["invalidate", "clear"])
async def test_a_load_under_way_when_its_key_is_forgotten_answers_but_keeps_nothing(
    forget: str,
) -> None:
    kept = cache()
    load = Loader("read before the change", gate=asyncio.Event())
    running = asyncio.create_task(kept.get_or_load("k", load))
    await load.started.wait()
    if forget == "invalidate":
        kept.invalidate("k")
    else:
        kept.clear()
    after = Loader("read after the change")
    assert await kept.get_or_load("k", after) == "read after the change"
    load.gate.set()  # type: ignore[union-attr]
    assert await running == "read before the change"
    assert kept.get("k") == "read after the change"


def test_every_value_that_leaves_the_cache_is_discarded_once() -> None:
    discarded: list[str] = []
    kept = cache(maxsize=2, on_discard=discarded.append)
    kept.put("a", "a1")
    kept.put("a", "a1")  # the same value again: still held, not discarded
    kept.put("a", "a2")  # replaced
    kept.put("b", "b1")
    kept.put("c", "c1")  # evicts "a"
    kept.invalidate("b")
    kept.clear()
    assert discarded == ["a1", "a2", "b1", "c1"]


def test_a_cache_must_hold_at_least_one_entry() -> None:
    with pytest.raises(ValueError):
        cache(maxsize=0)
