"""A small world for flow tests: the sample OP, the BigCommerce emulator and a live adapter,
wired together on loopback, plus a scripted browser that walks a login through them."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import httpx
import sqlalchemy as sa
from joserfc.jwk import RSAKey
from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

from adapter.clock import Clock, SystemClock
from adapter.core.secretbox import SecretBox
from adapter.db.engine import create_engine, create_sessionmaker
from adapter.db.models import AuditEvent, Link, LoginState, UsedValue
from adapter.sandbox.bigcommerce import BigCommerceEmulator, EmulatedStore
from adapter.sandbox.oidc_provider import SandboxOidcProvider
from adapter.schemas import OidcConnectionBody, StoreBody
from adapter.services.configuration import Configuration
from adapter.services.runtime import Runtime
from adapter.settings import Settings
from adapter.web.app import create_app
from tests.support.servers import ServerThread

SECRET_KEY = "test-master-key-" + "x" * 32
ADMIN_TOKEN = "bootstrap-admin-token-" + "y" * 24
STORE, CONNECTION, STORE_HASH = "acme", "okta", "acme1"
CLIENT_ID = "adapter-client"


class Dispatcher:
    """An ASGI app that forwards to whichever app a test put in `target`."""

    def __init__(self) -> None:
        self.target: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            while message["type"] != "lifespan.shutdown":
                await send({"type": message["type"] + ".complete"})
                message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        assert self.target is not None, "no app behind this test server"
        await self.target(scope, receive, send)


@cache
def op_signing_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "key-1", "use": "sig"}, private=True)


@dataclass
class Outcome:
    """Where a scripted login ended."""

    start: httpx.Response
    callback: httpx.Response | None = None
    storefront: httpx.Response | None = None
    page: httpx.Response | None = None

    @property
    def final(self) -> httpx.Response:
        return self.page or self.storefront or self.callback or self.start

    @property
    def landed(self) -> bool:
        return self.page is not None and "Signed in as customer #" in self.page.text

    @property
    def refusal(self) -> httpx.Response:
        """The adapter's own failure answer (from /login or from the callback)."""
        answer = self.callback if self.callback is not None else self.start
        assert answer.status_code >= 400, f"expected a refusal, got {answer.status_code}"
        return answer


@dataclass
class World:
    database_url: str
    engine: sa.Engine
    op: SandboxOidcProvider
    shop: BigCommerceEmulator
    shop_store: EmulatedStore
    client_secret: str
    clock: Clock = field(default_factory=SystemClock)
    adapter: ServerThread | None = None
    runtime: Runtime | None = None
    settings_overrides: dict[str, Any] = field(default_factory=dict)
    public_url: str = ""
    secret_key: str = SECRET_KEY

    # -- the adapter ------------------------------------------------------------------------

    def start_adapter(self, public_url: str | None = None, **overrides: Any) -> None:
        self.stop_adapter()
        server = ServerThread.bind("127.0.0.1")
        self.public_url = public_url or server.url
        settings = Settings(
            database_url=self.database_url,
            public_url=self.public_url,
            secret_key=SecretStr(self.secret_key),
            admin_token=SecretStr(ADMIN_TOKEN),
            **{"allow_insecure_loopback": True, **self.settings_overrides, **overrides},
        )
        self.runtime = Runtime.build(settings, clock=self.clock)
        self.adapter = server.start(create_app(self.runtime))

    def stop_adapter(self) -> None:
        if self.adapter is not None:
            self.adapter.stop()
            self.adapter = None

    @property
    def url(self) -> str:
        assert self.adapter is not None
        return self.adapter.url

    def close(self) -> None:
        self.stop_adapter()

    # -- configuration, through the same service layer as the admin API ---------------------

    def _configure(self, action: Any) -> Any:
        async def run() -> Any:
            engine = create_engine(self.database_url)
            try:
                async with create_sessionmaker(engine).begin() as session:
                    from adapter.core.secretbox import SecretBox

                    repo = Configuration(
                        session, SecretBox(SECRET_KEY), SystemClock(), allow_loopback=True
                    )
                    return await action(repo)
            finally:
                await engine.dispose()

        done = asyncio.run(run())
        # Written behind the adapter's back, as another replica would: forget what it cached.
        if self.runtime is not None:
            self.runtime.connections.clear()
        return done

    def put_store(self, **overrides: Any) -> None:
        body = {
            "store_hash": STORE_HASH,
            "client_id": self.shop_store.client_id,
            "client_secret": self.shop_store.client_secret,
            "api_token": self.shop_store.api_token,
            "api_base_url": self.shop.base_url,
            "default_channel_id": 1,
            "channels": [
                {
                    "channel_id": 1,
                    "kind": "hosted",
                    "storefront_url": self.shop.storefront_url(STORE_HASH, 1),
                },
                {
                    "channel_id": 2,
                    "kind": "hosted",
                    "storefront_url": self.shop.storefront_url(STORE_HASH, 2),
                },
            ],
            **overrides,
        }
        self._configure(lambda repo: repo.put_store(STORE, StoreBody.model_validate(body)))

    def put_connection(self, slug: str = CONNECTION, **overrides: Any) -> None:
        body = {
            "protocol": "oidc",
            "issuer": self.op.issuer,
            "client_id": CLIENT_ID,
            "client_secret": self.client_secret,
            "channel_ids": [1],
            "create_customers": True,
            "link_by_email": False,
            **overrides,
        }
        self.op.add_client(
            body["client_id"],
            self.client_secret,
            [f"{self.public_url}/sso/{STORE}/{slug}/oidc/callback"],
        )
        self._configure(
            lambda repo: repo.put_connection(STORE, slug, OidcConnectionBody.model_validate(body))
        )

    def create_token(self, name: str, *scopes: str) -> str:
        from adapter.db.tokens import TokenRepository

        async def run() -> str:
            engine = create_engine(self.database_url)
            try:
                async with create_sessionmaker(engine).begin() as session:
                    return await TokenRepository(session, SystemClock()).create(name, list(scopes))
            finally:
                await engine.dispose()

        return asyncio.run(run())

    def admin(self, token: str | None = ADMIN_TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=f"{self.url}/admin/v1", headers=headers, timeout=30)

    def put_saml_connection(self, slug: str, metadata_xml: str, **overrides: Any) -> None:
        from adapter.schemas import SamlConnectionBody

        body = {
            "protocol": "saml",
            "idp_metadata_xml": metadata_xml,
            "channel_ids": [1],
            "email_verified": True,
            **overrides,
        }
        self._configure(
            lambda repo: repo.put_connection(STORE, slug, SamlConnectionBody.model_validate(body))
        )

    # -- a scripted browser -----------------------------------------------------------------

    def browser(self) -> httpx.Client:
        return httpx.Client(follow_redirects=False, timeout=30)

    def login(
        self,
        browser: httpx.Client | None = None,
        *,
        connection: str = CONNECTION,
        store: str = STORE,
        headers: dict[str, str] | None = None,
        **params: Any,
    ) -> Outcome:
        browser = browser or self.browser()
        start = browser.get(
            f"{self.url}/sso/{store}/{connection}/login", params=params, headers=headers
        )
        outcome = Outcome(start=start)
        if start.status_code != 302 or not start.headers["location"].startswith(self.op.issuer):
            return outcome
        at_op = browser.get(start.headers["location"])
        assert at_op.status_code == 302, at_op.text
        outcome.callback = browser.get(at_op.headers["location"], headers=headers)
        return self.follow_to_storefront(outcome, browser)

    def follow_to_storefront(self, outcome: Outcome, browser: httpx.Client) -> Outcome:
        callback = outcome.callback
        if callback is None or callback.status_code != 302:
            return outcome
        location = callback.headers["location"]
        if not location.startswith(self.shop.base_url):
            return outcome
        outcome.storefront = browser.get(location)
        if outcome.storefront.status_code == 302:
            outcome.page = browser.get(outcome.storefront.headers["location"])
        return outcome

    # -- what happened ----------------------------------------------------------------------

    def links(self) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(Link.__table__)).mappings())

    def events(self, kind: str | None = None, outcome: str | None = None) -> list[Any]:
        query = sa.select(AuditEvent.__table__).order_by(AuditEvent.id)
        if kind:
            query = query.where(AuditEvent.kind == kind)
        if outcome:
            query = query.where(AuditEvent.outcome == outcome)
        with self.engine.connect() as conn:
            return list(conn.execute(query).mappings())

    def login_states(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(LoginState)).scalar_one()

    def rewrite_login_in_flight(self, rewrite: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        """Replace the stored shape of the one login in flight, sealed as the adapter seals it
        (to play a login another release kept in flight)."""
        box = SecretBox(self.secret_key)
        with self.engine.begin() as conn:
            key_hash, sealed = conn.execute(
                sa.select(LoginState.key_hash, LoginState.payload_sealed)
            ).one()
            context = f"login-state:{key_hash}"
            stored = rewrite(json.loads(box.open(sealed, context=context)))
            conn.execute(
                sa.update(LoginState)
                .where(LoginState.key_hash == key_hash)
                .values(payload_sealed=box.seal(json.dumps(stored), context=context))
            )

    def used_values(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(UsedValue)).scalar_one()

    @property
    def customers(self) -> dict[int, dict[str, Any]]:
        return self.shop_store.customers


def build_world(
    database_url: str,
    engine: sa.Engine,
    op_server: tuple[ServerThread, Dispatcher],
    shop_server: tuple[ServerThread, Dispatcher],
) -> World:
    op = SandboxOidcProvider(op_server[0].url, auto_login="ada")
    op.keys = [op_signing_key()]
    op.add_user(
        "ada",
        "pw",
        email="ada@example.com",
        email_verified=True,
        given_name="Ada",
        family_name="Lovelace",
        groups=["engineering"],
    )
    op_server[1].target = op.app()
    shop = BigCommerceEmulator(shop_server[0].url)
    shop_store = shop.add_store(STORE_HASH, channels={1: "Main", 2: "Outlet"})
    shop_server[1].target = shop.app()
    world = World(
        database_url=database_url,
        engine=engine,
        op=op,
        shop=shop,
        shop_store=shop_store,
        client_secret=secrets.token_urlsafe(24),
    )
    world.start_adapter()
    world.put_store()
    world.put_connection()
    return world
