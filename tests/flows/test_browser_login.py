"""A hosted-storefront login driven through a real headless Chromium.

The scripted `httpx` browser in `World` sends every cookie it holds; a real browser applies
SameSite rules. The sample OP answers on `localhost` and the adapter on `127.0.0.1`, so the
IdP's redirect back to the callback is a cross-site top-level navigation, exactly the case in
which the adapter's browser-binding cookie must still arrive (SameSite=Lax, not Strict).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    Request,
    Route,
    sync_playwright,
)
from playwright.sync_api import expect as expect_that

from tests.support.world import CONNECTION, STORE, STORE_HASH, World

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BROWSER_COOKIE = "sso-browser"  # the adapter's name for it on a plain-http public URL
SIGNED_IN_ADA = re.compile(r"^Signed in as customer #(\d+), e-mail ada@example\.com$")

# On a developer machine without Debian's Chromium these tests cannot run; on CI a missing
# browser is a broken image and must fail loudly, not turn green by skipping.
if not Path(CHROMIUM).exists() and os.environ.get("CI") != "true":
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)

pytestmark = pytest.mark.browser


@pytest.fixture
def browser(world: World) -> Iterator[Browser]:
    # Depends on `world` so that its set-up (which runs its own asyncio loops) is done before
    # Playwright's sync API takes over this thread's event loop.
    with sync_playwright() as playwright:
        yield _launch(playwright)


def _launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, timeout=30_000
    )


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context()
    context.set_default_timeout(10_000)
    yield context
    context.close()


def login_url(world: World) -> str:
    return f"{world.url}/sso/{STORE}/{CONNECTION}/login?channel_id=1&redirect_to=/account.php"


def record_callbacks(context: BrowserContext, world: World) -> list[Request]:
    """Every request the browser makes to the adapter's callback, as the network saw it."""
    seen: list[Request] = []
    prefix = f"{world.url}/sso/{STORE}/{CONNECTION}/oidc/callback"
    context.on(
        "request", lambda request: seen.append(request) if request.url.startswith(prefix) else None
    )
    return seen


def assert_landed_signed_in(page: Page, world: World, tmp_path: Path) -> None:
    expect_that(page.locator("#status")).to_have_text(SIGNED_IN_ADA)
    assert page.url == world.shop.storefront_url(STORE_HASH, 1) + "/account.php"
    customer_id = int(SIGNED_IN_ADA.match(page.locator("#status").inner_text())[1])
    [link] = world.links()
    assert (link["subject"], link["customer_id"]) == ("sub-ada", customer_id)
    shot = tmp_path / "landing.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0


def assert_browser_cookie_is_lax_and_http_only(context: BrowserContext, world: World) -> None:
    [cookie] = [c for c in context.cookies(world.url) if c["name"] == BROWSER_COOKIE]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"


def test_auto_login_through_cross_site_idp_lands_signed_in_on_storefront(
    world: World, context: BrowserContext, tmp_path: Path
) -> None:
    callbacks = record_callbacks(context, world)
    page = context.new_page()

    page.goto(login_url(world))

    assert_landed_signed_in(page, world, tmp_path)
    assert_browser_cookie_is_lax_and_http_only(context, world)
    # The landing proves the binding cookie came back, and the request shows it arrived on
    # the redirect from the IdP. This chain began with a browser-initiated navigation, which
    # Chromium treats as same-site even through the IdP's redirect, so it would carry a
    # Strict cookie too: here the attribute check above is what pins Lax. The form test
    # below is the one where a Strict cookie would be withheld.
    [callback] = callbacks
    assert callback.redirected_from is not None
    assert callback.redirected_from.url.startswith(world.op.issuer + "/authorize")
    assert f"{BROWSER_COOKIE}=" in (callback.header_value("cookie") or "")


def test_login_form_at_cross_site_idp_lands_signed_in_on_storefront(
    world: World, context: BrowserContext, tmp_path: Path
) -> None:
    world.op.auto_login = None
    callbacks = record_callbacks(context, world)
    page = context.new_page()
    page.goto(login_url(world))
    assert page.url.startswith(world.op.issuer + "/authorize")

    page.fill("#username", "ada")
    page.fill("#password", "pw")
    with page.expect_navigation():  # one navigation: POST, then the redirects to the shop
        page.click("#signin")

    assert_landed_signed_in(page, world, tmp_path)
    assert_browser_cookie_is_lax_and_http_only(context, world)
    # The navigation to the callback was started by the IdP's page (a cross-site initiator),
    # so Chromium sends only Lax cookies, and only because the POST's 302 became a top-level
    # GET. A Strict binding cookie would be withheld and the login refused.
    [callback] = callbacks
    assert callback.method == "GET"
    assert callback.redirected_from is not None
    assert callback.redirected_from.method == "POST"
    assert f"{BROWSER_COOKIE}=" in (callback.header_value("cookie") or "")


def test_callback_finished_in_another_browser_is_refused_and_links_nobody(
    world: World, browser: Browser, context: BrowserContext
) -> None:
    world.op.auto_login = None
    captured: list[str] = []

    def capture(route: Route) -> None:
        # Let the IdP answer the first browser's sign-in but keep its redirect: an attacker
        # who lures a victim into finishing the attacker's login (login CSRF) holds exactly
        # this callback URL. The form POST is routed, not the callback, because Playwright
        # routes only the first request of a redirect chain.
        answer = route.fetch(max_redirects=0)
        assert answer.status == 302
        captured.append(answer.headers["location"])
        route.fulfill(status=200, content_type="text/plain", body="captured")

    first = context.new_page()
    first.goto(login_url(world))
    context.route(f"{world.op.issuer}/authorize", capture)
    first.fill("#username", "ada")
    first.fill("#password", "pw")
    with first.expect_navigation():
        first.click("#signin")
    assert world.login_states() == 1  # pending, not consumed by the first browser
    [callback_url] = captured

    other = browser.new_context()
    try:
        page = other.new_page()
        answer = page.goto(callback_url)
        assert answer is not None and answer.status == 400
        reference = page.locator("p.ref code").inner_text()
        html = page.content()
    finally:
        other.close()

    assert re.fullmatch(r"[0-9a-f]{12}", reference)
    assert "started in another browser" in html
    assert world.links() == []
    assert world.customers == {}
    [failure] = world.events(kind="login", outcome="failure")
    assert (failure["reason"], failure["reference"]) == ("login_state_invalid", reference)
