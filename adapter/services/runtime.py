"""Everything a process builds once at start-up and shares: engine, HTTP clients, caches."""

from __future__ import annotations

import asyncio
import functools
import ssl
from dataclasses import dataclass, field

import certifi
import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapter.bigcommerce.b2b import B2bEditionApi
from adapter.bigcommerce.customers import CustomersApi
from adapter.bigcommerce.transport import BigCommerceTransport, CallObserver, Sleep
from adapter.clock import Clock, SystemClock
from adapter.core.records import StoreRecord
from adapter.core.secretbox import SecretBox
from adapter.db.engine import create_engine, create_sessionmaker
from adapter.db.hot_path import LoginStore, open_login_store
from adapter.oidc.discovery import ProviderDirectory
from adapter.oidc.relying_party import OidcRelyingParty
from adapter.outbound import GuardedTransport
from adapter.saml.registry import ServiceProviderRegistry
from adapter.services.config_cache import ConnectionCache
from adapter.settings import Settings

USER_AGENT = "sso-adapter"
# The hot path's own connections per process (see adapter.db.hot_path), beside the engine's.
LOGIN_STORE_POOL_SIZE = 10
# No statement of a login waits longer than this for the database (or for a connection).
LOGIN_STORE_TIMEOUT_SECONDS = 10.0


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every outbound client: loading the CA bundle costs ~50 ms, and the
    context is only configuration."""
    return ssl.create_default_context(cafile=certifi.where())


def _http_client(settings: Settings) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
    # In production every connection is opened by the address guard (adapter.outbound), so
    # no configured URL can reach an internal address, whatever its name resolves to when.
    transport = (
        None
        if settings.allow_insecure_loopback
        else GuardedTransport(verify=_tls_context(), limits=limits)
    )
    return httpx.AsyncClient(
        verify=_tls_context(),
        timeout=httpx.Timeout(
            settings.http_timeout_seconds, connect=min(5.0, settings.http_timeout_seconds)
        ),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
        limits=limits,
        transport=transport,
    )


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    box: SecretBox
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    login_store: LoginStore
    idp_http: httpx.AsyncClient
    bigcommerce_http: httpx.AsyncClient
    providers: ProviderDirectory
    oidc: OidcRelyingParty
    saml: ServiceProviderRegistry
    connections: ConnectionCache
    sleep: Sleep = asyncio.sleep
    observe_bigcommerce: CallObserver | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @classmethod
    def build(
        cls, settings: Settings, *, clock: Clock | None = None, secret_key: str | None = None
    ) -> Runtime:
        clock = clock or SystemClock()
        box = SecretBox(secret_key or settings.require_secret_key(), *settings.old_keys())
        engine = create_engine(settings.database_url)
        idp_http = _http_client(settings)
        providers = ProviderDirectory(
            idp_http, clock, allow_insecure_loopback=settings.allow_insecure_loopback
        )
        return cls(
            settings=settings,
            clock=clock,
            box=box,
            engine=engine,
            sessions=create_sessionmaker(engine),
            login_store=open_login_store(
                settings.database_url,
                pool_size=LOGIN_STORE_POOL_SIZE,
                timeout_seconds=LOGIN_STORE_TIMEOUT_SECONDS,
            ),
            idp_http=idp_http,
            bigcommerce_http=_http_client(settings),
            providers=providers,
            oidc=OidcRelyingParty(
                idp_http, providers, clock, leeway_seconds=settings.clock_skew_seconds
            ),
            saml=ServiceProviderRegistry(
                idp_http,
                clock,
                clock_skew_seconds=settings.clock_skew_seconds,
                response_reader=settings.saml_response_reader,
            ),
            connections=ConnectionCache(clock, settings.config_cache_seconds),
        )

    def bigcommerce_transport(self, store: StoreRecord) -> BigCommerceTransport:
        """The transport every BigCommerce REST client of `store` sends its requests through."""
        return BigCommerceTransport(
            self.bigcommerce_http,
            api_token=store.api_token,
            max_rate_limit_wait=self.settings.rate_limit_max_wait_seconds,
            sleep=self.sleep,
            observe=self.observe_bigcommerce,
        )

    def b2b_api(self, store: StoreRecord) -> B2bEditionApi:
        """B2B Edition's API for a store that runs it."""
        assert store.b2b is not None
        return B2bEditionApi(
            BigCommerceTransport(
                self.bigcommerce_http,
                api_token=store.b2b.api_token,
                headers={"X-Store-Hash": store.store_hash},
                max_rate_limit_wait=self.settings.rate_limit_max_wait_seconds,
                sleep=self.sleep,
                observe=self.observe_bigcommerce,
            ),
            api_base_url=store.b2b.api_base_url,
        )

    def customers_api(self, store: StoreRecord) -> CustomersApi:
        return CustomersApi(
            self.bigcommerce_transport(store),
            api_base_url=store.api_base_url,
            store_hash=store.store_hash,
        )

    async def close(self) -> None:
        self.saml.close()
        await self.idp_http.aclose()
        await self.bigcommerce_http.aclose()
        await self.login_store.close()
        await self.engine.dispose()
