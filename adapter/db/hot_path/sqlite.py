"""The hot path on SQLite, through the standard library's driver on one thread of its own.

An SQLite statement takes microseconds; the cost of running it from the event loop is the
hand-over to a thread, so every step is one hand-over, whatever it runs. One connection,
one thread: SQLite has one writer at a time anyway, and other processes' writers are waited
for (busy_timeout), as the engine's connections do.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

from adapter.db.hot_path import ClaimRow, FoundLink, HotPathFailed, LinkLookup, StateRow
from adapter.db.hot_path.statements import Compiled, sqlite_statements
from adapter.db.unavailable import RETRY_AFTER_SECONDS
from adapter.errors import DatabaseUnavailable

T = TypeVar("T")

# As SQLAlchemy writes a DateTime to SQLite, so both read and compare the same text.
_STORED = "%Y-%m-%d %H:%M:%S.%f"


def _text(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime(_STORED)


def _instant(text: str) -> datetime:
    return datetime.strptime(text, _STORED).replace(tzinfo=UTC)


def _state_values(row: StateRow) -> dict[str, Any]:
    return {
        "state_key_hash": row.key_hash,
        "state_browser_hash": row.browser_hash,
        "state_store_id": row.store_id,
        "state_connection_id": row.connection_id,
        "state_channel_id": row.channel_id,
        "state_redirect_to": row.redirect_to,
        "state_payload_sealed": row.payload_sealed,
        "state_created_at": _text(row.created_at),
        "state_expires_at": _text(row.expires_at),
    }


def _claim_values(claim: ClaimRow) -> dict[str, Any]:
    return {
        "claim_namespace": claim.namespace,
        "claim_value_hash": claim.value_hash,
        "claim_expires_at": _text(claim.expires_at),
        "claim_now": _text(claim.now),
    }


class SqliteLoginStore:
    def __init__(self, path: str, *, timeout_seconds: float):
        self._path = path
        self._timeout = timeout_seconds
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="login-store")
        self._connection: sqlite3.Connection | None = None
        self._sql = sqlite_statements()

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            # Autocommit: a single statement commits itself; several take BEGIN ... COMMIT.
            connection = sqlite3.connect(
                self._path, timeout=30, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA busy_timeout=30000")
            connection.execute("PRAGMA foreign_keys=ON")
            self._connection = connection
        return self._connection

    async def _run(self, name: str, work: Callable[[sqlite3.Connection], T]) -> T:
        def job() -> T:
            return work(self._connect())

        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, job)
        except sqlite3.OperationalError as exc:
            # A file that cannot be opened, a lock not given up in time, a full disk.
            raise DatabaseUnavailable(
                f"database unreachable: {type(exc).__name__}", retry_after=RETRY_AFTER_SECONDS
            ) from None
        except sqlite3.Error as exc:
            raise HotPathFailed(f"{name}: {type(exc).__name__}") from None

    @staticmethod
    def _one(
        connection: sqlite3.Connection, statement: Compiled, values: dict[str, Any]
    ) -> tuple[Any, ...] | None:
        # Every row read: a statement with RETURNING is finished (and, outside a transaction,
        # committed) only when its cursor is exhausted.
        rows = connection.execute(statement.sql, statement.arguments(values)).fetchall()
        return tuple(rows[0]) if rows else None

    @staticmethod
    def _transaction(connection: sqlite3.Connection, steps: Callable[[], T]) -> T:
        connection.execute("BEGIN IMMEDIATE")
        try:
            result = steps()
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        return result

    async def keep_state(self, row: StateRow) -> None:
        values = _state_values(row)
        await self._run("keep_state", lambda c: self._one(c, self._sql.keep_state, values))

    async def take_state(self, key_hash: str) -> StateRow | None:
        found = await self._run(
            "take_state", lambda c: self._one(c, self._sql.take_state, {"key_hash": key_hash})
        )
        if found is None:
            return None
        key, browser, store_id, connection_id, channel_id, redirect_to, sealed, created, expires = (
            found
        )
        return StateRow(
            key_hash=key,
            browser_hash=browser,
            store_id=store_id,
            connection_id=connection_id,
            channel_id=channel_id,
            redirect_to=redirect_to,
            payload_sealed=sealed,
            created_at=_instant(created),
            expires_at=_instant(expires),
        )

    async def find_link(self, connection_id: int, subject: str) -> LinkLookup:
        values = {"connection_id": connection_id, "subject": subject}
        found = await self._run("find_link", lambda c: self._one(c, self._sql.find_link, values))
        assert found is not None  # the statement answers one row, always
        link = None if found[0] is None else FoundLink(found[0], found[1])
        return LinkLookup(link, bool(found[2]))

    async def record_login(
        self, link_id: int, email: str | None, now: datetime, audit: dict[str, Any]
    ) -> None:
        values = {f"audit_{k}": v for k, v in audit.items()}
        values["audit_created_at"] = _text(values["audit_created_at"])
        values["audit_details"] = json.dumps(values["audit_details"])
        values.update(link_id=link_id, email=email or None, now=_text(now))

        def record(connection: sqlite3.Connection) -> None:
            def steps() -> None:
                self._one(connection, self._sql.touch_link, values)
                self._one(connection, self._sql.add_audit, values)

            self._transaction(connection, steps)

        await self._run("record_login", record)

    async def claim(self, claim: ClaimRow) -> bool:
        values = _claim_values(claim)
        found = await self._run("claim", lambda c: self._one(c, self._sql.claim, values))
        return found is not None

    async def claim_and_keep(self, claim: ClaimRow, row: StateRow) -> bool:
        values = {**_claim_values(claim), **_state_values(row)}

        def claim_then_keep(connection: sqlite3.Connection) -> bool:
            def steps() -> bool:
                if self._one(connection, self._sql.claim, values) is None:
                    return False
                self._one(connection, self._sql.keep_state, values)
                return True

            return self._transaction(connection, steps)

        return await self._run("claim_and_keep", claim_then_keep)

    async def close(self) -> None:
        def shut() -> None:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

        await asyncio.get_running_loop().run_in_executor(self._thread, shut)
        self._thread.shutdown(wait=False)
