"""The statements of a login's hot path: written once in SQLAlchemy Core against the models,
compiled once per dialect to the driver's own SQL and parameter order.

Compiled here, run by `postgres` (asyncpg, which prepares each statement once per connection)
and `sqlite` (the standard library's driver): no session, no unit of work, no result
processing between a login and its row. Values go in as the column stores them (naive UTC
datetimes, JSON as text); each runner converts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Insert,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import asyncpg as postgresql_asyncpg
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement

from adapter.db.models import AuditEvent, BlockedSubject, Link, LoginState, UsedValue

STATE_COLUMNS = (
    "key_hash",
    "browser_hash",
    "store_id",
    "connection_id",
    "channel_id",
    "redirect_to",
    "payload_sealed",
    "created_at",
    "expires_at",
)
AUDIT_COLUMNS = (
    "created_at",
    "store_slug",
    "connection_slug",
    "kind",
    "outcome",
    "reason",
    "reference",
    "actor",
    "subject",
    "customer_id",
    "email",
    "details",
)


def _column(table: Any, name: str) -> Column[Any]:
    column: Column[Any] = table.__table__.c[name]
    return column


def _binds(table: Any, names: tuple[str, ...], prefix: str) -> dict[str, Any]:
    """One typed parameter per column, named `<prefix><column>` (typed, so PostgreSQL knows
    what a parameter in a SELECT list is)."""
    return {n: bindparam(prefix + n, type_=_column(table, n).type) for n in names}


def _state_row() -> dict[str, Any]:
    return _binds(LoginState, STATE_COLUMNS, "state_")


def _audit_row() -> dict[str, Any]:
    return _binds(AuditEvent, AUDIT_COLUMNS, "audit_")


def _claim(dialect_insert: Any) -> Any:
    """A one-time value, claimed unless someone holds it unexpired: an expired holder's row
    is taken over in the same statement."""
    statement = dialect_insert(UsedValue).values(
        namespace=bindparam("claim_namespace"),
        value_hash=bindparam("claim_value_hash"),
        expires_at=bindparam("claim_expires_at", type_=UsedValue.__table__.c.expires_at.type),
    )
    return statement.on_conflict_do_update(
        index_elements=[UsedValue.namespace, UsedValue.value_hash],
        set_={"expires_at": statement.excluded.expires_at},
        where=UsedValue.expires_at <= bindparam("claim_now", type_=UsedValue.expires_at.type),
    ).returning(UsedValue.value_hash)


KEEP_STATE = insert(LoginState).values(_state_row())
TAKE_STATE = (
    delete(LoginState)
    .where(LoginState.key_hash == bindparam("key_hash"))
    .returning(*(_column(LoginState, n) for n in STATE_COLUMNS))
)
# Always one row: the link (or NULLs) and whether the IdP deprovisioned the subject, so a
# login learns both in one round trip.
_ONE_ROW = select(literal(1).label("one")).subquery("one_row")
FIND_LINK = select(
    Link.id,
    Link.customer_id,
    exists()
    .where(
        BlockedSubject.connection_id == bindparam("connection_id"),
        BlockedSubject.subject == bindparam("subject"),
    )
    .label("blocked"),
).select_from(
    _ONE_ROW.outerjoin(
        Link,
        and_(
            Link.connection_id == bindparam("connection_id"),
            Link.subject == bindparam("subject"),
        ),
    )
)
TOUCH_LINK = (
    update(Link)
    .where(Link.id == bindparam("link_id"))
    .values(
        last_login_at=bindparam("now", type_=Link.__table__.c.last_login_at.type),
        login_count=Link.login_count + 1,
        # The IdP's current address, when it sent one.
        email=func.coalesce(bindparam("email", type_=Link.email.type), Link.email),
    )
)
ADD_AUDIT = insert(AuditEvent).values(_audit_row())


def _record_login_in_one_statement() -> Insert:
    """PostgreSQL: the link's login and its audit event as one statement, so one round trip
    and one implicit transaction (a data-modifying WITH runs whether or not it is read)."""
    touched = TOUCH_LINK.returning(Link.id).cte("touched")
    return insert(AuditEvent).values(_audit_row()).add_cte(touched)


def _claim_and_keep_in_one_statement() -> Insert:
    """PostgreSQL: claim the value and, only if claimed, keep the login state."""
    claimed = _claim(postgresql.insert).cte("claimed")
    row = _state_row()
    return (
        insert(LoginState)
        .from_select(list(row), select(*row.values()).select_from(claimed))
        .returning(LoginState.key_hash)
    )


@dataclass(frozen=True)
class Compiled:
    """A statement as its driver takes it: the SQL, and the parameter names in order."""

    sql: str
    names: tuple[str, ...]
    # Values the statement carries itself (the 1 of `login_count + 1`).
    fixed: dict[str, Any]

    def arguments(self, values: dict[str, Any]) -> list[Any]:
        return [values[name] if name in values else self.fixed[name] for name in self.names]


def compile_for(statement: ClauseElement, dialect: Dialect) -> Compiled:
    compiled = statement.compile(dialect=dialect)
    # Both dialects here take positional parameters: the compiler lists their order.
    names = tuple(getattr(compiled, "positiontup", None) or ())
    fixed = {k: v for k, v in compiled.params.items() if v is not None}
    return Compiled(str(compiled), names, fixed)


@dataclass(frozen=True)
class PostgresStatements:
    keep_state: Compiled
    take_state: Compiled
    find_link: Compiled
    record_login: Compiled
    claim: Compiled
    claim_and_keep: Compiled


@dataclass(frozen=True)
class SqliteStatements:
    keep_state: Compiled
    take_state: Compiled
    find_link: Compiled
    touch_link: Compiled
    add_audit: Compiled
    claim: Compiled


def postgres_statements() -> PostgresStatements:
    dialect = postgresql_asyncpg.dialect()  # type: ignore[no-untyped-call]
    return PostgresStatements(
        keep_state=compile_for(KEEP_STATE, dialect),
        take_state=compile_for(TAKE_STATE, dialect),
        find_link=compile_for(FIND_LINK, dialect),
        record_login=compile_for(_record_login_in_one_statement(), dialect),
        claim=compile_for(_claim(postgresql.insert), dialect),
        claim_and_keep=compile_for(_claim_and_keep_in_one_statement(), dialect),
    )


def sqlite_statements() -> SqliteStatements:
    dialect = sqlite.dialect(paramstyle="qmark")
    return SqliteStatements(
        keep_state=compile_for(KEEP_STATE, dialect),
        take_state=compile_for(TAKE_STATE, dialect),
        find_link=compile_for(FIND_LINK, dialect),
        touch_link=compile_for(TOUCH_LINK, dialect),
        add_audit=compile_for(ADD_AUDIT, dialect),
        claim=compile_for(_claim(sqlite.insert), dialect),
    )
