"""The SCIM directory of each connection: users, groups and their members, and the subjects
the IdP deprovisioned (blocked from logging in)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adapter.clock import Clock
from adapter.db.models import (
    BlockedSubject,
    ExchangeCode,
    IssuedCustomerToken,
    Link,
    ScimGroup,
    ScimGroupMember,
    ScimUser,
)


class NotUnique(Exception):
    """A userName, displayName or subject another resource of the connection holds."""


def fold(value: str) -> str:
    """How userName and displayName compare: case-insensitively (RFC 7643 section 2.1)."""
    return value.casefold()


def new_id() -> str:
    return str(uuid.uuid4())


class ScimDirectory:
    def __init__(self, session: AsyncSession, clock: Clock):
        self._session = session
        self._clock = clock

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.now(), UTC)

    async def flush(self) -> None:
        """Write what is pending; a uniqueness clash is NotUnique."""
        try:
            await self._session.flush()
        except IntegrityError:
            raise NotUnique() from None

    # -- users -------------------------------------------------------------------------------

    async def user(
        self, connection_id: int, user_id: str, *, for_update: bool = False
    ) -> ScimUser | None:
        """`for_update`: locked until the transaction ends (two writes of one user queue)."""
        row = await self._session.get(ScimUser, user_id, with_for_update=for_update)
        return row if row is not None and row.connection_id == connection_id else None

    async def users_where(self, connection_id: int, attribute: str, value: str) -> list[ScimUser]:
        column: Any = {
            "username": ScimUser.user_name_key,
            "externalid": ScimUser.external_id,
            "id": ScimUser.id,
        }[attribute]
        wanted = fold(value) if attribute == "username" else value
        return list(
            await self._session.scalars(
                select(ScimUser)
                .where(ScimUser.connection_id == connection_id, column == wanted)
                .order_by(ScimUser.created_at, ScimUser.id)
            )
        )

    async def users_page(
        self, connection_id: int, offset: int, limit: int
    ) -> tuple[int, list[ScimUser]]:
        total = await self._session.scalar(
            select(func.count())
            .select_from(ScimUser)
            .where(ScimUser.connection_id == connection_id)
        )
        rows = await self._session.scalars(
            select(ScimUser)
            .where(ScimUser.connection_id == connection_id)
            .order_by(ScimUser.created_at, ScimUser.id)
            .offset(offset)
            .limit(limit)
        )
        return int(total or 0), list(rows)

    async def all_users(self, connection_id: int, cap: int) -> list[ScimUser]:
        return list(
            await self._session.scalars(
                select(ScimUser)
                .where(ScimUser.connection_id == connection_id)
                .order_by(ScimUser.created_at, ScimUser.id)
                .limit(cap)
            )
        )

    async def users_by_ids(self, connection_id: int, ids: Iterable[str]) -> list[ScimUser]:
        wanted = sorted(set(ids))
        if not wanted:
            return []
        return list(
            await self._session.scalars(
                select(ScimUser).where(
                    ScimUser.connection_id == connection_id, ScimUser.id.in_(wanted)
                )
            )
        )

    def add_user(self, row: ScimUser) -> None:
        self._session.add(row)

    async def delete_user(self, row: ScimUser) -> None:
        await self._session.delete(row)

    # -- groups ------------------------------------------------------------------------------

    async def group(
        self, connection_id: int, group_id: str, *, for_update: bool = False
    ) -> ScimGroup | None:
        row = await self._session.get(ScimGroup, group_id, with_for_update=for_update)
        return row if row is not None and row.connection_id == connection_id else None

    async def groups_where(self, connection_id: int, attribute: str, value: str) -> list[ScimGroup]:
        column: Any = {
            "displayname": ScimGroup.display_name_key,
            "externalid": ScimGroup.external_id,
            "id": ScimGroup.id,
        }[attribute]
        wanted = fold(value) if attribute == "displayname" else value
        return list(
            await self._session.scalars(
                select(ScimGroup)
                .where(ScimGroup.connection_id == connection_id, column == wanted)
                .order_by(ScimGroup.created_at, ScimGroup.id)
            )
        )

    async def groups_page(
        self, connection_id: int, offset: int, limit: int
    ) -> tuple[int, list[ScimGroup]]:
        total = await self._session.scalar(
            select(func.count())
            .select_from(ScimGroup)
            .where(ScimGroup.connection_id == connection_id)
        )
        rows = await self._session.scalars(
            select(ScimGroup)
            .where(ScimGroup.connection_id == connection_id)
            .order_by(ScimGroup.created_at, ScimGroup.id)
            .offset(offset)
            .limit(limit)
        )
        return int(total or 0), list(rows)

    async def all_groups(self, connection_id: int, cap: int) -> list[ScimGroup]:
        return list(
            await self._session.scalars(
                select(ScimGroup)
                .where(ScimGroup.connection_id == connection_id)
                .order_by(ScimGroup.created_at, ScimGroup.id)
                .limit(cap)
            )
        )

    def add_group(self, row: ScimGroup) -> None:
        self._session.add(row)

    async def delete_group(self, row: ScimGroup) -> None:
        await self._session.delete(row)

    async def members(self, group_id: str) -> dict[str, str | None]:
        """The group's members: user id to the `display` the IdP gave, in userName order."""
        rows = await self._session.execute(
            select(ScimGroupMember.user_id, ScimGroupMember.display)
            .join(ScimUser, ScimGroupMember.user_id == ScimUser.id)
            .where(ScimGroupMember.group_id == group_id)
            .order_by(ScimUser.user_name_key)
        )
        return {r[0]: r[1] for r in rows}

    async def set_members(
        self, group_id: str, wanted: Mapping[str, str | None], had: Mapping[str, str | None]
    ) -> None:
        gone = set(had) - set(wanted)
        if gone:
            await self._session.execute(
                delete(ScimGroupMember).where(
                    ScimGroupMember.group_id == group_id, ScimGroupMember.user_id.in_(gone)
                )
            )
        for user_id in sorted(set(wanted) & set(had)):
            if wanted[user_id] != had[user_id]:
                await self._session.execute(
                    update(ScimGroupMember)
                    .where(ScimGroupMember.group_id == group_id, ScimGroupMember.user_id == user_id)
                    .values(display=wanted[user_id])
                )
        for user_id in sorted(set(wanted) - set(had)):
            self._session.add(
                ScimGroupMember(group_id=group_id, user_id=user_id, display=wanted[user_id])
            )

    async def groups_of(self, user_id: str) -> list[ScimGroup]:
        return list(
            await self._session.scalars(
                select(ScimGroup)
                .join(ScimGroupMember, ScimGroupMember.group_id == ScimGroup.id)
                .where(ScimGroupMember.user_id == user_id)
                .order_by(ScimGroup.display_name_key)
            )
        )

    # -- blocks ------------------------------------------------------------------------------

    async def blocked(self, connection_id: int, subject: str) -> BlockedSubject | None:
        return await self._session.get(BlockedSubject, (connection_id, subject))

    async def block(
        self, *, store_id: int, connection_id: int, subject: str
    ) -> tuple[BlockedSubject, bool]:
        """The subject's block, made now unless it exists; whether it was made now. Its
        linked customer's pending headless codes are deleted with it."""
        existing = await self.blocked(connection_id, subject)
        if existing is not None:
            return existing, False
        link = await self._session.scalar(
            select(Link).where(Link.connection_id == connection_id, Link.subject == subject)
        )
        row = BlockedSubject(
            connection_id=connection_id,
            subject=subject,
            store_id=store_id,
            customer_id=None if link is None else link.customer_id,
            undo={},
            settled=False,
            created_at=self.now(),
        )
        self._session.add(row)
        if link is not None:
            await self._session.execute(
                delete(ExchangeCode).where(
                    ExchangeCode.store_id == store_id, ExchangeCode.customer_id == link.customer_id
                )
            )
        return row, True

    async def unblock(self, row: BlockedSubject) -> None:
        await self._session.delete(row)

    async def customer_blocked(self, store_id: int, customer_id: int) -> bool:
        found = await self._session.scalar(
            select(BlockedSubject.subject)
            .where(BlockedSubject.store_id == store_id, BlockedSubject.customer_id == customer_id)
            .limit(1)
        )
        return found is not None

    # -- customer access tokens handed to headless storefronts ---------------------------------

    async def issued_tokens(self, store_id: int, customer_id: int) -> Sequence[IssuedCustomerToken]:
        return list(
            await self._session.scalars(
                select(IssuedCustomerToken).where(
                    IssuedCustomerToken.store_id == store_id,
                    IssuedCustomerToken.customer_id == customer_id,
                    IssuedCustomerToken.expires_at > self.now(),
                )
            )
        )

    async def forget_token(self, token_id: int) -> None:
        await self._session.execute(
            delete(IssuedCustomerToken).where(IssuedCustomerToken.id == token_id)
        )
