"""Faults of the adapter's own database, for flow tests: unreachable, or failing one call."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.exc import OperationalError

from adapter.db.engine import create_engine, create_sessionmaker
from adapter.db.hot_path import open_login_store
from tests.support.world import World


def outage(statement: str = "DELETE FROM used_values") -> OperationalError:
    """What the driver raises when the server goes away under a statement."""
    return OperationalError(statement, {}, ConnectionResetError("server closed the connection"))


@contextmanager
def database_down(world: World) -> Iterator[None]:
    """The adapter's database unreachable, as when PostgreSQL restarts under it."""
    runtime = world.runtime
    assert runtime is not None
    if world.database_url.startswith("sqlite"):
        unreachable = "sqlite:////nonexistent-directory/sso-adapter.db"
    else:
        unreachable = "postgresql+psycopg://postgres@127.0.0.1:9/sso_adapter"
    kept = runtime.engine, runtime.sessions, runtime.login_store
    dead = create_engine(unreachable)
    runtime.engine, runtime.sessions = dead, create_sessionmaker(dead)
    # The hot path's store never connects: closing it has nothing to wait for.
    runtime.login_store = open_login_store(unreachable, pool_size=1, timeout_seconds=2)
    try:
        yield
    finally:
        runtime.engine, runtime.sessions, runtime.login_store = kept


def log_lines(captured: str, event: str) -> list[dict[str, Any]]:
    """The JSON log lines of one event in captured output."""
    lines = []
    for line in captured.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("event") == event:
            lines.append(record)
    return lines
