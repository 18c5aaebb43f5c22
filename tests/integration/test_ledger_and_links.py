"""The shared ledger's claims and the link table's uniqueness, on the real database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from adapter.clock import FrozenClock
from adapter.core.secretbox import SecretBox
from adapter.db.engine import create_engine, create_sessionmaker
from adapter.db.ledger import Ledger
from adapter.db.links import LinkExists, LinkRepository
from adapter.db.models import Connection, Store
from tests.support.rows import connection_columns, store_columns
from tests.support.world import SECRET_KEY


def run(database_url: str, work: Callable[[Any], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        engine = create_engine(database_url)
        try:
            async with create_sessionmaker(engine).begin() as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def test_a_value_is_claimed_once_until_it_expires(database_url: str) -> None:
    clock = FrozenClock()
    box = SecretBox(SECRET_KEY)

    async def claim(session: Any) -> Any:
        return await Ledger(session, box, clock).claim("replay", "assertion-1", ttl_seconds=60)

    first = run(database_url, claim)
    assert first is not None
    assert run(database_url, claim) is None
    clock.advance(61)
    assert run(database_url, claim) is not None


def test_releasing_a_lapsed_claim_does_not_free_the_successors(database_url: str) -> None:
    clock = FrozenClock()
    box = SecretBox(SECRET_KEY)

    async def claim(session: Any) -> Any:
        return await Ledger(session, box, clock).claim("first-login", "c:s", ttl_seconds=10)

    old = run(database_url, claim)
    clock.advance(11)
    successor = run(database_url, claim)
    assert successor is not None

    async def release_old(session: Any) -> None:
        await Ledger(session, box, clock).release(old)

    run(database_url, release_old)
    assert run(database_url, claim) is None, "the successor's claim was released by the old holder"


def test_a_claim_is_extended_only_while_no_successor_has_taken_it(database_url: str) -> None:
    clock = FrozenClock()
    box = SecretBox(SECRET_KEY)

    async def claim(session: Any) -> Any:
        return await Ledger(session, box, clock).claim("first-login", "c:s", ttl_seconds=10)

    def extend(held: Any) -> Any:
        async def work(session: Any) -> Any:
            return await Ledger(session, box, clock).extend(held, ttl_seconds=100)

        return run(database_url, work)

    held = run(database_url, claim)
    longer = extend(held)
    assert longer is not None and longer.expires_at > held.expires_at
    clock.advance(50)
    assert run(database_url, claim) is None, "the extended claim lapsed at its first expiry"
    clock.advance(51)
    successor = run(database_url, claim)
    assert successor is not None
    assert extend(longer) is None, "a lapsed holder prolonged its successor's claim"


def _store_and_connection(session: Any) -> Awaitable[tuple[int, int]]:
    async def make() -> tuple[int, int]:
        now = datetime.now(UTC)
        store = Store(**store_columns(now))
        session.add(store)
        await session.flush()
        connection = Connection(**connection_columns(now, store.id))
        session.add(connection)
        await session.flush()
        return store.id, connection.id

    return make()


@pytest.mark.parametrize("same", ["subject", "customer"])
def test_a_subject_or_a_customer_is_linked_once_per_connection(
    database_url: str, same: str
) -> None:
    async def work(session: Any) -> None:
        store_id, connection_id = await _store_and_connection(session)
        links = LinkRepository(session, FrozenClock())
        await links.create(
            store_id=store_id, connection_id=connection_id, subject="a", customer_id=1, email=None
        )
        with pytest.raises(LinkExists):
            await links.create(
                store_id=store_id,
                connection_id=connection_id,
                subject="a" if same == "subject" else "b",
                customer_id=2 if same == "subject" else 1,
                email=None,
            )

    run(database_url, work)
