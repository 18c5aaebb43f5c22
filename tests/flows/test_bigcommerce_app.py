"""The adapter installed as a BigCommerce app, against the emulator playing BigCommerce's side
(adapter/sandbox/bigcommerce_app.py: the OAuth code exchange, signed payloads, the Channels
and Sites APIs): install, a refused scope set, a replayed code, load, uninstall, reinstall,
remove_user."""

from __future__ import annotations

import re
import time
from html import unescape
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from adapter.core.secretbox import SecretBox
from adapter.db.models import AppUser, Store
from adapter.sandbox.bigcommerce_app import RegisteredApp
from tests.flows.test_admin_api import connection_body
from tests.support.world import SECRET_KEY, STORE_HASH, World

SCOPES = (
    "store_v2_customers store_v2_customers_login store_channel_settings_read_only "
    "store_sites_read_only"
)
SLUG = f"store-{STORE_HASH}"


@pytest.fixture
def app(world: World) -> RegisteredApp:
    registered = world.shop.app_market.register_app("registered below")
    world.start_adapter(
        bc_app_client_id=registered.client_id,
        bc_app_client_secret=registered.client_secret,
        bc_login_url=world.shop.base_url,
        bc_api_url=world.shop.base_url,
    )
    # The app's auth callback, as registered in the developer portal: the running adapter's.
    registered.auth_callback = f"{world.url}/bigcommerce/auth"
    return registered


def install(world: World, app: RegisteredApp, scope: str = SCOPES) -> httpx.Response:
    params = world.shop.app_market.begin_install(STORE_HASH, app.client_id, scope)
    return httpx.get(f"{world.url}/bigcommerce/auth", params=params)


def signed(world: World, app: RegisteredApp, **overrides: Any) -> str:
    return world.shop.app_market.signed_payload(STORE_HASH, app.client_id, **overrides)


def callback(world: World, name: str, token: str) -> httpx.Response:
    return httpx.get(f"{world.url}/bigcommerce/{name}", params={"signed_payload_jwt": token})


def installed_login(world: World) -> bool:
    answer = world.admin().put(f"/stores/{SLUG}/connections/okta", json=connection_body(world))
    assert answer.status_code in (200, 201), answer.text
    world.op.add_client(
        "adapter-client",
        world.client_secret,
        [f"{world.url}/sso/{SLUG}/okta/oidc/callback"],
    )
    return world.login(store=SLUG).landed


def test_an_install_creates_the_store_from_bigcommerce_and_its_logins_work(
    world: World, app: RegisteredApp
) -> None:
    page = install(world, app)
    assert page.status_code == 200, page.text
    assert "sso-adapter is installed" in page.text
    assert "frame-ancestors https://*.bigcommerce.com" in page.headers["content-security-policy"]
    store = world.admin().get(f"/stores/{SLUG}").json()
    assert store["store_hash"] == STORE_HASH and store["client_id"] == app.client_id
    assert [(c["channel_id"], c["storefront_url"]) for c in store["channels"]] == [
        (1, world.shop.storefront_url(STORE_HASH, 1)),
        (2, world.shop.storefront_url(STORE_HASH, 2)),
    ]
    # The login JWT is signed with the app's secret, and BigCommerce accepts it.
    assert installed_login(world)
    [event] = world.events("app.installed")
    assert event["actor"] == "bigcommerce:1001" and event["reason"] == "created"
    with world.engine.connect() as conn:
        users = conn.execute(sa.select(AppUser.user_id, AppUser.is_owner)).all()
    assert users == [(1001, True)]


def test_an_install_without_the_scopes_it_needs_is_refused_and_writes_nothing(
    world: World, app: RegisteredApp
) -> None:
    page = install(world, app, scope="store_v2_customers store_v2_customers_login")
    assert page.status_code == 403
    assert "store_sites_read_only" in page.text
    assert world.admin().get(f"/stores/{SLUG}").status_code == 404
    # A modify scope stands for its read-only counterpart.
    broader = SCOPES.replace("store_sites_read_only", "store_sites")
    assert install(world, app, scope=broader).status_code == 200


def test_a_replayed_install_code_is_refused(world: World, app: RegisteredApp) -> None:
    params = world.shop.app_market.begin_install(STORE_HASH, app.client_id, SCOPES)
    assert httpx.get(f"{world.url}/bigcommerce/auth", params=params).status_code == 200
    again = httpx.get(f"{world.url}/bigcommerce/auth", params=params)
    assert again.status_code == 400
    assert "start the install again" in again.text
    assert world.shop.app_market.refusals == ["code used"]
    assert httpx.get(f"{world.url}/bigcommerce/auth", params={"code": "x"}).status_code == 400


def test_load_opens_the_store_for_a_verified_control_panel_user(
    world: World, app: RegisteredApp
) -> None:
    install(world, app)
    page = callback(world, "load", signed(world, app))
    assert page.status_code == 200 and SLUG in page.text
    # Another user of the store (BigCommerce's multiple users): known from then on.
    colleague = {"id": 2002, "email": "buyer-ops@shop.example", "locale": "en-US"}
    assert callback(world, "load", signed(world, app, user=colleague)).status_code == 200
    with world.engine.connect() as conn:
        users = conn.execute(sa.select(AppUser.user_id).order_by(AppUser.user_id)).scalars().all()
    assert users == [1001, 2002]


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(
            lambda w, a: signed(w, a, secret="not-the-apps-secret-" + "x" * 20), id="wrong-secret"
        ),
        pytest.param(lambda w, a: signed(w, a, issued_at=time.time() - 2 * 86400), id="expired"),
        pytest.param(lambda w, a: signed(w, a, iss="not-bc"), id="issuer"),
        pytest.param(lambda w, a: signed(w, a, aud="another-app"), id="audience"),
        pytest.param(lambda w, a: signed(w, a, sub="stores/../acme1"), id="subject"),
        pytest.param(lambda w, a: signed(w, a, nbf=time.time() + 3600), id="not-yet-valid"),
        pytest.param(
            lambda w, a: w.shop.app_market.signed_payload(
                STORE_HASH,
                w.shop.app_market.register_app("https://elsewhere/auth").client_id,
            ),
            id="another-app",
        ),
        pytest.param(lambda w, a: "", id="absent"),
        pytest.param(lambda w, a: "a.b.c", id="garbage"),
    ],
)
def test_a_forged_or_foreign_payload_is_refused(
    world: World, app: RegisteredApp, forge: Any
) -> None:
    install(world, app)
    for name in ("load", "uninstall", "remove_user"):
        answer = callback(world, name, forge(world, app))
        assert answer.status_code == 401, (name, answer.text)
    assert world.events("app.uninstalled") == []


def test_load_for_a_store_that_did_not_install_is_404(world: World, app: RegisteredApp) -> None:
    other = world.shop.app_market.signed_payload("otherstore", app.client_id)
    assert callback(world, "load", other).status_code == 404


def test_uninstall_stops_logins_erases_credentials_keeps_links_and_a_reinstall_resumes(
    world: World, app: RegisteredApp
) -> None:
    install(world, app)
    assert installed_login(world)
    links_before = world.links()
    assert callback(world, "uninstall", signed(world, app)).status_code == 200
    world.shop.app_market.uninstall(STORE_HASH, app.client_id)
    # Logins stop at once.
    refused = world.login(store=SLUG)
    assert refused.start.status_code == 404
    assert world.events("login", outcome="failure")[-1]["reason"] == "store_uninstalled"
    # The credentials are gone; the links are kept.
    box = SecretBox(SECRET_KEY)
    with world.engine.connect() as conn:
        row = conn.execute(
            sa.select(Store.api_token_sealed, Store.client_secret_sealed).where(Store.slug == SLUG)
        ).one()
    assert box.open(row[0], context=f"store:{SLUG}:api_token") == ""
    assert box.open(row[1], context=f"store:{SLUG}:client_secret") == ""
    assert world.links() == links_before
    assert callback(world, "load", signed(world, app)).status_code == 404

    page = install(world, app)
    assert page.status_code == 200 and "installed again" in page.text
    assert world.events("app.installed")[-1]["reason"] == "reinstalled"
    assert world.login(store=SLUG).landed
    # The same link served the login after the reinstall.
    assert [(r["id"], r["customer_id"]) for r in world.links()] == [
        (r["id"], r["customer_id"]) for r in links_before
    ]


def test_remove_user_takes_that_users_access_away(world: World, app: RegisteredApp) -> None:
    install(world, app)
    colleague = {"id": 2002, "email": "buyer-ops@shop.example"}
    callback(world, "load", signed(world, app, user=colleague))
    assert callback(world, "remove_user", signed(world, app, user=colleague)).status_code == 200
    with world.engine.connect() as conn:
        users = conn.execute(sa.select(AppUser.user_id)).scalars().all()
    assert users == [1001]
    [event] = world.events("app.user_removed")
    assert event["details"] == {"user_id": 2002}


def test_without_an_app_configured_the_callbacks_are_404(world: World) -> None:
    assert httpx.get(f"{world.url}/bigcommerce/auth", params={"code": "x"}).status_code == 404
    assert callback(world, "load", "a.b.c").status_code == 404


def test_the_app_page_opens_the_console_for_that_user_and_that_store_only(
    world: World, app: RegisteredApp
) -> None:
    install(world, app)
    page = callback(world, "load", signed(world, app))
    [link] = re.findall(r'href="(/console/from-control-panel\?ticket=[^"]+)"', page.text)
    console = httpx.Client(base_url=world.url, timeout=30)
    opened = console.get(unescape(link))
    assert opened.status_code == 303
    assert opened.headers["location"] == f"/console/stores/{SLUG}"
    store_page = console.get(f"/console/stores/{SLUG}")
    assert store_page.status_code == 200 and "bigcommerce:1001" in store_page.text
    # One use only.
    assert httpx.get(f"{world.url}{unescape(link)}").status_code == 401
    # That store alone.
    assert console.get("/console/stores/acme").status_code == 403
    assert "acme</a>" not in console.get("/console/").text
    # A user BigCommerce removes loses the console at their next click.
    assert callback(world, "remove_user", signed(world, app)).status_code == 200
    assert console.get(f"/console/stores/{SLUG}").status_code == 303
