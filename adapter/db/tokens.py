"""Admin API tokens: created once and shown once, stored as SHA-256, with scopes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from adapter.clock import Clock
from adapter.db.engine import rows_changed
from adapter.db.models import AdminToken

SCOPES = ("stores:read", "stores:write", "links:read", "links:write", "events:read")
# Actor names the adapter writes itself: a token may not pose as one of them.
RESERVED_ACTORS = frozenset({"bootstrap", "cli:apply", "cli:scim-token"})
TOKEN_PREFIX = "ssoa_"  # noqa: S105 - a prefix, not a secret


@dataclass(frozen=True)
class Principal:
    """Who is calling the admin API, and what they may do."""

    name: str
    scopes: frozenset[str]


def token_digest(token: str) -> str:
    # Tokens are 256-bit random: a plain SHA-256 is as good as a slow hash here.
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class TokenRepository:
    def __init__(self, session: AsyncSession, clock: Clock):
        self._session = session
        self._clock = clock

    async def create(self, name: str, scopes: list[str]) -> str:
        token = new_token()
        self._session.add(
            AdminToken(
                name=name,
                token_hash=token_digest(token),
                scopes=sorted(set(scopes)),
                created_at=datetime.fromtimestamp(self._clock.now(), UTC),
            )
        )
        await self._session.flush()
        return token

    async def find(self, token: str) -> Principal | None:
        digest = token_digest(token)
        row = await self._session.scalar(select(AdminToken).where(AdminToken.token_hash == digest))
        # Compared again in constant time: the index lookup is not.
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            return None
        return Principal(name=row.name, scopes=frozenset(row.scopes))

    async def list(self) -> list[AdminToken]:
        return list(await self._session.scalars(select(AdminToken).order_by(AdminToken.name)))

    async def revoke(self, name: str) -> bool:
        return bool(
            await rows_changed(self._session, delete(AdminToken).where(AdminToken.name == name))
        )
