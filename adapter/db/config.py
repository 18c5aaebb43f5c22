"""Stores, channels and connections as rows: lookups, writes and the sealing of secrets.

Persistence only. What may be written (validation, URL rules, the secret-destination rule,
SAML key generation, turning an admin body into rows) is
`adapter.services.configuration`'s, which the admin API and `apply` share.

Secrets are sealed before they reach a row and opened only when a record is loaded for use.
Each sealed value is bound to a context naming where it lives; the functions below are the one
place those contexts are spelled, for sealing, opening and re-sealing alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from adapter.clock import Clock
from adapter.core.destinations import DEFAULT_B2B_API_BASE_URL
from adapter.core.records import B2bSettings, ChannelRecord, StoreRecord
from adapter.core.secretbox import SecretBox
from adapter.db.models import Channel, Connection, Store


def store_context(store_slug: str, secret: str) -> str:
    return f"store:{store_slug}:{secret}"


def channel_context(store_slug: str, channel_id: int, secret: str) -> str:
    return f"store:{store_slug}:channel:{channel_id}:{secret}"


def connection_context(store_slug: str, slug: str) -> str:
    return f"store:{store_slug}:connection:{slug}"


def sp_key_context(store_slug: str, slug: str) -> str:
    return f"{connection_context(store_slug, slug)}:sp_key"


@dataclass(frozen=True)
class StoredConnection:
    """A connection row with its secrets opened; `settings` as stored (the body, as JSON)."""

    id: int
    store_id: int
    slug: str
    protocol: str
    settings: dict[str, Any]
    client_secret: str | None
    sp_private_key: str | None
    sp_certificate: str | None
    updated_at: float


class ConfigRepository:
    def __init__(self, session: AsyncSession, box: SecretBox, clock: Clock):
        self._session = session
        self._box = box
        self._clock = clock

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.now(), UTC)

    def seal(self, value: str, context: str) -> str:
        return self._box.seal(value, context=context)

    def open(self, value: str, context: str) -> str:
        return self._box.open(value, context=context)

    def _open(self, value: str | None, context: str) -> str | None:
        return None if value is None else self._box.open(value, context=context)

    # -- stores ---------------------------------------------------------------------------

    async def _store_row(self, slug: str) -> Store | None:
        return await self._session.scalar(
            select(Store).where(Store.slug == slug).options(selectinload(Store.channels))
        )

    def add(self, row: Store | Connection) -> None:
        self._session.add(row)

    async def flush(self) -> None:
        await self._session.flush()

    async def replace_channels(self, row: Store, channels: list[Channel], *, created: bool) -> None:
        if not created:
            # Old channel rows go first: the unit of work would insert before deleting and
            # trip the (store, channel_id) unique constraint.
            row.channels.clear()
            await self._session.flush()
        row.channels = channels
        await self._session.flush()

    def _store_record(self, row: Store) -> StoreRecord:
        slug = row.slug
        channels = tuple(
            ChannelRecord(
                channel_id=c.channel_id,
                kind=c.kind,
                storefront_url=c.storefront_url,
                delivery=c.delivery,
                login_token_path=c.login_token_path,
                graphql_url=c.graphql_url,
                storefront_token=self._open(
                    c.storefront_token_sealed,
                    channel_context(slug, c.channel_id, "storefront_token"),
                ),
                return_url=c.return_url,
                exchange_secret=self._open(
                    c.exchange_secret_sealed, channel_context(slug, c.channel_id, "exchange_secret")
                ),
                logout_path=c.logout_path,
            )
            for c in row.channels
        )
        return StoreRecord(
            id=row.id,
            slug=row.slug,
            store_hash=row.store_hash,
            client_id=row.client_id,
            client_secret=self._box.open(
                row.client_secret_sealed, context=store_context(slug, "client_secret")
            ),
            api_token=self._box.open(
                row.api_token_sealed, context=store_context(slug, "api_token")
            ),
            api_base_url=row.api_base_url,
            default_channel_id=row.default_channel_id,
            bind_request_ip=row.bind_request_ip,
            app_client_id=row.app_client_id,
            app_client_secret=self._open(
                row.app_client_secret_sealed, store_context(slug, "app_client_secret")
            ),
            channels=channels,
            b2b=self._b2b_settings(row),
            uninstalled=row.app_uninstalled_at is not None,
        )

    def _b2b_settings(self, row: Store) -> B2bSettings | None:
        if not row.b2b_enabled:
            return None
        token = self._open(row.b2b_api_token_sealed, store_context(row.slug, "b2b_api_token"))
        return B2bSettings(
            api_base_url=row.b2b_api_base_url or DEFAULT_B2B_API_BASE_URL,
            api_token=token
            if token is not None
            else self._box.open(row.api_token_sealed, context=store_context(row.slug, "api_token")),
        )

    async def get_store(self, slug: str) -> StoreRecord | None:
        row = await self._store_row(slug)
        return None if row is None else self._store_record(row)

    # -- connections ----------------------------------------------------------------------

    async def _connection_row(self, store_id: int, slug: str) -> Connection | None:
        return await self._session.scalar(
            select(Connection).where(Connection.store_id == store_id, Connection.slug == slug)
        )

    async def get_connection(
        self, store_slug: str, slug: str
    ) -> tuple[StoreRecord, StoredConnection] | None:
        store = await self._store_row(store_slug)
        if store is None:
            return None
        row = await self._connection_row(store.id, slug)
        if row is None:
            return None
        return self._store_record(store), StoredConnection(
            id=row.id,
            store_id=store.id,
            slug=row.slug,
            protocol=row.protocol,
            settings=dict(row.settings or {}),
            client_secret=self._open(
                row.client_secret_sealed, connection_context(store_slug, slug)
            ),
            sp_private_key=self._open(row.sp_private_key_sealed, sp_key_context(store_slug, slug)),
            sp_certificate=row.sp_certificate,
            updated_at=row.updated_at.timestamp(),
        )

    # -- listing and deleting (admin API) ---------------------------------------------------

    async def list_store_rows(self) -> list[Store]:
        rows = await self._session.scalars(
            select(Store).options(selectinload(Store.channels)).order_by(Store.slug)
        )
        return list(rows)

    async def store_row(self, slug: str) -> Store | None:
        return await self._store_row(slug)

    async def delete_store(self, slug: str) -> bool:
        row = await self._store_row(slug)
        if row is None:
            return False
        await self._session.delete(row)
        await self._session.flush()
        return True

    async def connection_rows(self, store_id: int) -> list[Connection]:
        rows = await self._session.scalars(
            select(Connection).where(Connection.store_id == store_id).order_by(Connection.slug)
        )
        return list(rows)

    async def connection_row(self, store_id: int, slug: str) -> Connection | None:
        return await self._connection_row(store_id, slug)

    async def delete_connection(self, store_id: int, slug: str) -> bool:
        row = await self._connection_row(store_id, slug)
        if row is None:
            return False
        await self._session.delete(row)
        await self._session.flush()
        return True


async def reseal_all(session: AsyncSession, box: SecretBox) -> int:
    """Re-seal every stored secret that an older master key sealed; returns how many.

    Each value is swapped only if it is still the one read (compare and set), so a secret
    changed or a login finished meanwhile is left alone rather than overwritten or failed.
    """
    from adapter.db.models import LoginState

    stores = {row.id: row.slug for row in await session.execute(select(Store.id, Store.slug))}
    columns: list[tuple[Any, Any, Any, Any]] = []  # (table, key column, value column, context)
    for column in (
        "client_secret_sealed",
        "api_token_sealed",
        "app_client_secret_sealed",
        "b2b_api_token_sealed",
    ):
        name = column.removesuffix("_sealed")
        columns.append(
            (Store, Store.id, getattr(Store, column), lambda r, n=name: store_context(r.slug, n))
        )
    for column in ("storefront_token_sealed", "exchange_secret_sealed"):
        name = column.removesuffix("_sealed")
        columns.append(
            (
                Channel,
                Channel.id,
                getattr(Channel, column),
                lambda r, n=name: channel_context(stores[r.store_id], r.channel_id, n),
            )
        )
    columns.append(
        (
            Connection,
            Connection.id,
            Connection.client_secret_sealed,
            lambda r: connection_context(stores[r.store_id], r.slug),
        )
    )
    columns.append(
        (
            Connection,
            Connection.id,
            Connection.sp_private_key_sealed,
            lambda r: sp_key_context(stores[r.store_id], r.slug),
        )
    )
    columns.append(
        (
            LoginState,
            LoginState.key_hash,
            LoginState.payload_sealed,
            lambda r: f"login-state:{r.key_hash}",
        )
    )
    count = 0
    for table, key, value, context in columns:
        for row in (await session.execute(select(table).where(value.is_not(None)))).scalars():
            old = getattr(row, value.key)
            if not box.needs_reseal(old):
                continue
            ctx = context(row)
            new = box.seal(box.open(old, context=ctx), context=ctx)
            swapped = await session.scalar(
                update(table)
                .where(key == getattr(row, key.key), value == old)
                .values({value.key: new})
                .returning(key)
                .execution_options(synchronize_session=False)
            )
            count += swapped is not None
    return count
