"""Creation intents: what the adapter was about to create at BigCommerce, and since when.

Concurrency contract: an intent is written, in its own committed transaction, before the
create request leaves; it is deleted in the transaction that writes the subject's link. Any
number of open intents of one subject may exist (each attempt that reached BigCommerce wrote
one); the oldest one that is not too old bounds which customer may be adopted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from adapter.clock import Clock
from adapter.db.engine import rows_changed
from adapter.db.models import CreationIntent

# How long an unanswered creation may be adopted by the subject's next login. A day covers
# "the shopper tries again later today"; older intents no longer vouch for anything.
INTENT_TTL_SECONDS = 24 * 3600.0


class IntentRepository:
    def __init__(self, session: AsyncSession, clock: Clock):
        self._session = session
        self._clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.now(), UTC)

    def record(self, *, store_id: int, connection_id: int, subject: str, email: str) -> datetime:
        """Record an intent (flushed with the caller's transaction); returns its time."""
        now = self._now()
        self._session.add(
            CreationIntent(
                store_id=store_id,
                connection_id=connection_id,
                subject=subject,
                email=email,
                created_at=now,
            )
        )
        return now

    async def oldest_open(self, connection_id: int, subject: str, email: str) -> datetime | None:
        """When the oldest open intent of this subject for this e-mail was recorded."""
        since = self._now() - timedelta(seconds=INTENT_TTL_SECONDS)
        return await self._session.scalar(
            select(CreationIntent.created_at)
            .where(
                CreationIntent.connection_id == connection_id,
                CreationIntent.subject == subject,
                func.lower(CreationIntent.email) == email.lower(),
                CreationIntent.created_at > since,
            )
            .order_by(CreationIntent.created_at)
            .limit(1)
        )

    async def close(self, connection_id: int, subject: str) -> None:
        """The subject is linked: its intents are settled."""
        await self._session.execute(
            delete(CreationIntent).where(
                CreationIntent.connection_id == connection_id,
                CreationIntent.subject == subject,
            )
        )

    async def purge_expired(self) -> int:
        since = self._now() - timedelta(seconds=INTENT_TTL_SECONDS)
        return await rows_changed(
            self._session, delete(CreationIntent).where(CreationIntent.created_at <= since)
        )
