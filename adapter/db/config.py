"""Stores, channels and connections: the service layer the admin API and `apply` use.

Secrets are sealed before they reach a row and opened only when a record is loaded for use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from adapter.clock import Clock
from adapter.core.destinations import (
    Destination,
    connection_destinations,
    given,
    new_destinations,
    store_destinations,
)
from adapter.core.records import ChannelRecord, ConnectionRecord, StoreRecord
from adapter.core.secretbox import SecretBox
from adapter.core.urls import check_outbound_url
from adapter.db.models import Channel, Connection, Store
from adapter.errors import ConfigurationError
from adapter.outbound import check_public_host
from adapter.saml.keys import self_signed_pair
from adapter.schemas import (
    ChannelBody,
    OidcConnectionBody,
    SamlConnectionBody,
    StoreBody,
)


def _reveal(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()


@dataclass(frozen=True)
class Saved:
    """What a create-or-replace did: for the answer's status and the audit event."""

    created: bool
    # Destinations of stored secrets that this change moved (never set on a create).
    moved: tuple[Destination, ...] = ()
    previous: tuple[Destination, ...] = ()

    def audit_details(self) -> dict[str, Any]:
        if not self.moved:
            return {}
        before = {(d.secret, d.field): d.url for d in self.previous}
        return {
            "destinations_changed": [
                {
                    "secret": d.secret,
                    "field": d.field,
                    "url": d.url,
                    "previous_url": before.get((d.secret, d.field)),
                }
                for d in self.moved
            ]
        }


def _require_secrets_for(moved: list[Destination], body: object) -> None:
    """A stored secret does not follow its destination: see adapter.core.destinations."""
    for destination in moved:
        if not given(body, destination.secret):
            raise ConfigurationError(
                f"{destination.secret} must be given again: {destination.field} is a new "
                "destination for it (a stored secret is never sent to a changed URL)",
                field=destination.secret,
                code="secret_required",
            )


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

    async def check_public_host(self, field: str, url: str | None) -> None:
        """In production, a URL the adapter fetches must not name an internal host (SSRF).
        Call after check_url: only a well-formed URL is resolved."""
        if url is None or self._allow_loopback:
            return
        reason = await check_public_host(url)
        if reason:
            raise ConfigurationError(f"{field} {reason}", field=field, code="invalid_url")

    async def check_store_urls(self, body: StoreBody) -> None:
        self.check_url("api_base_url", body.api_base_url)
        for channel in body.channels:
            prefix = f"channels[{channel.channel_id}]"
            self.check_url(f"{prefix}.storefront_url", channel.storefront_url)
            self.check_url(f"{prefix}.graphql_url", channel.graphql_url)
            self.check_url(f"{prefix}.return_url", channel.return_url)
        # Only the URLs the adapter itself calls; storefront and return URLs are where a
        # browser goes, and an intranet storefront is the merchant's business.
        await self.check_public_host("api_base_url", body.api_base_url)
        for channel in body.channels:
            prefix = f"channels[{channel.channel_id}]"
            await self.check_public_host(f"{prefix}.graphql_url", channel.graphql_url)

    @staticmethod
    def _moved_store_destinations(
        row: Store | None, body: StoreBody
    ) -> tuple[list[Destination], list[Destination]]:
        if row is None:
            return [], []
        before = store_destinations(row)
        moved = new_destinations(before, store_destinations(body))
        _require_secrets_for(moved, body)
        return moved, before

    async def check_store_change(self, slug: str, body: StoreBody) -> None:
        """Every refusal `put_store` can give, without writing (for `apply`'s preflight)."""
        await self.check_store_urls(body)
        self._moved_store_destinations(await self._store_row(slug), body)

    async def put_store(self, slug: str, body: StoreBody) -> Saved:
        """Create or replace a store."""
        await self.check_store_urls(body)
        row = await self._store_row(slug)
        moved, before = self._moved_store_destinations(row, body)
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
        if body.app_client_id is None:
            if body.app_client_secret is not None:
                raise ConfigurationError(
                    "app_client_secret goes with app_client_id", field="app_client_secret"
                )
            row.app_client_secret_sealed = None
        else:
            # A new or changed app id needs its own secret; the same id may keep the old one.
            same_app = not created and row.app_client_id == body.app_client_id
            row.app_client_secret_sealed = self._keep_or_seal(
                body.app_client_secret,
                row.app_client_secret_sealed if same_app else None,
                f"{ctx}:app_client_secret",
                "app_client_secret",
            )
        row.app_client_id = body.app_client_id
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
        return Saved(created, tuple(moved), tuple(before))

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
            logout_path=body.logout_path,
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
                logout_path=c.logout_path,
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

    @staticmethod
    def _moved_connection_destinations(
        row: Connection | None, body: OidcConnectionBody | SamlConnectionBody
    ) -> tuple[list[Destination], list[Destination]]:
        if row is None:
            return [], []
        before = connection_destinations(row.protocol, (row.settings or {}).get("issuer"))
        after = connection_destinations(body.protocol, getattr(body, "issuer", None))
        moved = new_destinations(before, after)
        _require_secrets_for(moved, body)
        return moved, before

    async def check_connection_change(
        self, store_slug: str, slug: str, body: OidcConnectionBody | SamlConnectionBody
    ) -> None:
        """The secret rule of `put_connection`, without writing (for `apply`'s preflight)."""
        store = await self._store_row(store_slug)
        if store is not None:
            self._moved_connection_destinations(await self._connection_row(store.id, slug), body)

    async def put_connection(
        self, store_slug: str, slug: str, body: OidcConnectionBody | SamlConnectionBody
    ) -> Saved:
        store = await self._store_row(store_slug)
        if store is None:
            raise ConfigurationError(f"store {store_slug!r} does not exist", code="unknown_store")
        known = {c.channel_id for c in store.channels}
        unknown = [c for c in body.channel_ids if c not in known]
        if unknown:
            raise ConfigurationError(
                f"channel_ids {unknown} are not channels of store {store_slug!r}",
                field="channel_ids",
                code="unknown_channel",
            )
        if isinstance(body, OidcConnectionBody):
            self.check_url("issuer", body.issuer)
            await self.check_public_host("issuer", body.issuer)
        if isinstance(body, SamlConnectionBody):
            self.check_url("idp_metadata_url", body.idp_metadata_url)
            await self.check_public_host("idp_metadata_url", body.idp_metadata_url)
        row = await self._connection_row(store.id, slug)
        moved, before = self._moved_connection_destinations(row, body)
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
            if row.sp_private_key_sealed is None:
                key, certificate = self_signed_pair(f"sso-adapter {store_slug}/{slug}")
                row.sp_private_key_sealed = self._box.seal(key, context=f"{context}:sp_key")
                row.sp_certificate = certificate
        row.protocol = body.protocol
        row.settings = body.model_dump(mode="json", exclude={"client_secret"})
        row.updated_at = now
        await self._session.flush()
        return Saved(created, tuple(moved), tuple(before))

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
            sp_private_key=self._open(
                row.sp_private_key_sealed, f"store:{store_slug}:connection:{slug}:sp_key"
            ),
            sp_certificate=row.sp_certificate,
            updated_at=row.updated_at.timestamp(),
        )


async def reseal_all(session: AsyncSession, box: SecretBox) -> int:
    """Re-seal every stored secret that an older master key sealed; returns how many.

    Each value is swapped only if it is still the one read (compare and set), so a secret
    changed or a login finished meanwhile is left alone rather than overwritten or failed.
    """
    from adapter.db.models import LoginState

    stores = {row.id: row.slug for row in await session.execute(select(Store.id, Store.slug))}
    columns: list[tuple[Any, Any, Any, Any]] = []  # (table, key column, value column, context)
    for column in ("client_secret_sealed", "api_token_sealed", "app_client_secret_sealed"):
        name = column.removesuffix("_sealed")
        columns.append(
            (Store, Store.id, getattr(Store, column), lambda r, n=name: f"store:{r.slug}:{n}")
        )
    for column in ("storefront_token_sealed", "exchange_secret_sealed"):
        name = column.removesuffix("_sealed")
        columns.append(
            (
                Channel,
                Channel.id,
                getattr(Channel, column),
                lambda r, n=name: f"store:{stores[r.store_id]}:channel:{r.channel_id}:{n}",
            )
        )
    columns.append(
        (
            Connection,
            Connection.id,
            Connection.client_secret_sealed,
            lambda r: f"store:{stores[r.store_id]}:connection:{r.slug}",
        )
    )
    columns.append(
        (
            Connection,
            Connection.id,
            Connection.sp_private_key_sealed,
            lambda r: f"store:{stores[r.store_id]}:connection:{r.slug}:sp_key",
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
