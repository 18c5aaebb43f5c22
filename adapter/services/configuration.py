"""Stores, channels and connections: the configuration use cases the admin API and `apply` share.

What may be written is decided here, once: URL rules, the secret-destination rule
(`adapter.core.destinations`), the required secrets, SAML key generation and the turning of an
admin body into rows. `adapter.db.config` only reads and writes those rows. Loading, this is
also where a stored body becomes the frozen policy the core and the protocols read
(`adapter.core.policy`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from adapter.clock import Clock
from adapter.core.changes import field_changes
from adapter.core.destinations import (
    Destination,
    connection_destinations,
    given,
    new_destinations,
    store_destinations,
)
from adapter.core.policy import (
    B2bPolicy,
    CompanyRule,
    GroupRule,
    OidcPolicy,
    ProvisioningPolicy,
    RoleRule,
    SamlPolicy,
)
from adapter.core.records import ConnectionRecord, StoreRecord
from adapter.core.secretbox import SecretBox
from adapter.core.urls import check_outbound_url
from adapter.db.config import (
    ConfigRepository,
    channel_context,
    connection_context,
    sp_key_context,
    store_context,
)
from adapter.db.models import Channel, Connection, Store
from adapter.errors import ConfigurationError
from adapter.outbound import check_public_host
from adapter.saml.keys import self_signed_pair
from adapter.schemas import (
    ANSWERED_FIELDS,
    ChannelBody,
    ConnectionB2bBody,
    ConnectionScimBody,
    OidcConnectionBody,
    SamlConnectionBody,
    StoreBody,
)

# -- policies: from the body an operator writes to the rules a login obeys ---------------------


def b2b_policy_from_body(body: ConnectionB2bBody) -> B2bPolicy:
    return B2bPolicy(
        company_from=body.company_from,
        company_claim=body.company_claim,
        companies=tuple(CompanyRule(key=c.key, company_id=c.company_id) for c in body.companies),
        create_companies=body.create_companies,
        company_customer_group_id=body.company_customer_group_id,
        role_mappings=tuple(
            RoleRule(group=m.group, role=m.role, company_role_id=m.company_role_id)
            for m in body.role_mappings
        ),
        default_role=body.default_role,
    )


def _store_fields(row: Store, channels: list[Channel] | None = None) -> dict[str, Any]:
    """A store's non-secret fields, as the audit trail compares them."""
    return {
        "store_hash": row.store_hash,
        "client_id": row.client_id,
        "api_base_url": row.api_base_url,
        "default_channel_id": row.default_channel_id,
        "bind_request_ip": row.bind_request_ip,
        "app_client_id": row.app_client_id,
        "b2b": {"enabled": row.b2b_enabled, "api_base_url": row.b2b_api_base_url},
        "channels": {
            str(c.channel_id): {
                "kind": c.kind,
                "storefront_url": c.storefront_url,
                "delivery": c.delivery,
                "login_token_path": c.login_token_path,
                "graphql_url": c.graphql_url,
                "return_url": c.return_url,
                "logout_path": c.logout_path,
            }
            for c in (row.channels if channels is None else channels)
        },
    }


def _same_slug(path_slug: str, answered: str | None) -> None:
    """A body copied from GET may carry its slug: it must be the resource it is PUT to."""
    if answered is not None and answered != path_slug:
        raise ConfigurationError(
            f"slug {answered!r} names another resource than {path_slug!r}", field="slug"
        )


def provisioning_policy_from_body(body: ConnectionScimBody) -> ProvisioningPolicy:
    return ProvisioningPolicy(
        subject_attribute=body.subject_attribute,
        provision_customers=body.provision_customers,
        on_deactivate=tuple(body.on_deactivate),
        deactivated_customer_group_id=body.deactivated_customer_group_id,
    )


def policy_from_body(body: OidcConnectionBody | SamlConnectionBody) -> OidcPolicy | SamlPolicy:
    common: dict[str, Any] = {
        "channel_ids": tuple(body.channel_ids),
        "create_customers": body.create_customers,
        "link_by_email": body.link_by_email,
        "customer_group_id": body.customer_group_id,
        "group_mappings": tuple(
            GroupRule(group=m.group, customer_group_id=m.customer_group_id)
            for m in body.group_mappings
        ),
        "profile_sync": body.profile_sync,
        "add_channel_to_customer": body.add_channel_to_customer,
        "email_verified": body.email_verified,
        "b2b": None if body.b2b is None else b2b_policy_from_body(body.b2b),
        "scim": None if body.scim is None else provisioning_policy_from_body(body.scim),
    }
    if isinstance(body, OidcConnectionBody):
        return OidcPolicy(
            **common,
            issuer=body.issuer,
            client_id=body.client_id,
            scopes=tuple(body.scopes),
            subject_claim=body.subject_claim,
            allowed_tenants=None if body.allowed_tenants is None else tuple(body.allowed_tenants),
            groups_claim=body.groups_claim,
            trusted_audiences=tuple(body.trusted_audiences),
        )
    return SamlPolicy(
        **common,
        idp_metadata_xml=body.idp_metadata_xml,
        idp_metadata_url=body.idp_metadata_url,
        subject_attribute=body.subject_attribute,
        email_attribute=body.email_attribute,
        first_name_attribute=body.first_name_attribute,
        last_name_attribute=body.last_name_attribute,
        allow_idp_initiated=body.allow_idp_initiated,
        sign_requests=body.sign_requests,
        allow_sha1=body.allow_sha1,
        groups_attribute=body.groups_attribute,
    )


def policy_from_stored(protocol: str, settings: dict[str, Any]) -> OidcPolicy | SamlPolicy:
    """A stored body, validated again (a row written by an older release gets today's
    defaults), as a policy."""
    model = OidcConnectionBody if protocol == "oidc" else SamlConnectionBody
    return policy_from_body(model.model_validate(settings))


# -- what a change did -------------------------------------------------------------------------


@dataclass(frozen=True)
class Saved:
    """What a create-or-replace did: for the answer's status and the audit event."""

    created: bool
    # Destinations of stored secrets that this change moved (never set on a create).
    moved: tuple[Destination, ...] = ()
    previous: tuple[Destination, ...] = ()
    # Non-secret fields before → after, and the secrets given anew (never their values).
    changes: dict[str, Any] = field(default_factory=dict)
    secrets_replaced: tuple[str, ...] = ()

    @property
    def unchanged(self) -> bool:
        return not (self.created or self.changes or self.secrets_replaced or self.moved)

    def audit_details(self) -> dict[str, Any]:
        details: dict[str, Any] = {}
        if self.changes:
            details["changed"] = self.changes
        if self.secrets_replaced:
            details["secrets_replaced"] = list(self.secrets_replaced)
        if not self.moved:
            return details
        before = {(d.secret, d.field): d.url for d in self.previous}
        return {
            **details,
            "destinations_changed": [
                {
                    "secret": d.secret,
                    "field": d.field,
                    "url": d.url,
                    "previous_url": before.get((d.secret, d.field)),
                }
                for d in self.moved
            ],
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


class Configuration:
    """The configuration use cases within one session (the caller owns the transaction)."""

    def __init__(
        self, session: AsyncSession, box: SecretBox, clock: Clock, *, allow_loopback: bool
    ):
        self._repo = ConfigRepository(session, box, clock)
        self._allow_loopback = allow_loopback
        # The secrets the change being made replaces (see _keep_or_seal).
        self._replaced: list[str] = []

    # -- rules -------------------------------------------------------------------------------

    def check_url(self, field: str, url: str | None) -> None:
        if url is None:
            return
        reason = check_outbound_url(url, allow_insecure_loopback=self._allow_loopback)
        if reason:
            raise ConfigurationError(f"{field} {reason}", field=field, code="invalid_url")

    async def check_public_host(self, field: str, url: str | None) -> None:
        """In production, a URL the adapter fetches must not name an internal host (SSRF).
        Call after check_url: only a well-formed URL is resolved."""
        if url is None or self._allow_loopback:
            return
        reason = await check_public_host(url)
        if reason:
            raise ConfigurationError(f"{field} {reason}", field=field, code="invalid_url")

    def _keep_or_seal(
        self, given: SecretStr | None, existing: str | None, context: str, field: str
    ) -> str:
        """A secret given is sealed; one omitted keeps the stored one; none at all is an error.
        A secret given that differs from the stored one is noted as replaced."""
        if given is not None:
            if existing is None or self._repo.open(existing, context) != given.get_secret_value():
                self._replaced.append(field)
            return self._repo.seal(given.get_secret_value(), context)
        if existing is None:
            raise ConfigurationError(f"{field} is required", field=field, code="secret_required")
        return existing

    # -- stores ------------------------------------------------------------------------------

    async def check_store_urls(self, body: StoreBody) -> None:
        self.check_url("api_base_url", body.api_base_url)
        if body.b2b is not None:
            self.check_url("b2b.api_base_url", body.b2b.api_base_url)
        for channel in body.channels:
            prefix = f"channels[{channel.channel_id}]"
            self.check_url(f"{prefix}.storefront_url", channel.storefront_url)
            self.check_url(f"{prefix}.graphql_url", channel.graphql_url)
            self.check_url(f"{prefix}.return_url", channel.return_url)
        # Only the URLs the adapter itself calls; storefront and return URLs are where a
        # browser goes, and an intranet storefront is the merchant's business.
        await self.check_public_host("api_base_url", body.api_base_url)
        if body.b2b is not None:
            await self.check_public_host("b2b.api_base_url", body.b2b.api_base_url)
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
        # B2B Edition gets its own token when one is given or kept, else the store's: only
        # the token it will actually get must be given again for a new B2B URL.
        own_b2b_token = given(body, "b2b.api_token") or row.b2b_api_token_sealed is not None
        unsent = "api_token" if own_b2b_token else "b2b.api_token"
        moved = [d for d in moved if not (d.field == "b2b.api_base_url" and d.secret == unsent)]
        _require_secrets_for(moved, body)
        return moved, before

    async def check_store_change(self, slug: str, body: StoreBody) -> None:
        """Every refusal `put_store` can give, without writing (for `apply`'s preflight)."""
        await self.check_store_urls(body)
        self._moved_store_destinations(await self._repo.store_row(slug), body)

    async def put_store(self, slug: str, body: StoreBody) -> Saved:
        """Create or replace a store."""
        _same_slug(slug, body.slug)
        await self.check_store_urls(body)
        row = await self._repo.store_row(slug)
        moved, before = self._moved_store_destinations(row, body)
        created = row is None
        now = self._repo.now()
        self._replaced = []
        was = {} if row is None else _store_fields(row)
        if row is None:
            row = Store(slug=slug, created_at=now)
            self._repo.add(row)
        row.store_hash = body.store_hash
        row.client_id = body.client_id
        row.client_secret_sealed = self._keep_or_seal(
            body.client_secret,
            None if created else row.client_secret_sealed,
            store_context(slug, "client_secret"),
            "client_secret",
        )
        row.api_token_sealed = self._keep_or_seal(
            body.api_token,
            None if created else row.api_token_sealed,
            store_context(slug, "api_token"),
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
                store_context(slug, "app_client_secret"),
                "app_client_secret",
            )
        row.app_client_id = body.app_client_id
        self._put_store_b2b(slug, row, body)
        previous = {} if created else {c.channel_id: c for c in row.channels}
        new_channels = [
            self._channel_row(slug, c, previous.get(c.channel_id)) for c in body.channels
        ]
        changes = {} if created else field_changes(was, _store_fields(row, new_channels))
        saved = Saved(created, tuple(moved), tuple(before), changes, tuple(self._replaced))
        if created or not saved.unchanged:
            row.updated_at = now
            await self._repo.replace_channels(row, new_channels, created=created)
        return saved

    def _put_store_b2b(self, slug: str, row: Store, body: StoreBody) -> None:
        b2b = body.b2b
        if b2b is None:
            # Absent: no B2B behaviour, and no B2B token kept for a later enable.
            row.b2b_enabled = False
            row.b2b_api_base_url = None
            row.b2b_api_token_sealed = None
            return
        row.b2b_enabled = b2b.enabled
        row.b2b_api_base_url = b2b.api_base_url.rstrip("/")
        if b2b.api_token is not None:
            row.b2b_api_token_sealed = self._keep_or_seal(
                b2b.api_token,
                row.b2b_api_token_sealed,
                store_context(slug, "b2b_api_token"),
                "b2b.api_token",
            )
        # Omitted: the stored one is kept (or, with none stored, the store's api_token serves).

    def _channel_row(self, store_slug: str, body: ChannelBody, previous: Channel | None) -> Channel:
        field = f"channels[{body.channel_id}]"
        storefront_token = exchange_secret = None
        if body.delivery == "access_token":
            storefront_token = self._keep_or_seal(
                body.storefront_token,
                previous.storefront_token_sealed if previous else None,
                channel_context(store_slug, body.channel_id, "storefront_token"),
                f"{field}.storefront_token",
            )
            exchange_secret = self._keep_or_seal(
                body.exchange_secret,
                previous.exchange_secret_sealed if previous else None,
                channel_context(store_slug, body.channel_id, "exchange_secret"),
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

    async def get_store(self, slug: str) -> StoreRecord | None:
        return await self._repo.get_store(slug)

    # -- connections -------------------------------------------------------------------------

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
        _same_slug(slug, body.slug)
        store = await self._repo.store_row(store_slug)
        if store is not None:
            self._moved_connection_destinations(
                await self._repo.connection_row(store.id, slug), body
            )

    async def put_connection(
        self, store_slug: str, slug: str, body: OidcConnectionBody | SamlConnectionBody
    ) -> Saved:
        _same_slug(slug, body.slug)
        store = await self._repo.store_row(store_slug)
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
        row = await self._repo.connection_row(store.id, slug)
        moved, before = self._moved_connection_destinations(row, body)
        created = row is None
        now = self._repo.now()
        self._replaced = []
        was = {} if row is None else {"protocol": row.protocol, **row.settings}
        if row is None:
            row = Connection(store_id=store.id, slug=slug, created_at=now)
            self._repo.add(row)
        if isinstance(body, OidcConnectionBody):
            row.client_secret_sealed = self._keep_or_seal(
                body.client_secret,
                None if created or row.protocol != "oidc" else row.client_secret_sealed,
                connection_context(store_slug, slug),
                "client_secret",
            )
        else:
            row.client_secret_sealed = None
            if row.sp_private_key_sealed is None:
                key, certificate = self_signed_pair(f"sso-adapter {store_slug}/{slug}")
                row.sp_private_key_sealed = self._repo.seal(key, sp_key_context(store_slug, slug))
                row.sp_certificate = certificate
        settings = body.model_dump(mode="json", exclude={"client_secret", *ANSWERED_FIELDS})
        changes = {} if created else field_changes(was, {"protocol": body.protocol, **settings})
        saved = Saved(created, tuple(moved), tuple(before), changes, tuple(self._replaced))
        row.protocol = body.protocol
        if row.settings != settings:
            row.settings = settings
        if not saved.unchanged:
            row.updated_at = now
        await self._repo.flush()
        return saved

    async def get_connection(
        self, store_slug: str, slug: str
    ) -> tuple[StoreRecord, ConnectionRecord] | None:
        found = await self._repo.get_connection(store_slug, slug)
        if found is None:
            return None
        store, stored = found
        return store, ConnectionRecord(
            id=stored.id,
            store_id=stored.store_id,
            slug=stored.slug,
            protocol=stored.protocol,
            settings=policy_from_stored(stored.protocol, stored.settings),
            client_secret=stored.client_secret,
            sp_private_key=stored.sp_private_key,
            sp_certificate=stored.sp_certificate,
            updated_at=stored.updated_at,
        )

    # -- rows for the admin API's views -----------------------------------------------------

    async def list_store_rows(self) -> list[Store]:
        return await self._repo.list_store_rows()

    async def store_row(self, slug: str) -> Store | None:
        return await self._repo.store_row(slug)

    async def delete_store(self, slug: str) -> bool:
        return await self._repo.delete_store(slug)

    async def connection_rows(self, store_id: int) -> list[Connection]:
        return await self._repo.connection_rows(store_id)

    async def connection_row(self, store_id: int, slug: str) -> Connection | None:
        return await self._repo.connection_row(store_id, slug)

    async def delete_connection(self, store_id: int, slug: str) -> bool:
        return await self._repo.delete_connection(store_id, slug)
