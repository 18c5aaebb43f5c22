"""The database work of a returning login, one round trip per step, on the driver itself.

A login keeps its state (one INSERT), consumes it (one DELETE ... RETURNING), finds its link
(one SELECT) and records the login with its audit event (one statement on PostgreSQL, one
short transaction on SQLite); the SAML ACS claims the assertion and parks the identity in one
statement. Everything else (first logins, the admin API, purges) goes through SQLAlchemy
sessions as before: those paths are rare and keep their richer transactions.

`open_login_store` picks the runner for the configured database; rows cross this boundary
as the plain values below, with timezone-aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.engine import make_url

from adapter.errors import InternalFailure


class HotPathFailed(InternalFailure):
    """A statement of the hot path failed for a reason other than the database being away.
    Names the statement and the error class only: a driver's message can quote values."""


@dataclass(frozen=True)
class StateRow:
    """A login in flight, as stored (see `adapter.db.login_states`)."""

    key_hash: str
    browser_hash: str
    store_id: int
    connection_id: int
    channel_id: int
    redirect_to: str
    payload_sealed: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class FoundLink:
    link_id: int
    customer_id: int


@dataclass(frozen=True)
class LinkLookup:
    """A subject's link, if any, and whether the IdP deprovisioned the subject."""

    link: FoundLink | None
    blocked: bool


@dataclass(frozen=True)
class ClaimRow:
    """A one-time value to claim in the ledger (see `adapter.db.ledger`)."""

    namespace: str
    value_hash: str
    expires_at: datetime
    now: datetime


class LoginStore(Protocol):
    async def keep_state(self, row: StateRow) -> None: ...

    async def take_state(self, key_hash: str) -> StateRow | None:
        """The row, deleted in the same statement: of two takers, one gets it."""

    async def find_link(self, connection_id: int, subject: str) -> LinkLookup: ...

    async def record_login(
        self, link_id: int, email: str | None, now: datetime, audit: dict[str, Any]
    ) -> None:
        """The link's last login (and the IdP's e-mail, when given) with the audit event
        `audit` (the columns of `audit_events`), atomically."""

    async def claim(self, claim: ClaimRow) -> bool:
        """Whether this caller claimed the value (nobody holds it unexpired)."""

    async def claim_and_keep(self, claim: ClaimRow, row: StateRow) -> bool:
        """Claim the value and, only if claimed, keep the state; atomically."""

    async def close(self) -> None: ...


def open_login_store(database_url: str, *, pool_size: int, timeout_seconds: float) -> LoginStore:
    """The runner for `database_url`; it connects on first use, in the running event loop."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        from adapter.db.hot_path.sqlite import SqliteLoginStore

        return SqliteLoginStore(url.database or "", timeout_seconds=timeout_seconds)
    from adapter.db.hot_path.postgres import PostgresLoginStore

    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return PostgresLoginStore(dsn, pool_size=pool_size, timeout_seconds=timeout_seconds)
