"""The console's pages as a plain HTTP client sees them (the browser flows are in
test_browser_console.py): what a store page says about B2B Edition and SCIM, the sign-in
refusals, and the answer to requests without a session."""

from __future__ import annotations

import httpx

from tests.support.world import ADMIN_TOKEN, World


def signed_in(world: World, token: str = ADMIN_TOKEN) -> httpx.Client:
    client = httpx.Client(base_url=f"{world.url}/console", timeout=30)
    answer = client.post("/login", data={"token": token})
    assert answer.status_code == 303, answer.text
    return client


def test_a_store_page_summarises_b2b_and_scim(world: World) -> None:
    world.shop.b2b.enable(world.shop_store.store_hash)
    contoso = world.shop.b2b.add_company(world.shop_store.store_hash, "Contoso")
    world.put_store(b2b={"enabled": True, "api_base_url": f"{world.shop.base_url}/b2b"})
    world.put_connection(
        email_verified=True,
        b2b={"companies": [{"key": "example.com", "company_id": contoso}]},
        scim={"provision_customers": True, "on_deactivate": ["block", "remove_channels"]},
    )
    page = signed_in(world).get("/stores/acme").text
    assert "B2B Edition: on" in page
    assert "company from <code>email_domain</code>, 1 mapped company" in page
    assert "provisions customers" in page and "block, remove_channels" in page
    assert "/scim/v2/acme/okta" in page


def test_b2b_settings_are_changed_through_the_round_trip(world: World) -> None:
    console = signed_in(world)
    page = console.get("/stores/acme").text
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    saved = console.post(
        "/stores/acme/b2b",
        data={
            "csrf": csrf,
            "b2b_enabled": "on",
            "b2b_api_base_url": f"{world.shop.base_url}/b2b",
            "b2b_api_token": "b2b-token-of-acme",
        },
    )
    assert saved.status_code == 303, saved.text
    store = world.admin().get("/stores/acme").json()
    assert store["b2b"] == {
        "enabled": True,
        "api_base_url": f"{world.shop.base_url}/b2b",
        "has_own_api_token": True,
    }
    [event] = [e for e in world.events("store.updated") if e["actor"] == "bootstrap"]
    assert event["details"]["secrets_replaced"] == ["b2b.api_token"]
    # The store's own secrets survived: logins still work.
    assert world.login().landed


def test_without_a_session_the_console_asks_to_sign_in(world: World) -> None:
    anonymous = httpx.Client(base_url=f"{world.url}/console", timeout=30)
    assert anonymous.get("/stores/acme").headers["location"] == "/console/login"
    assert anonymous.post("/stores/acme/links/1/unlink", data={"csrf": "x"}).status_code == 401
    wrong = anonymous.post("/login", data={"token": "not-a-token"})
    assert wrong.status_code == 401 and "not an admin token" in wrong.text
    # A session cookie that was not sealed by this adapter is no session.
    forged = httpx.get(
        f"{world.url}/console/", cookies={"sso-console": "v1.abcdef.AAAA"}, follow_redirects=False
    )
    assert forged.status_code == 303


def test_a_revoked_token_ends_its_console_session(world: World) -> None:
    token = world.create_token("ops", "stores:read")
    console = signed_in(world, token)
    assert console.get("/").status_code == 200
    from tests.flows.test_cli_config import cli

    assert cli(world, "token", "revoke", "--name", "ops").returncode == 0
    assert console.get("/", follow_redirects=False).status_code == 303
