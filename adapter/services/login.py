"""The browser login: start at the IdP, finish on the callback, end on the storefront."""

from __future__ import annotations

import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from adapter.bigcommerce.storefront import default_graphql_url, login_with_customer_login_jwt
from adapter.core.current_customer import CurrentCustomer, verify_current_customer
from adapter.core.customer_profile import customer_group, customer_names, email_is_verified
from adapter.core.emails import UnmatchableEmail, mailbox_key, same_mailbox
from adapter.core.identity import Identity
from adapter.core.login_jwt import CustomerLogin, mint_customer_login_jwt
from adapter.core.policy import OidcPolicy
from adapter.core.records import ChannelRecord, ConnectionRecord, StoreRecord
from adapter.core.redirects import InvalidRedirect, validate_redirect_to
from adapter.db.audit import AuditLog, AuditRecord
from adapter.db.exchange_codes import ExchangeCodes
from adapter.db.intents import IntentRepository
from adapter.db.ledger import Ledger
from adapter.db.links import LinkRepository
from adapter.db.login_states import LoginStateRepository, PendingLogin
from adapter.errors import BadRequest, NotAdmitted, NotFound, UpstreamFailed
from adapter.oidc.relying_party import OidcClientSettings
from adapter.services.channel_access import ChannelAccess
from adapter.services.configuration import Configuration
from adapter.services.resolution import IdentityResolver, Resolution
from adapter.services.runtime import Runtime

PURGE_INTERVAL_SECONDS = 60.0
MAX_LOGIN_HINT_LENGTH = 256


@dataclass
class LoginTrace:
    """What is known so far about a login, for its audit event and log line."""

    store_slug: str | None = None
    connection_slug: str | None = None
    protocol: str | None = None
    channel_id: int | None = None
    subject: str | None = None
    email: str | None = None
    customer_id: int | None = None
    # Set once the store is found: only then is a failure filed under the store's name.
    store_known: bool = False
    details: dict[str, Any] = field(default_factory=dict)
    # Named from the start, so that what is logged on the way (a claim that could not be
    # given back, say) carries the reference the shopper will quote if the login fails.
    reference: str = field(default_factory=lambda: secrets.token_hex(6))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def request_origin(origin: str | None, referer: str | None) -> str | None:
    """The page's origin, from the Origin header or, failing that, the Referer."""
    if origin and origin != "null":
        return origin.lower()
    if not referer:
        return None
    try:
        return _origin(referer)
    except ValueError:  # "http://[::1": a Referer that does not parse names no origin
        return None


def parse_channel_id(value: str | None, store: StoreRecord) -> int:
    if value is None or value == "":
        return store.default_channel_id
    if not value.isascii() or not value.isdigit() or len(value) > 10:
        raise BadRequest("channel_id is not a number", code="channel_id_malformed")
    return int(value)


def admitted_channel(
    store: StoreRecord, connection: ConnectionRecord, channel_id: int
) -> ChannelRecord:
    channel = store.channel(channel_id)
    if channel is None or channel_id not in connection.settings.channel_ids:
        raise NotAdmitted(
            f"channel {channel_id} is not open to this connection",
            code="channel_not_allowed",
            public_message="This sign-in is not available for this storefront.",
        )
    return channel


def clean_login_hint(value: str | None) -> str | None:
    if not value:
        return None
    if len(value) > MAX_LOGIN_HINT_LENGTH or any(
        unicodedata.category(ch).startswith("C") for ch in value
    ):
        raise BadRequest("login_hint malformed", code="login_hint_malformed")
    return value


def _may_write_email(idp_email: str | None, customer_email: str) -> bool:
    """Whether profile sync writes the IdP's e-mail over the customer's.

    Not when both name the same mailbox (a change of letter case is no change), and never an
    address `core.emails` will not compare: a look-alike of someone else's address must not
    become this customer's, as it may not when the customer is created."""
    if idp_email is None:
        return False
    try:
        mailbox_key(idp_email)
    except UnmatchableEmail:
        return False
    return not same_mailbox(idp_email, customer_email)


def oidc_client_settings(connection: ConnectionRecord) -> OidcClientSettings:
    body = connection.settings
    assert isinstance(body, OidcPolicy)
    return OidcClientSettings(
        issuer=body.issuer,
        client_id=body.client_id,
        client_secret=connection.client_secret,
        scopes=tuple(body.scopes),
        subject_claim=body.subject_claim,
        allowed_tenants=frozenset(body.allowed_tenants) if body.allowed_tenants else None,
        groups_claim=body.groups_claim,
        trusted_audiences=frozenset(body.trusted_audiences),
    )


class LoginService:
    def __init__(self, runtime: Runtime):
        self._rt = runtime
        self._resolver = IdentityResolver(runtime)
        self._access = ChannelAccess(runtime)
        self._last_purge = 0.0

    def callback_url(self, store_slug: str, connection_slug: str) -> str:
        return f"{self._rt.settings.public_url}/sso/{store_slug}/{connection_slug}/oidc/callback"

    async def logout_url(self, store_slug: str, channel_id: str | None, trace: LoginTrace) -> str:
        async with self._rt.sessions() as session:
            store = await self.config(session).get_store(store_slug)
        if store is None:
            raise NotFound(f"no store {store_slug}", code="unknown_store")
        trace.store_known = True
        chosen = parse_channel_id(channel_id, store)
        channel = store.channel(chosen)
        if channel is None:
            raise NotAdmitted(
                f"channel {chosen} is not a channel of this store", code="channel_not_allowed"
            )
        return channel.logout_url

    def config(self, session: Any) -> Configuration:
        return Configuration(
            session,
            self._rt.box,
            self._rt.clock,
            allow_loopback=self._rt.settings.allow_insecure_loopback,
        )

    async def load(
        self, store_slug: str, connection_slug: str, trace: LoginTrace
    ) -> tuple[StoreRecord, ConnectionRecord]:
        found = self._rt.connections.get(store_slug, connection_slug)
        if found is None:
            async with self._rt.sessions() as session:
                found = await self.config(session).get_connection(store_slug, connection_slug)
            if found is None:
                raise NotFound(
                    f"no connection {store_slug}/{connection_slug}", code="unknown_connection"
                )
            self._rt.connections.put(store_slug, connection_slug, found)
        store, connection = found
        trace.protocol = connection.protocol
        trace.store_known = True
        return store, connection

    async def start(
        self,
        store_slug: str,
        connection_slug: str,
        *,
        channel_id: str | None,
        redirect_to: str | None,
        login_hint: str | None,
        browser_id: str,
        trace: LoginTrace,
        current_customer_jwt: str | None = None,
        request_origin: str | None = None,
    ) -> str:
        store, connection = await self.load(store_slug, connection_slug, trace)
        if current_customer_jwt is not None:
            # Linking writes to the shopper's account: the form must come from one of this
            # store's storefronts, not from a page that posts someone else's JWT (CSRF).
            storefronts = {_origin(c.storefront_url) for c in store.channels}
            if request_origin is None or request_origin not in storefronts:
                raise NotAdmitted(
                    f"link request from origin {request_origin!r}", code="link_origin_refused"
                )
        # Linking: the storefront's signed word on who is signed in, verified now and carried
        # in this login's own server-side state, never taken from the callback.
        linking = (
            None
            if current_customer_jwt is None
            else self.verify_current_customer(store, current_customer_jwt, trace)
        )
        chosen = parse_channel_id(channel_id, store)
        trace.channel_id = chosen
        admitted_channel(store, connection, chosen)
        try:
            target = validate_redirect_to(redirect_to)
        except InvalidRedirect as exc:
            raise BadRequest(f"redirect_to {exc}", code="redirect_to_invalid") from None
        hint = clean_login_hint(login_hint)
        if connection.protocol == "saml":
            provider = await self.saml_provider(store, connection)
            state = secrets.token_urlsafe(32)
            # RelayState is the state itself: it names this login and nothing else.
            request_id, url = provider.authn_request(relay_state=state)
            payload: dict[str, Any] = {"saml_request_id": request_id}
        else:
            request = await self._rt.oidc.begin(
                oidc_client_settings(connection),
                redirect_uri=self.callback_url(store_slug, connection_slug),
                login_hint=hint,
            )
            state, url = request.state, request.url
            payload = {"nonce": request.nonce, "code_verifier": request.code_verifier}
        if linking is not None:
            payload["link_customer_id"] = linking.customer_id
            payload["link_customer_email"] = linking.email
        await self.keep_in_flight(
            state,
            browser_id,
            PendingLogin(
                store_id=store.id,
                connection_id=connection.id,
                channel_id=chosen,
                redirect_to=target,
                payload=payload,
            ),
        )
        return url

    async def saml_provider(self, store: StoreRecord, connection: ConnectionRecord) -> Any:
        return await self._rt.saml.get(
            connection, public_url=self._rt.settings.public_url, store_slug=store.slug
        )

    def verify_current_customer(
        self, store: StoreRecord, token: str, trace: LoginTrace
    ) -> CurrentCustomer:
        customer = verify_current_customer(
            token,
            app_client_id=store.app_client_id or store.client_id,
            app_client_secret=store.app_client_secret or store.client_secret,
            store_hash=store.store_hash,
            clock=self._rt.clock,
            leeway_seconds=self._rt.settings.clock_skew_seconds,
        )
        trace.customer_id = customer.customer_id
        trace.details["storefront_email"] = customer.email
        return customer

    async def keep_in_flight(
        self, state: str, browser_id: str | None, login: PendingLogin, ttl: int | None = None
    ) -> None:
        async with self._rt.sessions.begin() as session:
            await LoginStateRepository(session, self._rt.box, self._rt.clock).save(
                state=state,
                browser_id=browser_id,
                login=login,
                ttl_seconds=ttl or self._rt.settings.login_state_ttl_seconds,
            )
            await self._purge_now_and_then(session)

    async def take_in_flight(
        self,
        state: str,
        browser_id: str | None,
        store: StoreRecord,
        connection: ConnectionRecord,
        trace: LoginTrace,
        *,
        what: str,
        carrying: str | None = None,
    ) -> tuple[PendingLogin, ChannelRecord]:
        """The login in flight under `state`, for this browser, store and connection (and
        carrying `carrying` in its payload), with its channel; refused otherwise."""
        # Consumed in its own committed transaction: whatever happens next, never twice.
        async with self._rt.sessions.begin() as session:
            pending = await LoginStateRepository(session, self._rt.box, self._rt.clock).consume(
                state=state, browser_id=browser_id
            )
        if pending is None or (carrying is not None and carrying not in pending.payload):
            raise BadRequest(
                f"{what} unknown, expired, used, or from another browser",
                code="login_state_invalid",
                public_message=(
                    "This sign-in has expired or was started in another browser. "
                    "Please start again."
                ),
            )
        if pending.store_id != store.id or pending.connection_id != connection.id:
            raise BadRequest(
                "login state belongs to another connection", code="login_state_invalid"
            )
        trace.channel_id = pending.channel_id
        return pending, admitted_channel(store, connection, pending.channel_id)

    async def _purge_now_and_then(self, session: Any) -> None:
        now = self._rt.clock.now()
        if now - self._last_purge < PURGE_INTERVAL_SECONDS:
            return
        self._last_purge = now
        await LoginStateRepository(session, self._rt.box, self._rt.clock).purge_expired()
        await Ledger(session, self._rt.box, self._rt.clock).purge_expired()
        await IntentRepository(session, self._rt.clock).purge_expired()

    async def finish_oidc(
        self,
        store_slug: str,
        connection_slug: str,
        params: Mapping[str, str],
        *,
        browser_id: str | None,
        request_ip: str | None,
        trace: LoginTrace,
    ) -> str:
        store, connection = await self.load(store_slug, connection_slug, trace)
        if connection.protocol != "oidc":
            raise NotFound("not an OIDC connection", code="unknown_connection")
        state = params.get("state")
        if not state or len(state) > 512:
            raise BadRequest("callback without state", code="state_missing")
        pending, channel = await self.take_in_flight(
            state, browser_id, store, connection, trace, what="login state"
        )
        identity = await self._rt.oidc.complete(
            oidc_client_settings(connection),
            params,
            nonce=pending.payload["nonce"],
            code_verifier=pending.payload["code_verifier"],
            redirect_uri=self.callback_url(store_slug, connection_slug),
        )
        return await self.conclude(store, connection, channel, pending, identity, request_ip, trace)

    async def conclude(
        self,
        store: StoreRecord,
        connection: ConnectionRecord,
        channel: ChannelRecord,
        pending: PendingLogin,
        identity: Identity,
        request_ip: str | None,
        trace: LoginTrace,
    ) -> str:
        trace.subject, trace.email = identity.subject, identity.email
        if "link_customer_id" in pending.payload:
            # Channel access first: a refused link must write nothing.
            await self._access.ensure(
                store,
                connection,
                channel,
                Resolution(int(pending.payload["link_customer_id"]), 0, "current_customer"),
            )
            resolution = await self._resolver.link_current_customer(
                store,
                connection,
                identity,
                int(pending.payload["link_customer_id"]),
                pending.payload.get("link_customer_email"),
            )
        else:
            resolution = await self._resolver.resolve(
                store, connection, identity, channel.channel_id, reference=trace.reference
            )
        trace.customer_id = resolution.customer_id
        if resolution.how == "link" and connection.settings.profile_sync == "every_login":
            await self._sync_profile(store, connection, identity, resolution)
        await self._access.ensure(store, connection, channel, resolution)

        server_side = channel.delivery == "access_token"
        token = mint_customer_login_jwt(
            CustomerLogin(
                store_hash=store.store_hash,
                customer_id=resolution.customer_id,
                channel_id=channel.channel_id,
                redirect_to=pending.redirect_to,
                # The adapter itself presents a server-side JWT: no browser address to bind.
                request_ip=request_ip if store.bind_request_ip and not server_side else None,
            ),
            client_id=store.client_id,
            client_secret=store.client_secret,
            clock=self._rt.clock,
        )
        access = None
        if server_side:
            access = await login_with_customer_login_jwt(
                self._rt.bigcommerce_http,
                graphql_url=channel.graphql_url
                or default_graphql_url(store.store_hash, channel.channel_id),
                storefront_token=channel.storefront_token or "",
                jwt=token,
            )
            if access.customer_id != resolution.customer_id:
                raise UpstreamFailed(
                    "GraphQL logged in another customer than the JWT named", code="graphql_error"
                )
        async with self._rt.sessions.begin() as session:
            code = None
            if access is not None:
                code = await ExchangeCodes(session, self._rt.box, self._rt.clock).issue(
                    store_id=store.id,
                    channel_id=channel.channel_id,
                    customer_id=resolution.customer_id,
                    email=access.email,  # BigCommerce's address for the customer
                    access_token=access.value,
                    access_token_expires_at=access.expires_at,
                )
            await LinkRepository(session, self._rt.clock).record_login(
                resolution.link_id, identity.email
            )
            AuditLog(session, self._rt.clock).record(
                AuditRecord(
                    kind="login",
                    outcome="success",
                    store_slug=store.slug,
                    connection_slug=connection.slug,
                    reason=resolution.how,
                    subject=identity.subject,
                    customer_id=resolution.customer_id,
                    email=identity.email,
                    details={"protocol": connection.protocol, "channel_id": channel.channel_id},
                )
            )
        if code is not None:
            assert channel.return_url is not None
            separator = "&" if "?" in channel.return_url else "?"
            return f"{channel.return_url}{separator}{urlencode({'code': code})}"
        return self._storefront_login_url(channel, token)

    @staticmethod
    def _storefront_login_url(channel: ChannelRecord, token: str) -> str:
        path = "/login/token/"
        if channel.kind == "headless":
            path = channel.login_token_path or "/login/token/"
        return f"{channel.storefront_url}{path}{token}"

    async def _sync_profile(
        self,
        store: StoreRecord,
        connection: ConnectionRecord,
        identity: Identity,
        resolution: Resolution,
    ) -> None:
        customers = self._rt.customers_api(store)
        current = await customers.get(resolution.customer_id)
        if current is None:
            raise NotAdmitted("linked customer no longer exists", code="customer_missing")
        first, last = customer_names(identity)
        wanted: dict[str, Any] = {"first_name": first, "last_name": last}
        if email_is_verified(identity, connection.settings) and _may_write_email(
            identity.email, current.email
        ):
            wanted["email"] = identity.email
        group = customer_group(identity, connection.settings)
        if group is not None:
            wanted["customer_group_id"] = group
        have = {
            "first_name": current.first_name,
            "last_name": current.last_name,
            "email": current.email,
            "customer_group_id": current.customer_group_id,
        }
        changes = {k: v for k, v in wanted.items() if have.get(k) != v}
        if changes:
            await customers.update(resolution.customer_id, changes)
