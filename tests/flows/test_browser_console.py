"""The console in a real headless Chromium: sign in with a token, add an OIDC and a SAML
connection through the forms, dry-run a login, find an event by its reference id, unlink a
link; a forged cross-site post and a read-only token change nothing.

With SSO_ADAPTER_SCREENSHOTS=<dir> set, each page is saved there (the README's pictures).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.flows.test_browser_login import CHROMIUM, _launch
from tests.support.certificates import idp_metadata
from tests.support.world import ADMIN_TOKEN, World

if not Path(CHROMIUM).exists() and os.environ.get("CI") != "true":
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("SSO_ADAPTER_SCREENSHOTS")


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"console-{name}.png"), full_page=True)


@pytest.fixture
def browser(world: World) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = _launch(playwright)
        yield browser
        browser.close()


def sign_in(browser: Browser, world: World, token: str) -> Page:
    page = browser.new_page()
    page.goto(f"{world.url}/console/")
    assert page.url.endswith("/console/login")
    shot(page, "sign-in")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{world.url}/console/")
    return page


def test_an_operator_adds_connections_tests_a_login_finds_an_event_and_unlinks(
    world: World, browser: Browser
) -> None:
    failed = world.login(redirect_to="https://evil.example/")  # an event with a reference
    reference = failed.refusal.text.split("<code>")[1].split("</code>")[0]
    assert world.login().landed  # a link to unlink

    page = sign_in(browser, world, ADMIN_TOKEN)
    shot(page, "stores")
    page.click("text=acme")
    page.wait_for_url(f"{world.url}/console/stores/acme")
    assert "oidc/callback" in page.content()
    shot(page, "store")

    # An OIDC connection through the form: checked on save as the admin API does.
    page.click("text=Add an OIDC connection")
    shot(page, "new-oidc")
    page.fill("#slug", "partners")
    page.fill("#issuer", world.op.issuer)
    page.fill("#client_id", "partners-client")
    page.fill("#client_secret", "partners-secret-value")
    page.fill("#channel_ids", "1")
    page.click("button:has-text('Save and check')")
    page.wait_for_url(f"{world.url}/console/stores/acme#connection-partners")
    assert "/sso/acme/partners/oidc/callback" in page.content()
    assert (
        world.admin().get("/stores/acme/connections/partners").json()["issuer"] == world.op.issuer
    )

    # A bad issuer is refused with the reason, and nothing is saved.
    page.goto(f"{world.url}/console/stores/acme/connections/new?protocol=oidc")
    page.fill("#slug", "broken")
    page.fill("#issuer", "http://127.0.0.1:9")
    page.fill("#client_id", "x")
    page.fill("#client_secret", "y")
    page.fill("#channel_ids", "1")
    page.click("button:has-text('Save and check')")
    assert "connection was refused" in page.inner_text(".error")
    assert world.admin().get("/stores/acme/connections/broken").status_code == 404

    # A SAML connection, with the values to enter at the IdP.
    page.goto(f"{world.url}/console/stores/acme/connections/new?protocol=saml")
    shot(page, "new-saml")
    page.fill("#slug", "corp-saml")
    page.fill("#idp_metadata_xml", idp_metadata())
    page.fill("#channel_ids", "1")
    page.check("input[name=email_verified]")
    page.click("button:has-text('Save and check')")
    page.wait_for_url(f"{world.url}/console/stores/acme#connection-corp-saml")
    assert "/sso/acme/corp-saml/saml/acs" in page.content()

    # Edit: one field changed, the stored client secret kept.
    page.click("text=Edit partners")
    assert page.input_value("#issuer") == world.op.issuer
    page.uncheck("input[name=create_customers]")
    page.click("button:has-text('Save and check')")
    page.wait_for_url(f"{world.url}/console/stores/acme#connection-partners")
    edited = world.admin().get("/stores/acme/connections/partners").json()
    assert edited["create_customers"] is False and edited["has_client_secret"] is True
    assert edited["client_id"] == "partners-client"

    # A dry-run login.
    page.click("#connection-okta button:has-text('Dry run')")
    assert "Dry run of okta" in page.content()
    shot(page, "test-login")

    # The failed login, found by its reference id, in plain words.
    page.fill("#reference", reference)
    page.click("button:has-text('Find')")
    row = page.inner_text("table >> nth=0")
    assert reference in row and "left the store" in row
    shot(page, "events")

    # A SCIM token for the IdP: shown once, working, revocable.
    page.goto(f"{world.url}/console/stores/acme")
    page.click("#connection-okta button:has-text('Make a SCIM token')")
    token = page.inner_text("#new-scim-token")
    scim = f"{world.url}/scim/v2/acme/okta/Users"
    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.get(scim, headers=bearer).status_code == 200
    page.goto(f"{world.url}/console/stores/acme")
    assert token not in page.content()
    page.click("#connection-okta button:has-text('Revoke')")
    assert httpx.get(scim, headers=bearer).status_code == 401

    # Unlink.
    assert len(world.links()) == 1
    page.goto(f"{world.url}/console/stores/acme")
    page.click("button:has-text('Unlink')")
    page.wait_for_url(f"{world.url}/console/stores/acme")
    assert world.links() == []
    kinds = [e["kind"] for e in world.events() if e["actor"] == "bootstrap"]
    assert "connection.created" in kinds and "link.deleted" in kinds


def test_a_forged_cross_site_post_and_a_read_only_token_change_nothing(
    world: World, browser: Browser
) -> None:
    assert world.login().landed
    page = sign_in(browser, world, ADMIN_TOKEN)
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    link_id = world.links()[0]["id"]
    # The session cookie alone (what another site's form could ride on) is not enough.
    forged = httpx.post(
        f"{world.url}/console/stores/acme/links/{link_id}/unlink",
        cookies=cookies,
        data={"csrf": "guessed"},
    )
    assert forged.status_code == 403
    other_site = httpx.post(
        f"{world.url}/console/stores/acme/links/{link_id}/unlink",
        cookies=cookies,
        headers={"Origin": "https://evil.example"},
        data={"csrf": "guessed"},
    )
    assert other_site.status_code == 403
    assert len(world.links()) == 1

    # Made on a thread of its own: Playwright holds this thread's event loop.
    with ThreadPoolExecutor(1) as pool:
        reader = pool.submit(
            world.create_token, "auditor", "stores:read", "links:read", "events:read"
        ).result()
    page = sign_in(browser, world, reader)
    page.goto(f"{world.url}/console/stores/acme")
    assert "Unlink" not in page.content() and "Add an OIDC connection" not in page.content()
    # Even with its own valid CSRF value, a read-only token cannot change anything.
    csrf = page.get_attribute("input[name=csrf]", "value")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    refused = httpx.post(
        f"{world.url}/console/stores/acme/links/{link_id}/unlink",
        cookies=cookies,
        data={"csrf": csrf},
    )
    assert refused.status_code == 403
    assert len(world.links()) == 1
    assert (
        httpx.get(f"{world.url}/console/stores/acme", cookies=cookies)
        .headers["content-security-policy"]
        .startswith("default-src 'none'")
    )
