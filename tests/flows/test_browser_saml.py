"""A SAML login in a real headless Chromium.

The IdP (on `localhost`) answers with an auto-submitting form that POSTs to the adapter's
ACS (on `127.0.0.1`): a cross-site POST, on which Chromium withholds the SameSite=Lax cookie
that binds the login to this browser. The adapter must still finish the login, by checking
the binding on its own same-site `finish` step, not by weakening the cookie.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Request, sync_playwright

from tests.flows.test_browser_login import CHROMIUM_ARGS, SIGNED_IN_ADA, _launch
from tests.support.saml_world import CONNECTION, SamlWorld, saml_world
from tests.support.servers import ServerThread
from tests.support.world import Dispatcher, World

pytestmark = pytest.mark.browser
assert CHROMIUM_ARGS  # the same launch flags as the OIDC browser tests


@pytest.fixture
def saml(world: World, idp_server: tuple[ServerThread, Dispatcher]) -> SamlWorld:
    return saml_world(world, idp_server)


@pytest.fixture
def context(saml: SamlWorld) -> Iterator[BrowserContext]:
    with sync_playwright() as playwright:
        browser: Browser = _launch(playwright)
        context = browser.new_context()
        context.set_default_timeout(15_000)
        yield context
        context.close()
        browser.close()


def test_saml_login_in_chromium_lands_signed_in_despite_the_cross_site_post(
    saml: SamlWorld, context: BrowserContext
) -> None:
    seen: list[Request] = []
    context.on("request", lambda r: seen.append(r) if "/saml/" in r.url else None)
    page = context.new_page()
    page.goto(f"{saml.world.url}/sso/acme/{CONNECTION}/login?channel_id=1")
    page.wait_for_url("**/account.php")

    assert SIGNED_IN_ADA.match(page.locator("#status").inner_text())
    acs = next(r for r in seen if r.url.endswith("/saml/acs"))
    finish = next(r for r in seen if "/saml/finish" in r.url)
    # The cross-site POST came without our cookie; the same-site finish GET carried it.
    assert "sso-browser=" not in (acs.all_headers().get("cookie") or "")
    assert "sso-browser=" in (finish.all_headers().get("cookie") or "")
    assert len(saml.world.links()) == 1
