"""Running Alembic from the program (`sso-adapter migrate`, `serve` on SQLite, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


def migrations_dir() -> Path:
    installed = Path(__file__).resolve().parents[1] / "_migrations"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", database_url)
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


def head_revision(database_url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()


def known_revisions(database_url: str) -> tuple[str, ...]:
    """This release's revisions, newest first."""
    script = ScriptDirectory.from_config(alembic_config(database_url))
    return tuple(r.revision for r in script.walk_revisions())


def schema_refusal(
    known: tuple[str, ...], database_revision: str | None, oldest_code_revision: str | None
) -> str | None:
    """Why this release must not serve on the database's schema, or None when it may.

    `known` is this release's revisions, newest first. The schema may be this release's own,
    or newer (a later release migrated it during a rolling upgrade) as long as the database
    says code as old as this release still works on it.
    """
    head = known[0] if known else None
    if database_revision == head:
        return None
    if database_revision is None or database_revision in known:
        return f"schema {database_revision} is older than this release's {head}: run migrate"
    if oldest_code_revision not in known:
        return (
            f"schema {database_revision} no longer serves this release's {head} "
            f"(oldest code it serves: {oldest_code_revision})"
        )
    return None


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


async def oldest_code_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        revision: str | None = await connection.scalar(
            text("SELECT oldest_code_revision FROM schema_compatibility WHERE id = 1")
        )
        return revision
