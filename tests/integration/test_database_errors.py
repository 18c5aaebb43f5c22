"""A database error names the statement that failed, never the values bound to it: those are
e-mail addresses, sealed secrets and one-time codes, and the error ends up in a traceback."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from adapter.db.engine import create_engine


def test_a_database_error_does_not_quote_the_parameters_of_its_statement(
    database_url: str,
) -> None:
    async def fail() -> None:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                await conn.execute(
                    sa.text("SELECT email FROM no_such_table WHERE email = :email"),
                    {"email": "grace.hopper@navy.example"},
                )
        finally:
            await engine.dispose()

    with pytest.raises(DBAPIError) as caught:
        asyncio.run(fail())
    assert "no_such_table" in str(caught.value)
    assert "grace.hopper@navy.example" not in str(caught.value)
