"""The identity mapping table: (connection, subject) -> BigCommerce customer id."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adapter.clock import Clock
from adapter.db.models import Link


class LinkExists(Exception):
    """The subject, or the customer, is linked already within this connection."""


class LinkRepository:
    def __init__(self, session: AsyncSession, clock: Clock):
        self._session = session
        self._clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.now(), UTC)

    async def find(self, connection_id: int, subject: str) -> Link | None:
        return await self._session.scalar(
            select(Link).where(Link.connection_id == connection_id, Link.subject == subject)
        )

    async def find_for_customer(self, connection_id: int, customer_id: int) -> Link | None:
        return await self._session.scalar(
            select(Link)
            .where(Link.connection_id == connection_id, Link.customer_id == customer_id)
            .limit(1)
        )

    async def create(
        self,
        *,
        store_id: int,
        connection_id: int,
        subject: str,
        customer_id: int,
        email: str | None,
    ) -> Link:
        link = Link(
            store_id=store_id,
            connection_id=connection_id,
            subject=subject,
            customer_id=customer_id,
            email=email,
            created_at=self._now(),
            login_count=0,
        )
        self._session.add(link)
        try:
            await self._session.flush()
        except IntegrityError:
            # The caller's transaction is now unusable and must be rolled back.
            raise LinkExists(subject) from None
        return link

    async def record_login(self, link_id: int, email: str | None) -> None:
        values: dict[str, object] = {
            "last_login_at": self._now(),
            "login_count": Link.login_count + 1,
        }
        if email:
            values["email"] = email
        await self._session.execute(update(Link).where(Link.id == link_id).values(**values))

    async def for_store(self, store_id: int) -> list[Link]:
        return list(await self._session.scalars(select(Link).where(Link.store_id == store_id)))
