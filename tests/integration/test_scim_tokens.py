"""A SCIM token is found only by the connection it was made for (adapter/db/scim_tokens.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adapter.clock import FrozenClock
from adapter.db.models import Connection, Store
from adapter.db.scim_tokens import ScimTokens
from tests.integration.test_ledger_and_links import run
from tests.support.rows import connection_columns, store_columns


def test_a_token_authenticates_its_own_connection_and_no_other(database_url: str) -> None:
    async def work(session: Any) -> None:
        now = datetime.now(UTC)
        store = Store(**store_columns(now))
        session.add(store)
        await session.flush()
        ours = Connection(**connection_columns(now, store.id, "ours"))
        theirs = Connection(**connection_columns(now, store.id, "theirs"))
        session.add_all([ours, theirs])
        await session.flush()
        tokens = ScimTokens(session, FrozenClock(now.timestamp()))
        row, token = await tokens.create(ours.id)
        caller = await tokens.find(ours.id, token)
        assert caller is not None and caller.token_id == row.id
        assert row.last_used_at is not None
        assert await tokens.find(theirs.id, token) is None
        assert await tokens.find(ours.id, token + "x") is None
        assert await tokens.find(ours.id, "") is None
        assert await tokens.revoke(ours.id, row.id)
        assert await tokens.find(ours.id, token) is None

    run(database_url, work)
