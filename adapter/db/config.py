"""Stores, channels and connections: the service layer the admin API and `apply` use.

Secrets are sealed before they reach a row and opened only when a record is loaded for use.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from adapter.clock import Clock
from adapter.core.records import ChannelRecord, ConnectionRecord, StoreRecord
from adapter.core.secretbox import SecretBox
from adapter.core.urls import check_outbound_url
from adapter.db.models import Channel, Connection, Store
from adapter.errors import ConfigurationError
from adapter.schemas import (
    ChannelBody,
    OidcConnectionBody,
    SamlConnectionBody,
    StoreBody,
)


def _reveal(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()


class ConfigRepository:
    def __init__(
        self, session: AsyncSession, box: SecretBox, clock: Clock, *, allow_loopback: bool
    ):
        self._session = session
        self._box = box
        self._clock = clock
        self._allow_loopback = allow_loopback

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.now(), UTC)

    def _seal(self, value: str | None, context: str) -> str | None:
        return None if value is None else self._box.seal(value, context=context)

    def _open(self, value: str | None, context: str) -> str | None:
        return None if value is None else self._box.open(value, context=context)

    def check_url(self, field: str, url: str | None) -> None:
        if url is None:
            return
        reason = check_outbound_url(url, allow_insecure_loopback=self._allow_loopback)
        if reason:
            raise ConfigurationError(f"{field} {reason}", field=field, code="invalid_url")

    def _keep_or_seal(
        self, given: SecretStr | None, existing: str | None, context: str, field: str
    ) -> str:
        """A secret given is sealed; one omitted keeps the stored one; none at all is an error."""
        if given is not None:
            return self._box.seal(given.get_secret_value(), context=context)
        if existing is None:
            raise ConfigurationError(f"{field} is required", field=field, code="secret_required")
        return existing

    # -- stores ---------------------------------------------------------------------------

    async def _store_row(self, slug: str) -> Store | None:
        return await self._session.scalar(
            select(Store).where(Store.slug == slug).options(selectinload(Store.channels))
        )

    async def put_store(self, slug: str, body: StoreBody) -> bool:
        """Create or replace a store; True when it was created."""
        self.check_url("api_base_url", body.api_base_url)
        for channel in body.channels:
            prefix = f"channels[{channel.channel_id}]"
            self.check_url(f"{prefix}.storefront_url", channel.storefront_url)
            self.check_url(f"{prefix}.graphql_url", channel.graphql_url)
            self.check_url(f"{prefix}.return_url", channel.return_url)
        row = await self._store_row(slug)
        created = row is None
        now = self._now()
        if row is None:
            row = Store(slug=slug, created_at=now)
            self._session.add(row)
        ctx = f"store:{slug}"
        row.store_hash = body.store_hash
        row.client_id = body.client_id
        row.client_secret_sealed = self._keep_or_seal(
            body.client_secret,
            None if created else row.client_secret_sealed,
            f"{ctx}:client_secret",
            "client_secret",
        )
        row.api_token_sealed = self._keep_or_seal(
            body.api_token,
            None if created else row.api_token_sealed,
            f"{ctx}:api_token",
            "api_token",
        )
        row.api_base_url = body.api_base_url.rstrip("/")
        row.default_channel_id = body.default_channel_id
        row.bind_request_ip = body.bind_request_ip
        row.app_client_id = body.app_client_id
        if body.app_client_secret is not None or body.app_client_id is None:
            row.app_client_secret_sealed = self._seal(
                _reveal(body.app_client_secret), f"{ctx}:app_client_secret"
            )
        row.updated_at = now
        previous = {} if created else {c.channel_id: c for c in row.channels}
        new_channels = [
            self._channel_row(slug, c, previous.get(c.channel_id)) for c in body.channels
        ]
        if not created:
            # Old channel rows go first: the unit of work would insert before deleting and
            # trip the (store, channel_id) unique constraint.
            row.channels.clear()
            await self._session.flush()
        row.channels = new_channels
        await self._session.flush()
        return created

    def _channel_row(self, store_slug: str, body: ChannelBody, previous: Channel | None) -> Channel:
        ctx = f"store:{store_slug}:channel:{body.channel_id}"
        field = f"channels[{body.channel_id}]"
        storefront_token = exchange_secret = None
        if body.delivery == "access_token":
            storefront_token = self._keep_or_seal(
                body.storefront_token,
                previous.storefront_token_sealed if previous else None,
                f"{ctx}:storefront_token",
                f"{field}.storefront_token",
            )
            exchange_secret = self._keep_or_seal(
                body.exchange_secret,
                previous.exchange_secret_sealed if previous else None,
                f"{ctx}:exchange_secret",
                f"{field}.exchange_secret",
            )
        return Channel(
            channel_id=body.channel_id,
            kind=body.kind,
            storefront_url=body.storefront_url.rstrip("/"),
            delivery=body.delivery,
            login_token_path=body.login_token_path,
            graphql_url=body.graphql_url,
            storefront_token_sealed=storefront_token,
            return_url=body.return_url,
            exchange_secret_sealed=exchange_secret,
        )

    def _store_record(self, row: Store) -> StoreRecord:
        ctx = f"store:{row.slug}"
        channels = tuple(
            ChannelRecord(
                channel_id=c.channel_id,
                kind=c.kind,
                storefront_url=c.storefront_url,
                delivery=c.delivery,
                login_token_path=c.login_token_path,
                graphql_url=c.graphql_url,
                storefront_token=self._open(
                    c.storefront_token_sealed, f"{ctx}:channel:{c.channel_id}:storefront_token"
                ),
                return_url=c.return_url,
                exchange_secret=self._open(
                    c.exchange_secret_sealed, f"{ctx}:channel:{c.channel_id}:exchange_secret"
                ),
            )
            for c in row.channels
        )
        return StoreRecord(
            id=row.id,
            slug=row.slug,
            store_hash=row.store_hash,
            client_id=row.client_id,
            client_secret=self._box.open(row.client_secret_sealed, context=f"{ctx}:client_secret"),
            api_token=self._box.open(row.api_token_sealed, context=f"{ctx}:api_token"),
            api_base_url=row.api_base_url,
            default_channel_id=row.default_channel_id,
            bind_request_ip=row.bind_request_ip,
            app_client_id=row.app_client_id,
            app_client_secret=self._open(row.app_client_secret_sealed, f"{ctx}:app_client_secret"),
            channels=channels,
        )

    async def get_store(self, slug: str) -> StoreRecord | None:
        row = await self._store_row(slug)
        return None if row is None else self._store_record(row)

    # -- connections ----------------------------------------------------------------------

    async def put_connection(
        self, store_slug: str, slug: str, body: OidcConnectionBody | SamlConnectionBody
    ) -> bool:
        store = await self._store_row(store_slug)
        if store is None:
            raise ConfigurationError(f"store {store_slug!r} does not exist", code="unknown_store")
        known = {c.channel_id for c in store.channels}
        unknown = [c for c in body.channel_ids if c not in known]
        if unknown:
            raise ConfigurationError(
                f"channel_ids {unknown} are not channels of store {store_slug!r}",
                code="unknown_channel",
            )
        if isinstance(body, OidcConnectionBody):
            self.check_url("issuer", body.issuer)
        if isinstance(body, SamlConnectionBody):
            self.check_url("idp_metadata_url", body.idp_metadata_url)
        row = await self._connection_row(store.id, slug)
        created = row is None
        now = self._now()
        if row is None:
            row = Connection(store_id=store.id, slug=slug, created_at=now)
            self._session.add(row)
        context = f"store:{store_slug}:connection:{slug}"
        if isinstance(body, OidcConnectionBody):
            row.client_secret_sealed = self._keep_or_seal(
                body.client_secret,
                None if created or row.protocol != "oidc" else row.client_secret_sealed,
                context,
                "client_secret",
            )
        else:
            row.client_secret_sealed = None
        row.protocol = body.protocol
        row.settings = body.model_dump(mode="json", exclude={"client_secret"})
        row.updated_at = now
        await self._session.flush()
        return created

    async def _connection_row(self, store_id: int, slug: str) -> Connection | None:
        return await self._session.scalar(
            select(Connection).where(Connection.store_id == store_id, Connection.slug == slug)
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

    async def get_connection(
        self, store_slug: str, slug: str
    ) -> tuple[StoreRecord, ConnectionRecord] | None:
        store = await self._store_row(store_slug)
        if store is None:
            return None
        row = await self._connection_row(store.id, slug)
        if row is None:
            return None
        model = OidcConnectionBody if row.protocol == "oidc" else SamlConnectionBody
        settings = model.model_validate(row.settings)
        return self._store_record(store), ConnectionRecord(
            id=row.id,
            store_id=store.id,
            slug=row.slug,
            protocol=row.protocol,
            settings=settings,
            client_secret=self._open(
                row.client_secret_sealed, f"store:{store_slug}:connection:{slug}"
            ),
        )


async def reseal_all(session: AsyncSession, box: SecretBox) -> int:
    """Re-seal every stored secret that an older master key sealed; returns how many."""
    from adapter.db.models import LoginState

    count = 0

    def again(value: str | None, context: str) -> str | None:
        nonlocal count
        if value is None or not box.needs_reseal(value):
            return value
        count += 1
        return box.seal(box.open(value, context=context), context=context)

    stores = await session.scalars(select(Store).options(selectinload(Store.channels)))
    for store in stores:
        ctx = f"store:{store.slug}"
        store.client_secret_sealed = again(store.client_secret_sealed, f"{ctx}:client_secret")
        store.api_token_sealed = again(store.api_token_sealed, f"{ctx}:api_token")
        store.app_client_secret_sealed = again(
            store.app_client_secret_sealed, f"{ctx}:app_client_secret"
        )
        for channel in store.channels:
            cctx = f"{ctx}:channel:{channel.channel_id}"
            channel.storefront_token_sealed = again(
                channel.storefront_token_sealed, f"{cctx}:storefront_token"
            )
            channel.exchange_secret_sealed = again(
                channel.exchange_secret_sealed, f"{cctx}:exchange_secret"
            )
        connections = await session.scalars(
            select(Connection).where(Connection.store_id == store.id)
        )
        for connection in connections:
            connection.client_secret_sealed = again(
                connection.client_secret_sealed, f"{ctx}:connection:{connection.slug}"
            )
    for state in await session.scalars(select(LoginState)):
        state.payload_sealed = again(state.payload_sealed, f"login-state:{state.key_hash}")
    await session.flush()
    return count
