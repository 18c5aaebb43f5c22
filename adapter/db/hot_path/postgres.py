"""The hot path on PostgreSQL, through asyncpg: a pool of its own, each statement prepared
once per connection by the driver's statement cache.

No ping before use: the pool replaces a connection the server closed when it is next taken
(asyncpg notices the close while the connection idles). A connection that dies under a
statement fails that request with 503, except where trying again is harmless (reading a
link; keeping a state under a fresh random key), which is tried once more on a new one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeAlias, TypeVar

import asyncpg
from asyncpg import Record
from asyncpg.pool import PoolConnectionProxy

from adapter.db.hot_path import ClaimRow, FoundLink, HotPathFailed, LinkLookup, StateRow
from adapter.db.hot_path.statements import Compiled, postgres_statements
from adapter.db.unavailable import RETRY_AFTER_SECONDS
from adapter.errors import DatabaseUnavailable

T = TypeVar("T")
# What the pool hands out: a proxy to one of its connections.
Connection: TypeAlias = "PoolConnectionProxy[Record]"

# SQLSTATE classes of a server that is away, not of a wrong statement: connection exception,
# insufficient resources (too many connections), operator intervention (shutdown, restart).
_AWAY_CLASSES = ("08", "53", "57")
_READ_ONLY_TRANSACTION = "25006"  # a replica promoted or demoted under us


def _naive(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(tzinfo=None)


def _aware(instant: datetime) -> datetime:
    return instant.replace(tzinfo=UTC)


def _state_values(row: StateRow) -> dict[str, Any]:
    return {
        "state_key_hash": row.key_hash,
        "state_browser_hash": row.browser_hash,
        "state_store_id": row.store_id,
        "state_connection_id": row.connection_id,
        "state_channel_id": row.channel_id,
        "state_redirect_to": row.redirect_to,
        "state_payload_sealed": row.payload_sealed,
        "state_created_at": _naive(row.created_at),
        "state_expires_at": _naive(row.expires_at),
    }


def _claim_values(claim: ClaimRow) -> dict[str, Any]:
    return {
        "claim_namespace": claim.namespace,
        "claim_value_hash": claim.value_hash,
        "claim_expires_at": _naive(claim.expires_at),
        "claim_now": _naive(claim.now),
    }


def _is_away(error: BaseException) -> bool:
    # InternalClientError: the connection is in no state to run a statement, as when the
    # server's notice that it is shutting down reached it while it idled in the pool.
    lost = OSError | asyncio.TimeoutError | asyncpg.InterfaceError | asyncpg.InternalClientError
    if isinstance(error, lost):
        return True
    if isinstance(error, asyncpg.PostgresError):
        state = str(getattr(error, "sqlstate", "") or "")
        return state[:2] in _AWAY_CLASSES or state == _READ_ONLY_TRANSACTION
    return False


async def _nothing_to_reset(connection: asyncpg.Connection[Record]) -> None:
    """What the pool runs on a connection given back. Its default (RESET ALL, UNLISTEN, ...)
    is a round trip per statement; these statements change no session state and never leave
    a transaction open (each is its own), so there is nothing to reset."""


class PostgresLoginStore:
    def __init__(self, dsn: str, *, pool_size: int, timeout_seconds: float):
        self._dsn = dsn
        self._pool_size = pool_size
        self._timeout = timeout_seconds
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()
        self._sql = postgres_statements()

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self._dsn,
                        min_size=0,
                        max_size=self._pool_size,
                        timeout=self._timeout,  # connecting
                        command_timeout=self._timeout,  # every statement
                        reset=_nothing_to_reset,
                    )
        return self._pool

    async def _run(
        self,
        name: str,
        work: Callable[[Connection], Awaitable[T]],
        *,
        again_if_lost: bool = False,
    ) -> T:
        for attempt in (1, 2):
            pool: asyncpg.Pool | None = None
            try:
                pool = await self._get_pool()
                async with pool.acquire(timeout=self._timeout) as connection:
                    try:
                        return await work(connection)
                    except Exception as exc:
                        if _is_away(exc):
                            connection.terminate()  # never back into the pool
                        raise
            except Exception as exc:
                if not _is_away(exc):
                    raise HotPathFailed(f"{name}: {type(exc).__name__}") from None
                if pool is not None:
                    # The server that ended this connection (a restart) ended its idle
                    # siblings too, whether the loss showed in the statement or in giving
                    # the connection back: each is made anew on its next use, so the try
                    # again gets a live one.
                    await pool.expire_connections()
                if attempt == 1 and again_if_lost:
                    continue
                raise DatabaseUnavailable(
                    f"database unreachable: {type(exc).__name__}",
                    retry_after=RETRY_AFTER_SECONDS,
                ) from None
        raise AssertionError("unreachable")

    async def _fetchrow(
        self, name: str, statement: Compiled, values: dict[str, Any], **options: bool
    ) -> Any:
        arguments = statement.arguments(values)
        return await self._run(
            name, lambda connection: connection.fetchrow(statement.sql, *arguments), **options
        )

    async def keep_state(self, row: StateRow) -> None:
        statement = self._sql.keep_state
        arguments = statement.arguments(_state_values(row))

        tries = 0

        async def keep(connection: Connection) -> None:
            nonlocal tries
            tries += 1
            try:
                await connection.execute(statement.sql, *arguments)
            except asyncpg.UniqueViolationError:
                # A key drawn at random collides only with this very insert, sent before on a
                # connection lost with its answer: then it is kept already.
                if tries == 1:
                    raise

        await self._run("keep_state", keep, again_if_lost=True)

    async def take_state(self, key_hash: str) -> StateRow | None:
        found = await self._fetchrow("take_state", self._sql.take_state, {"key_hash": key_hash})
        if found is None:
            return None
        return StateRow(
            key_hash=found["key_hash"],
            browser_hash=found["browser_hash"],
            store_id=found["store_id"],
            connection_id=found["connection_id"],
            channel_id=found["channel_id"],
            redirect_to=found["redirect_to"],
            payload_sealed=found["payload_sealed"],
            created_at=_aware(found["created_at"]),
            expires_at=_aware(found["expires_at"]),
        )

    async def find_link(self, connection_id: int, subject: str) -> LinkLookup:
        found = await self._fetchrow(
            "find_link",
            self._sql.find_link,
            {"connection_id": connection_id, "subject": subject},
            again_if_lost=True,
        )
        assert found is not None  # the statement answers one row, always
        link = None if found["id"] is None else FoundLink(found["id"], found["customer_id"])
        return LinkLookup(link, bool(found["blocked"]))

    async def record_login(
        self, link_id: int, email: str | None, now: datetime, audit: dict[str, Any]
    ) -> None:
        values = {f"audit_{k}": v for k, v in audit.items()}
        values["audit_created_at"] = _naive(values["audit_created_at"])
        values["audit_details"] = json.dumps(values["audit_details"])
        values.update(link_id=link_id, email=email or None, now=_naive(now))
        statement = self._sql.record_login
        arguments = statement.arguments(values)
        await self._run(
            "record_login", lambda connection: connection.execute(statement.sql, *arguments)
        )

    async def claim(self, claim: ClaimRow) -> bool:
        found = await self._fetchrow("claim", self._sql.claim, _claim_values(claim))
        return found is not None

    async def claim_and_keep(self, claim: ClaimRow, row: StateRow) -> bool:
        values = {**_claim_values(claim), **_state_values(row)}
        found = await self._fetchrow("claim_and_keep", self._sql.claim_and_keep, values)
        return found is not None

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
