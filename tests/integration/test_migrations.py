"""The Alembic revisions build exactly the models' schema, and undo it cleanly."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from adapter.db.migrate import (
    downgrade,
    head_revision,
    known_revisions,
    schema_refusal,
    upgrade,
)
from adapter.db.models import Base
from tests.support.databases import fresh_database, sync_url


def _drift(url: str) -> list[object]:
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(sync_url(url))
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_to_head_matches_the_models_then_downgrades_and_upgrades_again(
    tmp_path: Path,
) -> None:
    url = fresh_database(tmp_path, "migrations_roundtrip")

    upgrade(url)
    assert _drift(url) == []
    assert _tables(url) == set(Base.metadata.tables)

    downgrade(url, "base")
    assert _tables(url) == set()

    upgrade(url)
    assert _drift(url) == []


def test_revision_files_follow_the_naming_rule() -> None:
    versions = Path(__file__).resolve().parents[2] / "migrations" / "versions"
    for path in versions.glob("*.py"):
        rev, _, slug = path.stem.partition("_")
        assert rev.isdigit() and slug, path.name
    assert head_revision("sqlite://") is not None


KNOWN = ("0005", "0004", "0003")


def test_a_release_serves_its_own_schema() -> None:
    assert schema_refusal(KNOWN, "0005", None) is None


def test_a_release_refuses_a_schema_older_than_its_own() -> None:
    assert "run migrate" in (schema_refusal(KNOWN, "0004", "0004") or "")
    assert "run migrate" in (schema_refusal(KNOWN, None, None) or "")


def test_a_release_serves_a_newer_schema_that_still_serves_it() -> None:
    assert schema_refusal(KNOWN, "0007", "0005") is None
    assert schema_refusal(KNOWN, "0007", "0004") is None


def test_a_release_refuses_a_newer_schema_that_no_longer_serves_it() -> None:
    assert "no longer serves" in (schema_refusal(KNOWN, "0007", "0006") or "")
    assert "no longer serves" in (schema_refusal(KNOWN, "0007", None) or "")


def test_the_compatibility_row_names_a_revision_that_exists(tmp_path: Path) -> None:
    url = fresh_database(tmp_path, "compatibility_row")
    upgrade(url)
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            oldest = conn.exec_driver_sql(
                "SELECT oldest_code_revision FROM schema_compatibility"
            ).scalar_one()
    finally:
        engine.dispose()
    assert oldest in known_revisions(url)


def test_the_previous_release_keeps_serving_after_creation_intents_are_added(
    tmp_path: Path,
) -> None:
    # 0006 only adds a table: a replica of the 0005 release, still running during a rolling
    # upgrade, must stay ready on the new schema.
    url = fresh_database(tmp_path, "previous_release")
    upgrade(url)
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            oldest = conn.exec_driver_sql(
                "SELECT oldest_code_revision FROM schema_compatibility"
            ).scalar_one()
    finally:
        engine.dispose()
    previous_release = ("0005", "0004", "0003", "0002", "0001")
    assert schema_refusal(previous_release, head_revision(url), oldest) is None
