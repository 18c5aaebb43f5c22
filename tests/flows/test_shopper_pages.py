"""What a shopper sees when something goes wrong: a page that says what happened in plain
words and offers the way back to the store, and no failure at all for Back after a login."""

from __future__ import annotations

from tests.support.world import STORE_HASH, World


def test_a_bad_redirect_to_is_not_called_expired_and_the_page_leads_back(world: World) -> None:
    outcome = world.login(redirect_to="https://evil.example/steal")
    page = outcome.refusal
    assert page.status_code == 400
    assert "outside the store" in page.text and "expired" not in page.text
    assert f'href="{world.shop.storefront_url(STORE_HASH, 1)}/"' in page.text
    assert "evil.example" not in page.text


def test_back_after_a_successful_login_goes_on_to_the_store(world: World) -> None:
    browser = world.browser()
    outcome = world.login(browser)
    assert outcome.landed
    # Back: the browser asks for the callback again, with its used state.
    again = browser.get(str(outcome.callback.request.url))
    assert again.status_code == 303
    assert again.headers["location"] == world.shop.storefront_url(STORE_HASH, 1) + "/"
    # Still a replay in the audit trail.
    assert world.events("login", outcome="failure")[-1]["reason"] == "login_state_invalid"


def test_a_used_callback_in_another_browser_is_still_refused(world: World) -> None:
    outcome = world.login()
    assert outcome.landed
    stranger = world.browser().get(str(outcome.callback.request.url))
    assert stranger.status_code == 400
