"""The admin use cases: configuration, links, events and the dry-run test login.

Every change is one transaction that also writes its audit event, naming the actor.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adapter.core.first_login import (
    Candidate,
    ChannelVerdict,
    Create,
    Decision,
    Refuse,
    UseLink,
    channel_access,
    channel_refusal,
    email_refusal,
    first_login,
    is_global,
)
from adapter.core.identity import Identity
from adapter.core.records import StoreRecord
from adapter.core.redirects import InvalidRedirect, validate_redirect_to
from adapter.core.urls import check_outbound_url
from adapter.core.warnings import connection_warnings, unreachable_channels
from adapter.db.audit import AuditLog, AuditRecord
from adapter.db.intents import IntentRepository
from adapter.db.links import LinkExists, LinkRepository
from adapter.db.models import AuditEvent, Connection, Link, Store
from adapter.db.scim_tokens import ScimTokens
from adapter.errors import (
    AdapterError,
    BadRequest,
    ConfigurationError,
    Conflict,
    NotAdmitted,
    NotFound,
)
from adapter.logging import get_logger
from adapter.oidc.discovery import InvalidProviderMetadata, fetch_json, parse_provider_metadata
from adapter.oidc.relying_party import identity_from_claims
from adapter.outbound import FetchFailed, check_public_host, fetch_document
from adapter.saml.identity import identity_from_assertion
from adapter.saml.metadata import MAX_METADATA_BYTES, InvalidMetadata, parse_idp_metadata
from adapter.saml.service_provider import NAMEID_FORMAT_PERSISTENT, VerifiedAssertion
from adapter.schemas import (
    ChannelView,
    ConnectionView,
    CredentialCheck,
    EventPage,
    EventView,
    LinkPage,
    LinkView,
    NewLink,
    OidcConnectionBody,
    OidcConnectionView,
    SamlConnectionBody,
    SamlConnectionView,
    ScimTokenCreated,
    ScimTokenView,
    StoreB2bView,
    StoreBody,
    StoreView,
    TestLoginAnswer,
    TestLoginRequest,
)
from adapter.services.b2b_membership import B2bMembership
from adapter.services.configuration import Configuration
from adapter.services.login_steps import oidc_client_settings, parse_channel_id
from adapter.services.resolution import candidate, first_login_policy, new_customer_fields
from adapter.services.runtime import Runtime

T = TypeVar("T")
log = get_logger("adapter.admin")
MAX_PAGE = 500


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"id": last_id}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        last_id = value["id"]
        if not isinstance(last_id, int) or isinstance(last_id, bool) or not 0 < last_id < 2**63:
            raise ValueError(last_id)
        return last_id
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise BadRequest("cursor is not one this API gave out", code="invalid_cursor") from None


def store_view(row: Store) -> StoreView:
    return StoreView(
        slug=row.slug,
        store_hash=row.store_hash,
        client_id=row.client_id,
        api_base_url=row.api_base_url,
        default_channel_id=row.default_channel_id,
        bind_request_ip=row.bind_request_ip,
        app_client_id=row.app_client_id,
        channels=[
            ChannelView(
                channel_id=c.channel_id,
                kind=c.kind,
                storefront_url=c.storefront_url,
                delivery=c.delivery,
                login_token_path=c.login_token_path,
                graphql_url=c.graphql_url,
                return_url=c.return_url,
                logout_path=c.logout_path,
            )
            for c in row.channels
        ],
        b2b=None
        if row.b2b_api_base_url is None
        else StoreB2bView(
            enabled=row.b2b_enabled,
            api_base_url=row.b2b_api_base_url,
            has_own_api_token=row.b2b_api_token_sealed is not None,
        ),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def connection_view(row: Connection) -> ConnectionView:
    """The connection in the flat shape PUT takes (less its secret)."""
    answered: dict[str, Any] = {
        **row.settings,
        "protocol": row.protocol,
        "slug": row.slug,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
    if row.protocol == "oidc":
        answered["has_client_secret"] = row.client_secret_sealed is not None
        return OidcConnectionView.model_validate(answered)
    return SamlConnectionView.model_validate(answered)


def link_view(row: Link, connection_slug: str) -> LinkView:
    return LinkView(
        id=row.id,
        connection=connection_slug,
        subject=row.subject,
        customer_id=row.customer_id,
        email=row.email,
        created_at=row.created_at,
        last_login_at=row.last_login_at,
        login_count=row.login_count,
    )


def event_view(row: AuditEvent) -> EventView:
    return EventView(
        id=row.id,
        created_at=row.created_at,
        kind=row.kind,
        outcome=row.outcome,
        reason=row.reason,
        reference=row.reference,
        actor=row.actor,
        connection=row.connection_slug,
        subject=row.subject,
        customer_id=row.customer_id,
        email=row.email,
        details=dict(row.details or {}),
    )


class AdminService:
    def __init__(self, runtime: Runtime):
        self._rt = runtime

    # -- plumbing ----------------------------------------------------------------------------

    def _config(self, session: AsyncSession) -> Configuration:
        return Configuration(
            session,
            self._rt.box,
            self._rt.clock,
            allow_loopback=self._rt.settings.allow_insecure_loopback,
        )

    async def _write(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        try:
            async with self._rt.sessions.begin() as session:
                done = await work(session)
            self._rt.connections.clear()
            return done
        except (IntegrityError, LinkExists):
            # Lost a race with a concurrent change of the same row.
            raise Conflict("a concurrent change conflicts with this one", code="conflict") from None

    async def _read(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async with self._rt.sessions() as session:
            return await work(session)

    def _audit(
        self, session: AsyncSession, kind: str, actor: str, store: str, **fields: Any
    ) -> None:
        AuditLog(session, self._rt.clock).record(
            AuditRecord(kind=kind, outcome="success", store_slug=store, actor=actor, **fields)
        )

    @staticmethod
    async def _store(session: AsyncSession, config: Configuration, slug: str) -> Store:
        row = await config.store_row(slug)
        if row is None:
            raise NotFound(f"store {slug!r} does not exist", code="store_not_found")
        return row

    # -- stores ------------------------------------------------------------------------------

    async def list_stores(self) -> list[StoreView]:
        async def work(session: AsyncSession) -> list[StoreView]:
            return [store_view(r) for r in await self._config(session).list_store_rows()]

        return await self._read(work)

    async def get_store(self, slug: str) -> StoreView:
        async def work(session: AsyncSession) -> StoreView:
            return store_view(await self._store(session, self._config(session), slug))

        return await self._read(work)

    async def put_store(self, slug: str, body: StoreBody, actor: str) -> tuple[bool, StoreView]:
        async def work(session: AsyncSession) -> tuple[bool, StoreView]:
            config = self._config(session)
            saved = await config.put_store(slug, body)
            if not saved.unchanged:  # a PUT that changes nothing is not an event
                self._audit(
                    session,
                    "store.created" if saved.created else "store.updated",
                    actor,
                    slug,
                    details=saved.audit_details(),
                )
            await session.flush()
            return saved.created, store_view(await self._store(session, config, slug))

        return await self._write(work)

    async def delete_store(self, slug: str, actor: str) -> None:
        async def work(session: AsyncSession) -> None:
            if not await self._config(session).delete_store(slug):
                raise NotFound(f"store {slug!r} does not exist", code="store_not_found")
            self._audit(session, "store.deleted", actor, slug)

        await self._write(work)

    async def store_record(self, slug: str) -> StoreRecord:
        async def work(session: AsyncSession) -> StoreRecord | None:
            return await self._config(session).get_store(slug)

        record = await self._read(work)
        if record is None:
            raise NotFound(f"store {slug!r} does not exist", code="store_not_found")
        return record

    async def check_credentials(self, slug: str) -> CredentialCheck:
        store = await self.store_record(slug)
        try:
            await self._rt.customers_api(store).probe()
        except AdapterError as exc:
            if exc.code == "bigcommerce_unavailable":
                # Not which network error: that would tell the caller about hosts, not tokens.
                log.info("credential check failed", detail=exc.detail)
                return CredentialCheck(ok=False, message="BigCommerce could not be reached")
            return CredentialCheck(ok=False, message=exc.detail)
        return CredentialCheck(ok=True, message="the API token can read customers")

    # -- connections -------------------------------------------------------------------------

    async def validate_connection(self, body: OidcConnectionBody | SamlConnectionBody) -> None:
        """Everything that can be checked before saving, URL rules first: a refused URL is
        never fetched. A failure names what the operator can fix, never what the remote
        answered beyond its status."""
        field, url = (
            ("issuer", body.issuer)
            if isinstance(body, OidcConnectionBody)
            else ("idp_metadata_url", body.idp_metadata_url)
        )
        if url is not None:
            reason = check_outbound_url(
                url, allow_insecure_loopback=self._rt.settings.allow_insecure_loopback
            )
            if reason is None and not self._rt.settings.allow_insecure_loopback:
                reason = await check_public_host(url)
            if reason:
                raise ConfigurationError(f"{field} {reason}", field=field, code="invalid_url")
        if isinstance(body, SamlConnectionBody):
            await self._validate_saml_metadata(body)
            return
        reason = None
        url = body.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            document = await fetch_json(self._rt.idp_http, url, "discovery document")
            metadata = parse_provider_metadata(
                document,
                configured_issuer=body.issuer,
                multi_tenant=body.allowed_tenants is not None,
                allow_insecure_loopback=self._rt.settings.allow_insecure_loopback,
            )
            if not self._rt.settings.allow_insecure_loopback:
                # The endpoints the adapter will call, named by the issuer: the connection
                # guard refuses them anyway, but the operator should hear of it now.
                for name, endpoint in (
                    ("token_endpoint", metadata.token_endpoint),
                    ("jwks_uri", metadata.jwks_uri),
                    ("userinfo_endpoint", metadata.userinfo_endpoint),
                ):
                    if endpoint and (refused := await check_public_host(endpoint)):
                        raise InvalidProviderMetadata(f"{name} {refused}")
        except FetchFailed as exc:
            log.info("connection check failed", detail=exc.detail)
            reason = exc.reason
        except InvalidProviderMetadata as exc:
            reason = str(exc)
        if reason:
            raise ConfigurationError(
                f"the issuer's discovery document cannot be used: {reason}",
                field="issuer",
                code="issuer_unusable",
            )

    async def _validate_saml_metadata(self, body: SamlConnectionBody) -> None:
        if (body.idp_metadata_xml is None) == (body.idp_metadata_url is None):
            raise ConfigurationError(
                "give exactly one of idp_metadata_xml and idp_metadata_url",
                field="idp_metadata_xml",
                code="metadata_missing",
            )
        field = "idp_metadata_xml"
        document: str | bytes | None = body.idp_metadata_xml
        if body.idp_metadata_url is not None:
            field = "idp_metadata_url"
            try:
                document = await fetch_document(
                    self._rt.idp_http,
                    body.idp_metadata_url,
                    what="metadata",
                    max_bytes=MAX_METADATA_BYTES,
                )
            except FetchFailed as exc:
                log.info("connection check failed", detail=exc.detail)
                raise ConfigurationError(
                    exc.reason, field=field, code="metadata_unusable"
                ) from None
        try:
            parse_idp_metadata(document or "")
        except InvalidMetadata as exc:
            raise ConfigurationError(str(exc), field=field, code="metadata_unusable") from None

    async def put_connection(
        self, store: str, slug: str, body: OidcConnectionBody | SamlConnectionBody, actor: str
    ) -> tuple[bool, ConnectionView]:
        await self.get_store(store)  # 404 before the network is asked anything

        async def secret_rule(session: AsyncSession) -> None:
            # Before discovery: a URL that would receive a kept secret is not even fetched.
            await self._config(session).check_connection_change(store, slug, body)

        await self._read(secret_rule)
        await self.validate_connection(body)

        async def work(session: AsyncSession) -> tuple[bool, ConnectionView]:
            config = self._config(session)
            saved = await config.put_connection(store, slug, body)
            row = await self._store(session, config, store)
            if not saved.unchanged:  # a PUT that changes nothing is not an event
                self._audit(
                    session,
                    "connection.created" if saved.created else "connection.updated",
                    actor,
                    store,
                    connection_slug=slug,
                    details=saved.audit_details(),
                )
            connection = await config.connection_row(row.id, slug)
            assert connection is not None
            return saved.created, connection_view(connection)

        return await self._write(work)

    async def list_connections(self, store: str) -> list[ConnectionView]:
        async def work(session: AsyncSession) -> list[ConnectionView]:
            config = self._config(session)
            row = await self._store(session, config, store)
            return [connection_view(c) for c in await config.connection_rows(row.id)]

        return await self._read(work)

    async def get_connection(self, store: str, slug: str) -> ConnectionView:
        async def work(session: AsyncSession) -> ConnectionView:
            config = self._config(session)
            row = await self._store(session, config, store)
            connection = await config.connection_row(row.id, slug)
            if connection is None:
                raise NotFound(f"connection {slug!r} does not exist", code="connection_not_found")
            return connection_view(connection)

        return await self._read(work)

    async def delete_connection(self, store: str, slug: str, actor: str) -> None:
        async def work(session: AsyncSession) -> None:
            config = self._config(session)
            row = await self._store(session, config, store)
            if not await config.delete_connection(row.id, slug):
                raise NotFound(f"connection {slug!r} does not exist", code="connection_not_found")
            self._audit(session, "connection.deleted", actor, store, connection_slug=slug)

        await self._write(work)

    # -- SCIM tokens -------------------------------------------------------------------------

    async def _connection(self, session: AsyncSession, store: str, slug: str) -> Connection:
        config = self._config(session)
        row = await self._store(session, config, store)
        connection = await config.connection_row(row.id, slug)
        if connection is None:
            raise NotFound(f"connection {slug!r} does not exist", code="connection_not_found")
        return connection

    async def create_scim_token(self, store: str, slug: str, actor: str) -> ScimTokenCreated:
        async def work(session: AsyncSession) -> ScimTokenCreated:
            connection = await self._connection(session, store, slug)
            row, token = await ScimTokens(session, self._rt.clock).create(connection.id)
            self._audit(
                session,
                "scim_token.created",
                actor,
                store,
                connection_slug=slug,
                details={"token_id": row.id},
            )
            return ScimTokenCreated(id=row.id, token=token, created_at=row.created_at)

        return await self._write(work)

    async def list_scim_tokens(self, store: str, slug: str) -> list[ScimTokenView]:
        async def work(session: AsyncSession) -> list[ScimTokenView]:
            connection = await self._connection(session, store, slug)
            return [
                ScimTokenView(id=t.id, created_at=t.created_at, last_used_at=t.last_used_at)
                for t in await ScimTokens(session, self._rt.clock).list(connection.id)
            ]

        return await self._read(work)

    async def revoke_scim_token(self, store: str, slug: str, token_id: int, actor: str) -> None:
        async def work(session: AsyncSession) -> None:
            connection = await self._connection(session, store, slug)
            if not await ScimTokens(session, self._rt.clock).revoke(connection.id, token_id):
                raise NotFound(f"SCIM token {token_id} does not exist", code="token_not_found")
            self._audit(
                session,
                "scim_token.revoked",
                actor,
                store,
                connection_slug=slug,
                details={"token_id": token_id},
            )

        await self._write(work)

    # -- links -------------------------------------------------------------------------------

    async def _connection_ids(self, session: AsyncSession, store_id: int) -> dict[int, str]:
        rows = await session.execute(
            select(Connection.id, Connection.slug).where(Connection.store_id == store_id)
        )
        return {row.id: row.slug for row in rows}

    async def list_links(
        self,
        store: str,
        *,
        connection: str | None,
        subject: str | None,
        customer_id: int | None,
        email: str | None,
        limit: int,
        cursor: str | None,
    ) -> LinkPage:
        after = decode_cursor(cursor)

        async def work(session: AsyncSession) -> LinkPage:
            row = await self._store(session, self._config(session), store)
            slugs = await self._connection_ids(session, row.id)
            query = select(Link).where(Link.store_id == row.id)
            if connection is not None:
                ids = [i for i, s in slugs.items() if s == connection]
                query = query.where(Link.connection_id.in_(ids))
            if subject is not None:
                query = query.where(Link.subject == subject)
            if customer_id is not None:
                query = query.where(Link.customer_id == customer_id)
            if email is not None:
                query = query.where(Link.email == email)
            if after is not None:
                query = query.where(Link.id > after)
            links = list(await session.scalars(query.order_by(Link.id).limit(limit + 1)))
            more = len(links) > limit
            links = links[:limit]
            return LinkPage(
                items=[link_view(link, slugs[link.connection_id]) for link in links],
                next_cursor=encode_cursor(links[-1].id) if more else None,
            )

        return await self._read(work)

    async def _link(
        self, session: AsyncSession, store: str, link_id: int
    ) -> tuple[Store, Link, str]:
        row = await self._store(session, self._config(session), store)
        link = await session.get(Link, link_id)
        if link is None or link.store_id != row.id:
            raise NotFound(f"link {link_id} does not exist in this store", code="link_not_found")
        slugs = await self._connection_ids(session, row.id)
        return row, link, slugs[link.connection_id]

    @staticmethod
    async def _customer_free(links: LinkRepository, connection_id: int, customer_id: int) -> None:
        if await links.find_for_customer(connection_id, customer_id) is not None:
            raise Conflict(
                "this customer is already linked to another subject of this connection",
                code="customer_linked",
            )

    async def get_link(self, store: str, link_id: int) -> LinkView:
        async def work(session: AsyncSession) -> LinkView:
            _, link, slug = await self._link(session, store, link_id)
            return link_view(link, slug)

        return await self._read(work)

    async def create_link(self, store: str, body: NewLink, actor: str) -> LinkView:
        async def work(session: AsyncSession) -> LinkView:
            config = self._config(session)
            row = await self._store(session, config, store)
            connection = await config.connection_row(row.id, body.connection)
            if connection is None:
                raise NotFound(
                    f"connection {body.connection!r} does not exist", code="connection_not_found"
                )
            links = LinkRepository(session, self._rt.clock)
            if await links.find(connection.id, body.subject) is not None:
                raise Conflict("this subject is already linked", code="link_exists")
            await self._customer_free(links, connection.id, body.customer_id)
            link = await links.create(
                store_id=row.id,
                connection_id=connection.id,
                subject=body.subject,
                customer_id=body.customer_id,
                email=None,
            )
            self._audit(
                session,
                "link.created",
                actor,
                store,
                connection_slug=body.connection,
                subject=body.subject,
                customer_id=body.customer_id,
                reason="manual",
            )
            return link_view(link, body.connection)

        return await self._write(work)

    async def repoint_link(
        self, store: str, link_id: int, customer_id: int, actor: str
    ) -> LinkView:
        async def work(session: AsyncSession) -> LinkView:
            _, link, slug = await self._link(session, store, link_id)
            previous = link.customer_id
            if customer_id != previous:
                await self._customer_free(
                    LinkRepository(session, self._rt.clock), link.connection_id, customer_id
                )
            link.customer_id = customer_id
            self._audit(
                session,
                "link.updated",
                actor,
                store,
                connection_slug=slug,
                subject=link.subject,
                customer_id=customer_id,
                details={"previous_customer_id": previous},
            )
            await session.flush()
            return link_view(link, slug)

        return await self._write(work)

    async def delete_link(self, store: str, link_id: int, actor: str) -> None:
        async def work(session: AsyncSession) -> None:
            _, link, slug = await self._link(session, store, link_id)
            self._audit(
                session,
                "link.deleted",
                actor,
                store,
                connection_slug=slug,
                subject=link.subject,
                customer_id=link.customer_id,
            )
            await session.delete(link)

        await self._write(work)

    # -- events ------------------------------------------------------------------------------

    async def list_events(
        self,
        store: str,
        *,
        kind: str | None,
        outcome: str | None,
        connection: str | None,
        subject: str | None,
        customer_id: int | None,
        email: str | None,
        limit: int,
        cursor: str | None,
        reference: str | None = None,
    ) -> EventPage:
        before = decode_cursor(cursor)

        async def work(session: AsyncSession) -> EventPage:
            row = await self._config(session).store_row(store)
            query = select(AuditEvent).where(AuditEvent.store_slug == store)
            if row is not None:
                # Only this store's life: not a deleted namesake's, nor attempts before it.
                query = query.where(AuditEvent.created_at >= row.created_at)
            elif await session.scalar(query.limit(1)) is None:
                raise NotFound(f"store {store!r} does not exist", code="store_not_found")
            # A deleted store's events stay readable under its slug.
            for column, value in (
                (AuditEvent.kind, kind),
                (AuditEvent.outcome, outcome),
                (AuditEvent.connection_slug, connection),
                (AuditEvent.subject, subject),
                (AuditEvent.customer_id, customer_id),
                (AuditEvent.email, email),
                (AuditEvent.reference, reference),
            ):
                if value is not None:
                    query = query.where(column == value)
            if before is not None:
                query = query.where(AuditEvent.id < before)
            rows = list(
                await session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit + 1))
            )
            more = len(rows) > limit
            rows = rows[:limit]
            return EventPage(
                items=[event_view(r) for r in rows],
                next_cursor=encode_cursor(rows[-1].id) if more else None,
            )

        return await self._read(work)

    # -- the dry-run test login --------------------------------------------------------------

    async def test_login(self, store: str, slug: str, request: TestLoginRequest) -> TestLoginAnswer:
        async def load(session: AsyncSession) -> Any:
            return await self._config(session).get_connection(store, slug)

        found = await self._read(load)
        if found is None:
            raise NotFound(f"connection {store}/{slug} does not exist", code="connection_not_found")
        store_record, connection = found
        idp_entity_id = None
        name_id_formats: tuple[str, ...] = ()
        if connection.protocol == "saml":
            provider = await self._rt.saml.get(
                connection, public_url=self._rt.settings.public_url, store_slug=store
            )
            idp_entity_id = provider.settings.idp_entity_id
            name_id_formats = provider.settings.idp_name_id_formats
        answer = await DryRun(self._rt, store_record, connection, idp_entity_id).run(request)
        warnings = connection_warnings(connection.settings, idp_name_id_formats=name_id_formats)

        async def served(session: AsyncSession) -> list[list[int]]:
            rows = await self._config(session).connection_rows(store_record.id)
            return [list(r.settings.get("channel_ids") or []) for r in rows]

        warnings += unreachable_channels(
            [c.channel_id for c in store_record.channels], await self._read(served)
        )
        answer.warnings = [asdict(w) for w in warnings]
        return answer


class DryRun:
    """Walks the login's decisions for given claims, reading but never writing."""

    def __init__(
        self, runtime: Runtime, store: StoreRecord, connection: Any, idp_entity_id: str | None
    ):
        self._rt = runtime
        self._store = store
        self._connection = connection
        self._idp_entity_id = idp_entity_id

    def _identity(self, claims: dict[str, Any]) -> Identity:
        if self._connection.protocol == "oidc":
            return identity_from_claims(claims, oidc_client_settings(self._connection))
        # SAML: the claims stand for an assertion's NameID and attributes.
        attributes = claims.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise BadRequest("attributes must map names to lists of values", code="invalid_claims")
        assertion = VerifiedAssertion(
            assertion_id="dry-run",
            issuer=self._idp_entity_id or "",
            name_id=claims.get("name_id"),
            name_id_format=claims.get("name_id_format", NAMEID_FORMAT_PERSISTENT),
            attributes={
                str(k): [str(x) for x in (v if isinstance(v, list) else [v])]
                for k, v in attributes.items()
            },
            in_response_to=None,
            not_on_or_after=None,
        )
        return identity_from_assertion(assertion, self._connection.settings)

    def _refused(self, reason: str, **known: Any) -> TestLoginAnswer:
        return TestLoginAnswer(
            outcome="refused",
            action="refuse",
            subject=known.get("subject"),
            email=known.get("email"),
            email_verified=known.get("email_verified", False),
            customer_id=known.get("customer_id"),
            reason=reason,
            customer_to_create=None,
            jwt_claims=None,
            channel_access=known.get("channel_access"),
        )

    async def _decide(
        self, identity: Identity, channel_id: int
    ) -> tuple[Decision, dict[int, Candidate]]:
        """The login's decision (core.first_login) from the facts the login would meet, read
        but never written. Unlike the login, the e-mail is always looked up: a customer that
        the login would meet only as its creation's "e-mail in use" is decided the same way."""
        connection = self._connection
        async with self._rt.sessions() as session:
            link = await LinkRepository(session, self._rt.clock).find(
                connection.id, identity.subject
            )
        matches: list[Candidate] = []
        since = None
        if link is None and identity.email and email_refusal(identity) is None:
            found = await self._rt.customers_api(self._store).find_by_email(identity.email)
            async with self._rt.sessions() as session:
                links = LinkRepository(session, self._rt.clock)
                matches = [
                    candidate(c, await links.find_for_customer(connection.id, c.id) is not None)
                    for c in found
                ]
                since = await IntentRepository(session, self._rt.clock).oldest_open(
                    connection.id, identity.subject, identity.email
                )
        decision = first_login(
            identity,
            first_login_policy(connection),
            link_customer_id=None if link is None else link.customer_id,
            matches=matches,
            new_customer=new_customer_fields(identity, connection, channel_id),
            adoption_since=since,
        )
        return decision, {c.id: c for c in matches}

    async def _channel_access(
        self, customer_id: int, channel_id: int, candidates: dict[int, Candidate]
    ) -> ChannelVerdict | Refuse:
        """What services.channel_access would find for this customer, asking BigCommerce
        what the login would ask and changing nothing (`add_channel`: the login would add
        the channel to the customer)."""
        customers = self._rt.customers_api(self._store)
        known = candidates.get(customer_id)
        if known is None:
            customer = await customers.get(customer_id)
            if customer is None:
                return Refuse("customer_missing", "the linked customer no longer exists")
            channel_ids = customer.channel_ids
        else:
            channel_ids = known.channel_ids
        verdict = channel_access(
            channel_ids,
            channel_id,
            add_channel_to_customer=self._connection.settings.add_channel_to_customer,
            global_logins_allowed=(
                await customers.channel_allows_global_logins(channel_id)
                if is_global(channel_ids)
                else None
            ),
        )
        if verdict == "denied":
            return channel_refusal(customer_id, channel_id)
        return verdict

    async def run(self, request: TestLoginRequest) -> TestLoginAnswer:
        store, settings = self._store, self._connection.settings
        try:
            identity = self._identity(request.claims)
            channel_id = parse_channel_id(
                None if request.channel_id is None else str(request.channel_id), store
            )
            redirect_to = validate_redirect_to(request.redirect_to)
        except InvalidRedirect as exc:
            return self._refused(f"redirect_to {exc}")
        except AdapterError as exc:
            return self._refused(exc.code)
        known: dict[str, Any] = {
            "subject": identity.subject,
            "email": identity.email,
            "email_verified": identity.email_verified,
        }
        if store.channel(channel_id) is None or channel_id not in settings.channel_ids:
            return self._refused("channel_not_allowed", **known)
        if (await self._rt.login_store.find_link(self._connection.id, identity.subject)).blocked:
            return self._refused("deprovisioned", **known)
        try:
            plan = await B2bMembership(self._rt).plan(store, self._connection, identity)
        except NotAdmitted as exc:
            return self._refused(exc.code, **known)

        decision, candidates = await self._decide(identity, channel_id)
        if isinstance(decision, Refuse):
            return self._refused(decision.code, **known)
        customer_id: int | None = None
        to_create: dict[str, Any] | None = None
        access: str
        if isinstance(decision, Create):
            fields = decision.fields
            to_create = {
                "email": fields.email,
                "first_name": fields.first_name,
                "last_name": fields.last_name,
                "origin_channel_id": fields.channel_id,
                "channel_ids": [fields.channel_id],
                "customer_group_id": fields.customer_group_id,
            }
            access = "new_customer"
        else:
            customer_id = (
                decision.customer_id if isinstance(decision, UseLink) else decision.customer.id
            )
            checked = await self._channel_access(customer_id, channel_id, candidates)
            if isinstance(checked, Refuse):
                denied = "denied" if checked.code == "channel_denied" else None
                return self._refused(
                    checked.code, customer_id=customer_id, channel_access=denied, **known
                )
            access = checked
        b2b = None
        if plan is not None:
            user = (
                None
                if customer_id is None
                else await self._rt.b2b_api(store).user_of_customer(customer_id)
            )
            if user is not None and user.company_id != plan.company_id:
                return self._refused("b2b_company_mismatch", customer_id=customer_id, **known)
            b2b = {
                "company_key": plan.key,
                "company_id": plan.company_id,
                "create_company": plan.company_id is None,
                "role": plan.role.label,
                "already_a_user": user is not None,
            }
        claims: dict[str, Any] = {
            "iss": store.client_id,
            "iat": "(the time of the redirect)",
            "jti": "(a fresh UUID)",
            "operation": "customer_login",
            "store_hash": store.store_hash,
            "customer_id": customer_id
            if customer_id is not None
            else "(the created customer's id)",
            "channel_id": channel_id,
            "redirect_to": redirect_to,
        }
        if store.bind_request_ip:
            claims["request_ip"] = "(the browser's address)"
        return TestLoginAnswer(
            outcome="login",
            action=decision.action,
            customer_id=customer_id,
            channel_access=access,
            reason=None,
            customer_to_create=to_create,
            jwt_claims=claims,
            b2b=b2b,
            **known,
        )
