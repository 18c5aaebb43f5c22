"""The B2B Edition companies the adapter created, by connection and company key."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from adapter.clock import Clock
from adapter.db.models import B2bCompany


class B2bCompanies:
    def __init__(self, session: AsyncSession, clock: Clock):
        self._session = session
        self._clock = clock

    async def company_for(self, connection_id: int, key: str) -> int | None:
        return await self._session.scalar(
            select(B2bCompany.company_id).where(
                B2bCompany.connection_id == connection_id,
                B2bCompany.company_key == key.casefold(),
            )
        )

    def remember(self, connection_id: int, key: str, company_id: int) -> None:
        self._session.add(
            B2bCompany(
                connection_id=connection_id,
                company_key=key.casefold(),
                company_id=company_id,
                created_at=datetime.fromtimestamp(self._clock.now(), UTC),
            )
        )
