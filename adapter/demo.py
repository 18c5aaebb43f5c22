"""`sso-adapter demo`: a complete login a person can click through, in one process.

The adapter (on the configured SQLite database), a sample OpenID provider with one test user,
and a BigCommerce sandbox storefront, each on its own loopback port.
"""

from __future__ import annotations

import asyncio
import secrets

from pydantic import SecretStr
from sqlalchemy import delete

from adapter.db.migrate import upgrade
from adapter.db.models import Store
from adapter.logging import configure_logging
from adapter.sandbox.bigcommerce import BigCommerceEmulator
from adapter.sandbox.oidc_provider import SandboxOidcProvider
from adapter.schemas import (
    ChannelBody,
    CompanyMapping,
    ConnectionB2bBody,
    OidcConnectionBody,
    RoleMapping,
    StoreB2bBody,
    StoreBody,
)
from adapter.services.configuration import Configuration
from adapter.services.runtime import Runtime
from adapter.serving import bind_socket, uvicorn_server
from adapter.settings import Settings
from adapter.web.app import create_app

STORE, CONNECTION, STORE_HASH = "demo", "example-corp", "demostore"
USERNAME, PASSWORD = "ada", "lovelace"
# A second person, of the B2B company Contoso: signs in through the B2B connection.
BUYER, BUYER_PASSWORD = "grace", "hopper"
B2B_CONNECTION = "example-b2b"


async def _configure(runtime: Runtime, shop: BigCommerceEmulator, op: SandboxOidcProvider) -> None:
    emulated = shop.stores[STORE_HASH]
    async with runtime.sessions.begin() as session:
        # Start from a clean demo store: links from an earlier run point at customers the
        # fresh sandbox does not have.
        # So does the store an earlier run's app install made.
        await session.execute(delete(Store).where(Store.slug.in_([STORE, f"store-{STORE_HASH}"])))
        config = Configuration(session, runtime.box, runtime.clock, allow_loopback=True)
        await config.put_store(
            STORE,
            StoreBody(
                store_hash=STORE_HASH,
                client_id=emulated.client_id,
                client_secret=SecretStr(emulated.client_secret),
                api_token=SecretStr(emulated.api_token),
                api_base_url=shop.base_url,
                default_channel_id=1,
                channels=[
                    ChannelBody(
                        channel_id=1,
                        kind="hosted",
                        storefront_url=shop.storefront_url(STORE_HASH, 1),
                    )
                ],
                b2b=StoreB2bBody(enabled=True, api_base_url=f"{shop.base_url}/b2b"),
            ),
        )
        client_secret = secrets.token_urlsafe(24)
        await config.put_connection(
            STORE,
            CONNECTION,
            OidcConnectionBody(
                protocol="oidc",
                issuer=op.issuer,
                client_id="sso-adapter-demo",
                client_secret=SecretStr(client_secret),
                channel_ids=[1],
            ),
        )
        # The same IdP for Contoso's buyers: they land in B2B Edition's company Contoso, as
        # senior buyers when in the "purchasing" group.
        contoso = shop.b2b.add_company(STORE_HASH, "Contoso")
        await config.put_connection(
            STORE,
            B2B_CONNECTION,
            OidcConnectionBody(
                protocol="oidc",
                issuer=op.issuer,
                client_id="sso-adapter-demo",
                client_secret=SecretStr(client_secret),
                channel_ids=[1],
                groups_claim="groups",
                b2b=ConnectionB2bBody(
                    companies=[CompanyMapping(key="contoso.example", company_id=contoso)],
                    role_mappings=[RoleMapping(group="purchasing", role="senior_buyer")],
                ),
            ),
        )
    op.add_client(
        "sso-adapter-demo",
        client_secret,
        [
            f"{runtime.settings.public_url}/sso/{STORE}/{slug}/oidc/callback"
            for slug in (CONNECTION, B2B_CONNECTION)
        ],
    )


async def _run(settings: Settings, port: int, idp_port: int, shop_port: int) -> None:
    adapter_sock = bind_socket("127.0.0.1", port)
    # The IdP answers on "localhost", the shop and adapter on 127.0.0.1: different sites, so
    # a browser applies its cross-site cookie rules just as with a real IdP.
    idp_sock = bind_socket("127.0.0.1", idp_port)
    shop_sock = bind_socket("127.0.0.1", shop_port)
    public_url = f"http://127.0.0.1:{port}"
    secret_key, key_given = _demo_value(settings.secret_key)
    admin_token, token_given = _demo_value(settings.admin_token, prefix="ssoa_demo_")
    settings = settings.model_copy(
        update={
            "public_url": public_url,
            "allow_insecure_loopback": True,
            "admin_token": SecretStr(admin_token),
        }
    )

    op = SandboxOidcProvider(f"http://localhost:{idp_port}")
    op.add_user(
        USERNAME,
        PASSWORD,
        email="ada@example.com",
        email_verified=True,
        given_name="Ada",
        family_name="Lovelace",
    )
    op.add_user(
        BUYER,
        BUYER_PASSWORD,
        email="grace@contoso.example",
        email_verified=True,
        given_name="Grace",
        family_name="Hopper",
        groups=["purchasing"],
    )
    shop = BigCommerceEmulator(f"http://127.0.0.1:{shop_port}")
    shop.add_store(STORE_HASH, channels={1: "Demo storefront"})
    shop.b2b.enable(STORE_HASH)
    login_url = f"{public_url}/sso/{STORE}/{CONNECTION}/login?channel_id=1&redirect_to=/account.php"
    b2b_login_url = f"{public_url}/sso/{STORE}/{B2B_CONNECTION}/login?channel_id=1"
    shop.sign_in_links[(STORE_HASH, 1)] = [
        ("Sign in with Example Corp", login_url),
        ("Sign in as a Contoso buyer (B2B Edition)", b2b_login_url),
    ]

    # The adapter as a draft app of the sandbox's developer account: installable from the
    # sandbox's Apps page.
    app = shop.app_market.register_app(f"{public_url}/bigcommerce/auth")
    settings = settings.model_copy(
        update={
            "bc_app_client_id": app.client_id,
            "bc_app_client_secret": SecretStr(app.client_secret),
            "bc_login_url": shop.base_url,
            "bc_api_url": shop.base_url,
        }
    )
    runtime = Runtime.build(settings, secret_key=secret_key)
    await _configure(runtime, shop, op)

    servers = [
        (uvicorn_server(create_app(runtime)), adapter_sock),
        (uvicorn_server(op.app()), idp_sock),
        (uvicorn_server(shop.app()), shop_sock),
    ]
    storefront = shop.storefront_url(STORE_HASH, 1) + "/"
    print(
        "\nsso-adapter demo is running.\n"
        f"  Open the storefront:   {storefront}\n"
        f"  and click 'Sign in with Example Corp' (user {USERNAME!r}, password {PASSWORD!r}),\n"
        f"  or 'Sign in as a Contoso buyer' (user {BUYER!r}, password {BUYER_PASSWORD!r}): a\n"
        "  B2B Edition buyer of the company Contoso, as a senior buyer.\n"
        f"  Or start the login directly: {login_url}\n"
        f"  Adapter: {public_url}   Sample IdP: {op.issuer}\n"
        f"  BigCommerce sandbox: {shop.base_url}\n"
        f"  Install the adapter as a BigCommerce app: {shop.base_url}/manage/apps/{STORE_HASH}\n"
        f"  The console: {public_url}/console/ (sign in with the admin token below)\n"
        "\n"
        "  To operate it (the admin API, the CLI), with this demo's database and keys:\n"
        f"    export SSO_ADAPTER_DATABASE_URL={settings.database_url}\n"
        f"    export SSO_ADAPTER_SECRET_KEY={secret_key}"
        f"{'' if key_given else '   # made up for this run'}\n"
        f"    export SSO_ADAPTER_ADMIN_TOKEN={admin_token}"
        f"{'' if token_given else '   # made up for this run'}\n"
        '    curl -H "Authorization: Bearer $SSO_ADAPTER_ADMIN_TOKEN" '
        f"{public_url}/admin/v1/stores\n"
        f"    .venv/bin/sso-adapter scim-token create --store {STORE} --connection {CONNECTION}\n"
        "  Press Ctrl+C to stop.\n",
        flush=True,
    )
    await asyncio.gather(*(server.serve(sockets=[sock]) for server, sock in servers))


def _demo_value(given: SecretStr | None, prefix: str = "") -> tuple[str, bool]:
    """The operator's value, or one made up for this run (the demo store is re-created at
    every start, so a fresh master key loses nothing); and whether it was given. Printed in
    the banner: the demo runs on loopback with sample data only."""
    if given is not None and given.get_secret_value():
        return given.get_secret_value(), True
    return prefix + secrets.token_urlsafe(32), False


def run_demo(settings: Settings, *, port: int, idp_port: int, shop_port: int) -> int:
    configure_logging(settings.log_level, json=False)
    upgrade(settings.database_url)
    asyncio.run(_run(settings, port, idp_port, shop_port))
    return 0
