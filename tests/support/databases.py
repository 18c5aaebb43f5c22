"""Test databases: SQLite files and PostgreSQL databases, migrated with the real revisions."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import sqlalchemy as sa

from adapter.db.migrate import upgrade
from adapter.db.models import Base

POSTGRES_ADMIN_DSN = os.environ.get(
    "TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def backend() -> str:
    value = os.environ.get("TEST_DATABASE", "sqlite")
    if value not in ("sqlite", "postgresql"):
        raise RuntimeError(f"TEST_DATABASE must be sqlite or postgresql, not {value!r}")
    return value


def fresh_postgres_database(name: str) -> str:
    with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{name}"


def fresh_database(directory: Path, name: str) -> str:
    """An empty database of the configured backend, not yet migrated."""
    if backend() == "postgresql":
        return fresh_postgres_database(f"{name}_{os.getpid()}")
    return f"sqlite:///{directory / (name + '.db')}"


def migrated_database(directory: Path, name: str) -> str:
    url = fresh_database(directory, name)
    upgrade(url)
    return url


def sync_url(url: str) -> str:
    return url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg")


# Written by the migrations themselves, not by the service: kept between tests.
SCHEMA_TABLES = {"schema_compatibility"}


def clear_all_tables(engine: sa.Engine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name not in SCHEMA_TABLES]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # A test that left a transaction open would otherwise hang the suite here.
            conn.exec_driver_sql("SET LOCAL lock_timeout = '20s'")
            conn.exec_driver_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        else:
            for table in tables:
                conn.exec_driver_sql(f"DELETE FROM {table}")
