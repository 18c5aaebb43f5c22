"""The login's hot path (`adapter.db.hot_path`) on the real database: each statement's
contract, its atomicity, and how it answers when the database goes away under it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from adapter.db.hot_path import ClaimRow, HotPathFailed, LoginStore, StateRow, open_login_store
from adapter.db.models import (
    AuditEvent,
    BlockedSubject,
    Connection,
    Link,
    LoginState,
    Store,
    UsedValue,
)
from adapter.errors import DatabaseUnavailable
from tests.support.databases import backend
from tests.support.rows import connection_columns, store_columns

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def ids(database_url: str, sync_engine: sa.Engine) -> Iterator[tuple[int, int, int]]:
    """A store, a connection and a link of subject "alice" to customer 42."""
    with sync_engine.begin() as db:
        store_id = db.execute(sa.insert(Store).values(**store_columns(NOW))).inserted_primary_key[0]
        connection_id = db.execute(
            sa.insert(Connection).values(**connection_columns(NOW, store_id))
        ).inserted_primary_key[0]
        link_id = db.execute(
            sa.insert(Link).values(
                store_id=store_id,
                connection_id=connection_id,
                subject="alice",
                customer_id=42,
                email="old@example.com",
                created_at=NOW,
                login_count=0,
            )
        ).inserted_primary_key[0]
    yield store_id, connection_id, link_id


def with_store(database_url: str, work: Callable[[LoginStore], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        store = open_login_store(database_url, pool_size=2, timeout_seconds=5)
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(main())


def state(ids: tuple[int, int, int], key: str = "k" * 64) -> StateRow:
    store_id, connection_id, _ = ids
    return StateRow(
        key_hash=key,
        browser_hash="b" * 64,
        store_id=store_id,
        connection_id=connection_id,
        channel_id=1,
        redirect_to="/account",
        payload_sealed="sealed",
        created_at=NOW,
        expires_at=NOW + timedelta(minutes=10),
    )


def claim(value: str = "v" * 64, now: datetime = NOW) -> ClaimRow:
    return ClaimRow(
        namespace="saml-assertion",
        value_hash=value,
        expires_at=now + timedelta(minutes=5),
        now=now,
    )


def count(engine: sa.Engine, model: type[Any]) -> int:
    with engine.connect() as db:
        return int(db.execute(sa.select(sa.func.count()).select_from(model)).scalar_one())


def test_a_kept_state_is_taken_once_whole(database_url: str, ids: tuple[int, int, int]) -> None:
    kept = state(ids)

    async def work(store: LoginStore) -> tuple[Any, Any]:
        await store.keep_state(kept)
        return await store.take_state(kept.key_hash), await store.take_state(kept.key_hash)

    first, second = with_store(database_url, work)
    assert first == kept
    assert second is None


def test_of_two_takers_at_once_one_gets_the_state(
    database_url: str, ids: tuple[int, int, int]
) -> None:
    kept = state(ids)

    async def work(store: LoginStore) -> list[Any]:
        await store.keep_state(kept)
        return list(await asyncio.gather(*(store.take_state(kept.key_hash) for _ in range(4))))

    taken = with_store(database_url, work)
    assert sorted(taken, key=lambda row: row is None) == [kept, None, None, None]


def test_an_unknown_state_is_none(database_url: str, ids: tuple[int, int, int]) -> None:
    assert with_store(database_url, lambda store: store.take_state("0" * 64)) is None


def test_a_link_is_found_by_connection_and_exact_subject(
    database_url: str, ids: tuple[int, int, int]
) -> None:
    _, connection_id, link_id = ids

    async def work(store: LoginStore) -> list[Any]:
        return [
            await store.find_link(connection_id, "alice"),
            await store.find_link(connection_id, "Alice"),
            await store.find_link(connection_id, "alice "),
            await store.find_link(connection_id + 1, "alice"),
        ]

    found, upper, padded, elsewhere = with_store(database_url, work)
    assert (found.link.link_id, found.link.customer_id) == (link_id, 42)
    assert not found.blocked
    assert upper.link is None and padded.link is None and elsewhere.link is None


def test_a_deprovisioned_subject_is_reported_with_or_without_a_link(
    database_url: str, sync_engine: sa.Engine, ids: tuple[int, int, int]
) -> None:
    store_id, connection_id, _ = ids
    with sync_engine.begin() as db:
        for subject in ("alice", "bob"):
            db.execute(
                sa.insert(BlockedSubject).values(
                    connection_id=connection_id,
                    subject=subject,
                    store_id=store_id,
                    customer_id=None,
                    undo={},
                    settled=False,
                    created_at=NOW,
                )
            )

    async def work(store: LoginStore) -> list[Any]:
        return [
            await store.find_link(connection_id, "alice"),
            await store.find_link(connection_id, "bob"),
            await store.find_link(connection_id, "carol"),
            await store.find_link(connection_id + 1, "alice"),
        ]

    alice, bob, carol, elsewhere = with_store(database_url, work)
    assert alice.blocked and alice.link is not None and alice.link.customer_id == 42
    assert bob.blocked and bob.link is None
    assert not carol.blocked and carol.link is None
    assert not elsewhere.blocked


def test_recording_a_login_updates_the_link_and_writes_its_audit_event(
    database_url: str, sync_engine: sa.Engine, ids: tuple[int, int, int]
) -> None:
    _, _, link_id = ids
    audit = {
        "created_at": NOW,
        "store_slug": "s",
        "connection_slug": "c",
        "kind": "login",
        "outcome": "success",
        "reason": None,
        "reference": "ref1",
        "actor": None,
        "subject": "alice",
        "customer_id": 42,
        "email": "new@example.com",
        "details": {"protocol": "oidc"},
    }

    async def work(store: LoginStore) -> None:
        await store.record_login(link_id, "new@example.com", NOW, audit)
        await store.record_login(link_id, None, NOW + timedelta(hours=1), audit)

    with_store(database_url, work)
    with sync_engine.connect() as db:
        link = db.execute(sa.select(Link)).one()
        events = db.execute(sa.select(AuditEvent)).all()
    assert link.login_count == 2
    assert link.email == "new@example.com", "a login without an e-mail kept the known one"
    assert link.last_login_at.replace(tzinfo=UTC) == NOW + timedelta(hours=1)
    assert [(e.kind, e.reference, e.details) for e in events] == [
        ("login", "ref1", {"protocol": "oidc"})
    ] * 2


def test_a_value_is_claimed_once_until_it_expires(
    database_url: str, ids: tuple[int, int, int]
) -> None:
    later = NOW + timedelta(minutes=6)

    async def work(store: LoginStore) -> list[bool]:
        return [
            await store.claim(claim()),
            await store.claim(claim()),
            await store.claim(claim("w" * 64)),
            await store.claim(claim(now=later)),
        ]

    assert with_store(database_url, work) == [True, False, True, True]


def test_claim_and_keep_keeps_the_state_only_with_the_claim(
    database_url: str, sync_engine: sa.Engine, ids: tuple[int, int, int]
) -> None:
    async def work(store: LoginStore) -> list[bool]:
        return [
            await store.claim_and_keep(claim(), state(ids, "1" * 64)),
            await store.claim_and_keep(claim(), state(ids, "2" * 64)),
        ]

    assert with_store(database_url, work) == [True, False]
    with sync_engine.connect() as db:
        kept = db.execute(sa.select(LoginState.key_hash)).scalars().all()
    assert kept == ["1" * 64], "a replayed assertion parked an identity"
    assert count(sync_engine, UsedValue) == 1


def test_a_failing_statement_names_itself_and_quotes_no_value(
    database_url: str, ids: tuple[int, int, int]
) -> None:
    # The connection does not exist: the foreign key refuses the row.
    orphan = state((ids[0], 999_999, 0), "3" * 64)
    with pytest.raises(HotPathFailed) as refused:
        with_store(database_url, lambda store: store.keep_state(orphan))
    assert str(refused.value).startswith("keep_state: ")
    assert "999999" not in str(refused.value) and "sealed" not in str(refused.value)


@pytest.mark.skipif(backend() != "postgresql", reason="a server that goes away: PostgreSQL")
def test_an_unreachable_server_is_database_unavailable(ids: tuple[int, int, int]) -> None:
    url = "postgresql://postgres@127.0.0.1:9/none"
    with pytest.raises(DatabaseUnavailable) as away:
        with_store(url, lambda store: store.find_link(1, "alice"))
    assert away.value.retry_after > 0


@pytest.mark.skipif(backend() != "postgresql", reason="a server that goes away: PostgreSQL")
def test_connections_the_server_ends_are_not_used_again(
    database_url: str, sync_engine: sa.Engine, ids: tuple[int, int, int]
) -> None:
    """What a database restart does to the pool: the server ends every idle connection (its
    shutdown notice reaches some while they idle). A read is tried again on a new connection;
    any other statement answers 503, never a 500; the next request finds a working pool."""
    _, connection_id, _ = ids

    def end_every_other_backend() -> None:
        with sync_engine.connect() as db:
            db.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )

    async def work(store: LoginStore) -> list[Any]:
        outcomes: list[Any] = []
        # Two connections in the pool, idle.
        await asyncio.gather(store.find_link(connection_id, "alice"), store.claim(claim()))
        for attempt in range(3):
            await asyncio.to_thread(end_every_other_backend)
            found = await store.find_link(connection_id, "alice")
            outcomes.append(found.link is not None and found.link.customer_id == 42)
            await asyncio.to_thread(end_every_other_backend)
            try:
                await store.take_state(f"{attempt}" * 64)
                outcomes.append("answered")
            except DatabaseUnavailable:
                outcomes.append("unavailable")
            kept = state(ids, f"{attempt + 5}" * 64)
            await store.keep_state(kept)
            outcomes.append(await store.take_state(kept.key_hash) == kept)
        return outcomes

    outcomes = with_store(database_url, work)
    assert outcomes[0::3] == [True] * 3, "a read was not tried again on a new connection"
    assert set(outcomes[1::3]) <= {"answered", "unavailable"}
    assert outcomes[2::3] == [True] * 3, "the pool kept a connection the server had ended"
