"""What every step of a browser login needs, whatever the protocol: the store and connection
it is for, the request's checks, and the login kept in flight between two requests."""

from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import urlsplit

from adapter.core.current_customer import CurrentCustomer, verify_current_customer
from adapter.core.login_state import InFlight
from adapter.core.policy import OidcPolicy
from adapter.core.records import ChannelRecord, ConnectionRecord, StoreRecord
from adapter.db.exchange_codes import ExchangeCodes
from adapter.db.intents import IntentRepository
from adapter.db.ledger import Ledger
from adapter.db.login_states import LoginStates, LoginStateTable, PendingLogin
from adapter.errors import BadRequest, NotAdmitted, NotFound
from adapter.oidc.relying_party import OidcClientSettings
from adapter.services import login_facts
from adapter.services.configuration import Configuration
from adapter.services.runtime import Runtime

PURGE_INTERVAL_SECONDS = 60.0
MAX_LOGIN_HINT_LENGTH = 256


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def request_origin(origin: str | None, referer: str | None) -> str | None:
    """The page's origin, from the Origin header or, failing that, the Referer."""
    if origin and origin != "null":
        return origin.lower()
    if not referer:
        return None
    try:
        return origin_of(referer)
    except ValueError:  # "http://[::1": a Referer that does not parse names no origin
        return None


def _serving(store: StoreRecord) -> None:
    if store.uninstalled:
        raise NotFound(
            f"store {store.slug}: its BigCommerce app is uninstalled", code="store_uninstalled"
        )


def _default_storefront(store: StoreRecord) -> str | None:
    channel = store.channel(store.default_channel_id)
    return None if channel is None else channel.storefront_url


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


class LoginSteps:
    def __init__(self, runtime: Runtime):
        self._rt = runtime
        self._last_purge = 0.0

    def config(self, session: Any) -> Configuration:
        return Configuration(
            session,
            self._rt.box,
            self._rt.clock,
            allow_loopback=self._rt.settings.allow_insecure_loopback,
        )

    async def store(self, store_slug: str) -> StoreRecord:
        async with self._rt.sessions() as session:
            store = await self.config(session).get_store(store_slug)
        if store is None:
            raise NotFound(f"no store {store_slug}", code="unknown_store")
        _serving(store)
        login_facts.note(store_known=True, storefront_url=_default_storefront(store))
        return store

    async def load(
        self, store_slug: str, connection_slug: str
    ) -> tuple[StoreRecord, ConnectionRecord]:
        """The store and connection a login step is for, noted in the request's facts."""
        store, connection = await self.find(store_slug, connection_slug)
        login_facts.note(
            protocol=connection.protocol,
            store_known=True,
            storefront_url=_default_storefront(store),
        )
        return store, connection

    async def find(
        self, store_slug: str, connection_slug: str
    ) -> tuple[StoreRecord, ConnectionRecord]:
        async def read() -> tuple[StoreRecord, ConnectionRecord] | None:
            async with self._rt.sessions() as session:
                return await self.config(session).get_connection(store_slug, connection_slug)

        found = await self._rt.connections.load(store_slug, connection_slug, read)
        if found is None:
            raise NotFound(
                f"no connection {store_slug}/{connection_slug}", code="unknown_connection"
            )
        _serving(found[0])
        return found

    async def saml_provider(self, store: StoreRecord, connection: ConnectionRecord) -> Any:
        return await self._rt.saml.get(
            connection, public_url=self._rt.settings.public_url, store_slug=store.slug
        )

    def verify_current_customer(self, store: StoreRecord, token: str) -> CurrentCustomer:
        customer = verify_current_customer(
            token,
            app_client_id=store.app_client_id or store.client_id,
            app_client_secret=store.app_client_secret or store.client_secret,
            store_hash=store.store_hash,
            clock=self._rt.clock,
            leeway_seconds=self._rt.settings.clock_skew_seconds,
        )
        login_facts.note(customer_id=customer.customer_id, current_customer=customer)
        return customer

    def login_states(self) -> LoginStates:
        return LoginStates(self._rt.login_store, self._rt.box, self._rt.clock)

    async def keep_in_flight(
        self, state: str, browser_id: str | None, login: PendingLogin, ttl: int | None = None
    ) -> None:
        await self.login_states().save(
            state=state,
            browser_id=browser_id,
            login=login,
            ttl_seconds=ttl or self._rt.settings.login_state_ttl_seconds,
        )
        await self._purge_now_and_then()

    async def take_in_flight(
        self,
        state: str,
        browser_id: str | None,
        store: StoreRecord,
        connection: ConnectionRecord,
        *,
        what: str,
        expecting: type[InFlight],
    ) -> tuple[PendingLogin, ChannelRecord]:
        """The login in flight under `state`, for this browser, store and connection, at the
        step `expecting` names, with its channel; refused otherwise."""
        # Consumed by a statement of its own, committed: whatever happens next, never twice.
        pending = await self.login_states().consume(state=state, browser_id=browser_id)
        if pending is None or not isinstance(pending.flight, expecting):
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
        login_facts.note(channel_id=pending.channel_id)
        channel = admitted_channel(store, connection, pending.channel_id)
        login_facts.note(storefront_url=channel.storefront_url)
        return pending, channel

    async def _purge_now_and_then(self) -> None:
        """Once a minute per process, in a transaction of its own, after the login's state
        is safely kept."""
        now = self._rt.clock.now()
        if now - self._last_purge < PURGE_INTERVAL_SECONDS:
            return
        self._last_purge = now
        async with self._rt.sessions.begin() as session:
            await LoginStateTable(session, self._rt.clock).purge_expired()
            await Ledger(session, self._rt.box, self._rt.clock).purge_expired()
            await IntentRepository(session, self._rt.clock).purge_expired()
            await ExchangeCodes(session, self._rt.box, self._rt.clock).purge_expired()
