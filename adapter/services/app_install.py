"""The adapter as a BigCommerce app: installed from the control panel (the store is created or
updated with the app's credentials and the store's channels), opened there (the control-panel
user known per store), uninstalled (logins stop, credentials erased, links kept for a
reinstall), and users removed.

The store an install makes is `store-{hash}`; it is an ordinary store from then on, managed by
the admin API and `apply` like any other.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import SecretStr
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from adapter.bigcommerce.app_install import (
    InstallGrant,
    StoreChannel,
    exchange_install_code,
    missing_scopes,
    store_channels,
)
from adapter.bigcommerce.transport import BigCommerceTransport
from adapter.core.app_payload import SignedPayload, verify_signed_payload
from adapter.core.records import ChannelRecord, StoreRecord
from adapter.core.secretbox import SecretBoxError
from adapter.db.audit import AuditLog, AuditRecord
from adapter.db.config import store_context
from adapter.db.ledger import Ledger
from adapter.db.models import AppUser, Connection, Store
from adapter.errors import BadRequest, NotAdmitted, NotFound, NotVerified
from adapter.schemas import ChannelBody, StoreB2bBody, StoreBody
from adapter.services.configuration import Configuration
from adapter.services.runtime import Runtime

CONTEXT = re.compile(r"^stores/([a-z0-9]{1,64})$")
TICKET_SECONDS = 120
TICKET_CONTEXT = "console-ticket"
TICKET_NAMESPACE = "console-ticket"


def store_slug_for(store_hash: str) -> str:
    return f"store-{store_hash}"


@dataclass(frozen=True)
class AppView:
    """What the app's page inside the control panel shows."""

    store_slug: str
    store_hash: str
    user_email: str | None
    channels: list[tuple[int, str]]  # id, storefront URL
    connections: list[tuple[str, str]]  # slug, protocol
    reinstalled: bool = False
    # Opens the console for this control-panel user in a tab of its own (one use, 2 minutes).
    console_ticket: str | None = None


class AppInstall:
    def __init__(self, runtime: Runtime):
        self._rt = runtime

    def _app(self) -> tuple[str, str]:
        settings = self._rt.settings
        if not settings.bc_app_client_id or settings.bc_app_client_secret is None:
            raise NotFound("no BigCommerce app is configured", code="app_not_configured")
        return settings.bc_app_client_id, settings.bc_app_client_secret.get_secret_value()

    def _config(self, session: AsyncSession) -> Configuration:
        return Configuration(
            session,
            self._rt.box,
            self._rt.clock,
            allow_loopback=self._rt.settings.allow_insecure_loopback,
        )

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._rt.clock.now(), UTC)

    # -- install -----------------------------------------------------------------------------

    async def install(self, *, code: str | None, scope: str | None, context: str | None) -> AppView:
        client_id, client_secret = self._app()
        if not code or scope is None or context is None or not CONTEXT.match(context):
            raise BadRequest(
                "auth callback without code, scope or context", code="install_malformed"
            )
        grant = await exchange_install_code(
            self._rt.idp_http,
            login_url=self._rt.settings.bc_login_url,
            client_id=client_id,
            client_secret=client_secret,
            code=code,
            context=context,
            scope=scope,
            redirect_uri=f"{self._rt.settings.public_url}/bigcommerce/auth",
        )
        lacking = missing_scopes(grant.scopes)
        if lacking:
            # Nothing is written: the merchant grants the scopes and installs again.
            raise NotAdmitted(
                f"install lacks scopes {lacking}",
                code="scopes_missing",
                public_message="The app was installed without the permissions it needs ("
                + ", ".join(lacking)
                + "). Ask the app's developer to request them, then install again.",
            )
        transport = BigCommerceTransport(
            self._rt.bigcommerce_http,
            api_token=grant.access_token,
            max_rate_limit_wait=self._rt.settings.rate_limit_max_wait_seconds,
            sleep=self._rt.sleep,
            observe=self._rt.observe_bigcommerce,
        )
        channels = await store_channels(
            transport, api_base_url=self._rt.settings.bc_api_url, store_hash=grant.store_hash
        )
        if not channels:
            raise NotAdmitted(
                "the store has no active storefront channel", code="no_storefront_channel"
            )
        slug = store_slug_for(grant.store_hash)
        async with self._rt.sessions.begin() as session:
            config = self._config(session)
            existing = await config.get_store(slug)
            row = await config.store_row(slug)
            reinstalled = row is not None and row.app_uninstalled_at is not None
            body = self._store_body(grant, client_id, client_secret, channels, existing)
            saved = await config.put_store(slug, body)
            row = await config.store_row(slug)
            assert row is not None
            row.app_uninstalled_at = None
            await self._know_user(session, row.id, grant.owner_id, grant.owner_email, owner=True)
            if grant.user_id != grant.owner_id:
                await self._know_user(session, row.id, grant.user_id, grant.user_email, owner=False)
            AuditLog(session, self._rt.clock).record(
                AuditRecord(
                    kind="app.installed",
                    outcome="success",
                    store_slug=slug,
                    actor=f"bigcommerce:{grant.user_id}",
                    reason="reinstalled" if reinstalled else ("created" if saved.created else None),
                    details={
                        "scopes": sorted(grant.scopes),
                        "channels": [c.channel_id for c in channels],
                        **saved.audit_details(),
                    },
                )
            )
        self._rt.connections.clear()
        return await self._view(
            slug,
            grant.user_email,
            reinstalled=reinstalled,
            ticket=self._ticket(grant.store_hash, grant.user_id),
        )

    def _store_body(
        self,
        grant: InstallGrant,
        client_id: str,
        client_secret: str,
        channels: list[StoreChannel],
        existing: StoreRecord | None,
    ) -> StoreBody:
        """The store as the install makes it: the app's credentials and token, BigCommerce's
        channels; what an operator configured on an existing store (headless channels, B2B,
        request binding) stays."""
        kept = {} if existing is None else {c.channel_id: c for c in existing.channels}
        bodies = []
        for channel in channels:
            known = kept.pop(channel.channel_id, None)
            if known is None:
                bodies.append(
                    ChannelBody(
                        channel_id=channel.channel_id,
                        kind="hosted",
                        storefront_url=channel.storefront_url,
                    )
                )
            else:
                bodies.append(_channel_body(known))
        bodies += [_channel_body(c) for c in kept.values()]
        ids = [b.channel_id for b in bodies]
        default = (
            existing.default_channel_id
            if existing is not None and existing.default_channel_id in ids
            else channels[0].channel_id
        )
        b2b = None
        if existing is not None and existing.b2b is not None:
            b2b = StoreB2bBody(enabled=True, api_base_url=existing.b2b.api_base_url)
        return StoreBody(
            store_hash=grant.store_hash,
            client_id=client_id,
            client_secret=SecretStr(client_secret),
            api_token=SecretStr(grant.access_token),
            api_base_url=self._rt.settings.bc_api_url,
            default_channel_id=default,
            bind_request_ip=existing.bind_request_ip if existing is not None else False,
            channels=bodies,
            b2b=b2b,
        )

    async def _know_user(
        self, session: AsyncSession, store_id: int, user_id: int, email: str | None, *, owner: bool
    ) -> AppUser:
        user = await session.scalar(
            select(AppUser).where(AppUser.store_id == store_id, AppUser.user_id == user_id)
        )
        if user is None:
            user = AppUser(
                store_id=store_id,
                user_id=user_id,
                email=email,
                is_owner=owner,
                created_at=self._now(),
            )
            session.add(user)
        else:
            user.email = email or user.email
            user.is_owner = user.is_owner or owner
        return user

    # -- signed callbacks --------------------------------------------------------------------

    def _verify(self, token: str | None) -> SignedPayload:
        client_id, client_secret = self._app()
        return verify_signed_payload(
            token or "",
            client_id=client_id,
            client_secret=client_secret,
            clock=self._rt.clock,
            leeway_seconds=self._rt.settings.clock_skew_seconds,
        )

    async def load(self, signed_payload_jwt: str | None) -> AppView:
        payload = self._verify(signed_payload_jwt)
        slug = store_slug_for(payload.store_hash)
        async with self._rt.sessions.begin() as session:
            row = await self._config(session).store_row(slug)
            if row is None or row.app_uninstalled_at is not None:
                raise NotFound(f"store {slug} is not installed", code="app_not_installed")
            user = await self._know_user(
                session, row.id, payload.user_id, payload.user_email, owner=payload.by_owner
            )
            user.last_load_at = self._now()
        return await self._view(
            slug, payload.user_email, ticket=self._ticket(payload.store_hash, payload.user_id)
        )

    async def uninstall(self, signed_payload_jwt: str | None) -> None:
        payload = self._verify(signed_payload_jwt)
        slug = store_slug_for(payload.store_hash)
        async with self._rt.sessions.begin() as session:
            row = await self._config(session).store_row(slug)
            if row is None:
                raise NotFound(f"store {slug} is not installed", code="app_not_installed")
            row.app_uninstalled_at = self._now()
            # The credentials are worthless now (BigCommerce revoked the token) and erased:
            # sealed empty values, so that nothing can sign a login JWT for this store.
            row.client_secret_sealed = self._rt.box.seal(
                "", context=store_context(slug, "client_secret")
            )
            row.api_token_sealed = self._rt.box.seal("", context=store_context(slug, "api_token"))
            row.b2b_api_token_sealed = None
            await session.execute(delete(AppUser).where(AppUser.store_id == row.id))
            AuditLog(session, self._rt.clock).record(
                AuditRecord(
                    kind="app.uninstalled",
                    outcome="success",
                    store_slug=slug,
                    actor=f"bigcommerce:{payload.user_id}",
                    details={"links_kept": True},
                )
            )
        self._rt.connections.clear()

    async def remove_user(self, signed_payload_jwt: str | None) -> None:
        payload = self._verify(signed_payload_jwt)
        slug = store_slug_for(payload.store_hash)
        async with self._rt.sessions.begin() as session:
            row = await self._config(session).store_row(slug)
            if row is None:
                raise NotFound(f"store {slug} is not installed", code="app_not_installed")
            await session.execute(
                delete(AppUser).where(
                    AppUser.store_id == row.id, AppUser.user_id == payload.user_id
                )
            )
            AuditLog(session, self._rt.clock).record(
                AuditRecord(
                    kind="app.user_removed",
                    outcome="success",
                    store_slug=slug,
                    actor=f"bigcommerce:{payload.owner_id}",
                    details={"user_id": payload.user_id},
                )
            )

    # -- the console for control-panel users --------------------------------------------------

    def _ticket(self, store_hash: str, user_id: int) -> str:
        """A one-time ticket, sealed by the master key, that opens a console session for this
        control-panel user on this store: the control panel's iframe may hold no cookie of
        ours, so the console opens in a tab of its own and takes the ticket there."""
        return self._rt.box.seal(
            json.dumps(
                {
                    "h": store_hash,
                    "u": user_id,
                    "e": self._rt.clock.now() + TICKET_SECONDS,
                    "n": secrets.token_urlsafe(16),
                }
            ),
            context=TICKET_CONTEXT,
        )

    async def redeem_ticket(self, ticket: str | None) -> tuple[str, int]:
        """The store hash and control-panel user a ticket names, once; refused when forged,
        expired, used, or when the user or the install is gone."""
        refused = NotVerified("console ticket invalid", code="console_ticket_invalid")
        try:
            data = json.loads(self._rt.box.open(ticket or "", context=TICKET_CONTEXT))
            store_hash, user_id, expires = str(data["h"]), int(data["u"]), float(data["e"])
            nonce = str(data["n"])
        except (SecretBoxError, ValueError, KeyError, TypeError):
            raise refused from None
        if expires <= self._rt.clock.now():
            raise refused
        async with self._rt.sessions.begin() as session:
            claimed = await Ledger(session, self._rt.box, self._rt.clock).claim(
                TICKET_NAMESPACE, nonce, ttl_seconds=TICKET_SECONDS
            )
        if claimed is None or not await self.control_panel_user(store_hash, user_id):
            raise refused
        return store_hash, user_id

    async def control_panel_user(self, store_hash: str, user_id: int) -> bool:
        """Whether the user may still use the console for the store (installed, not removed)."""
        async with self._rt.sessions() as session:
            found = await session.scalar(
                select(AppUser.id)
                .join(Store, Store.id == AppUser.store_id)
                .where(
                    Store.slug == store_slug_for(store_hash),
                    Store.app_uninstalled_at.is_(None),
                    AppUser.user_id == user_id,
                )
            )
            return found is not None

    async def _view(
        self,
        slug: str,
        email: str | None,
        *,
        reinstalled: bool = False,
        ticket: str | None = None,
    ) -> AppView:
        async with self._rt.sessions() as session:
            row = await self._config(session).store_row(slug)
            assert row is not None
            connections = list(
                await session.scalars(
                    select(Connection)
                    .where(Connection.store_id == row.id)
                    .order_by(Connection.slug)
                )
            )
            return AppView(
                store_slug=slug,
                store_hash=row.store_hash,
                user_email=email,
                channels=[(c.channel_id, c.storefront_url) for c in row.channels],
                connections=[(c.slug, c.protocol) for c in connections],
                reinstalled=reinstalled,
                console_ticket=ticket,
            )

    async def users(self, store_hash: str) -> list[AppUser]:
        async with self._rt.sessions() as session:
            return list(
                await session.scalars(
                    select(AppUser)
                    .join(Store, Store.id == AppUser.store_id)
                    .where(Store.slug == store_slug_for(store_hash))
                    .order_by(AppUser.user_id)
                )
            )


def _channel_body(channel: ChannelRecord) -> ChannelBody:
    """An existing channel as a body, secrets left out (so they are kept)."""
    return ChannelBody(
        channel_id=channel.channel_id,
        kind=channel.kind,  # type: ignore[arg-type]
        storefront_url=channel.storefront_url,
        delivery=channel.delivery,  # type: ignore[arg-type]
        login_token_path=channel.login_token_path,
        graphql_url=channel.graphql_url,
        return_url=channel.return_url,
        logout_path=channel.logout_path,
    )
