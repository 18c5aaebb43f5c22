"""SCIM bearer tokens: made for one connection, shown once, stored as SHA-256, revocable."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from adapter.clock import Clock
from adapter.db.engine import rows_changed
from adapter.db.models import ScimToken
from adapter.db.tokens import token_digest

SCIM_TOKEN_PREFIX = "ssoa_scim_"  # noqa: S105 - a prefix, not a secret
LAST_USED_GRANULARITY = timedelta(minutes=1)


@dataclass(frozen=True)
class ScimCaller:
    """Who is calling a SCIM endpoint: a token of that connection."""

    token_id: int
    connection_id: int


class ScimTokens:
    def __init__(self, session: AsyncSession, clock: Clock):
        self._session = session
        self._clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.now(), UTC)

    async def create(self, connection_id: int) -> tuple[ScimToken, str]:
        token = SCIM_TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = ScimToken(
            connection_id=connection_id, token_hash=token_digest(token), created_at=self._now()
        )
        self._session.add(row)
        await self._session.flush()
        return row, token

    async def list(self, connection_id: int) -> list[ScimToken]:
        return list(
            await self._session.scalars(
                select(ScimToken)
                .where(ScimToken.connection_id == connection_id)
                .order_by(ScimToken.id)
            )
        )

    async def revoke(self, connection_id: int, token_id: int) -> bool:
        return bool(
            await rows_changed(
                self._session,
                delete(ScimToken).where(
                    ScimToken.connection_id == connection_id, ScimToken.id == token_id
                ),
            )
        )

    async def find(self, connection_id: int, token: str) -> ScimCaller | None:
        """The caller if `token` is one of this connection's; a token of any other
        connection is no token here."""
        digest = token_digest(token)
        row = await self._session.scalar(select(ScimToken).where(ScimToken.token_hash == digest))
        # Compared again in constant time: the index lookup is not.
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            return None
        if row.connection_id != connection_id:
            return None
        now = self._now()
        # Noted once a minute at most: a sync run of thousands of requests writes a handful.
        if row.last_used_at is None or now - row.last_used_at > LAST_USED_GRANULARITY:
            row.last_used_at = now
        return ScimCaller(token_id=row.id, connection_id=row.connection_id)
