"""Engine and sessions: one async engine per process, built from the settings."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Delete, Update, event
from sqlalchemy.engine import CursorResult, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def async_database_url(url: str) -> str:
    """Map the operator's URL to its async driver (`sqlite:///x` -> aiosqlite, psycopg 3)."""
    parsed = make_url(url)
    driver = parsed.drivername
    if driver in ("sqlite", "sqlite+pysqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif driver in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run while one writer writes; busy_timeout waits for the lock instead
    # of failing at once when two logins write together.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    async_url = async_database_url(url)
    # A database error quotes its statement in the log (a traceback), never the values bound
    # to it: e-mail addresses, sealed secrets, one-time codes.
    kwargs.setdefault("hide_parameters", True)
    if async_url.startswith("sqlite"):
        engine = create_async_engine(async_url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    else:
        engine = create_async_engine(
            async_url, pool_size=10, max_overflow=10, pool_pre_ping=True, **kwargs
        )
    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def rows_changed(session: AsyncSession, statement: Update | Delete) -> int:
    """Run an UPDATE or DELETE; how many rows it changed (0 when the driver cannot tell)."""
    result = await session.execute(statement)
    # AsyncSession.execute is annotated as returning a Result; for DML it is a CursorResult.
    return cast(CursorResult[Any], result).rowcount or 0
