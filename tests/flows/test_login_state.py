"""Login state lives on the server, bound to the browser, used once, expiring in 10 minutes."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from adapter.clock import FrozenClock
from tests.support.assertions import assert_refused_cleanly
from tests.support.world import Outcome, World


def _callback_url(world: World, browser: httpx.Client, **params: str) -> str:
    """Start a login and let the OP answer; return the callback URL without following it."""
    start = browser.get(f"{world.url}/sso/acme/okta/login", params=params)
    assert start.status_code == 302
    at_op = browser.get(start.headers["location"])
    return at_op.headers["location"]


def test_login_cookie_is_httponly_lax_and_not_secure_on_http(world: World) -> None:
    start = world.browser().get(f"{world.url}/sso/acme/okta/login")
    cookie = start.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie


def test_login_cookie_is_secure_with_host_prefix_when_public_url_is_https(world: World) -> None:
    world.start_adapter()
    world.runtime.settings.public_url = "https://sso.example.com"
    start = world.browser().get(f"{world.url}/sso/acme/okta/login")
    cookie = start.headers["set-cookie"]
    assert cookie.startswith("__Host-sso-browser=") and "Secure" in cookie


def test_authorization_request_carries_pkce_s256_state_and_nonce(world: World) -> None:
    start = world.browser().get(
        f"{world.url}/sso/acme/okta/login", params={"login_hint": "ada@example.com"}
    )
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert len(query["state"][0]) >= 43 and len(query["nonce"][0]) >= 43
    assert query["login_hint"] == ["ada@example.com"]
    assert query["response_type"] == ["code"] and "openid" in query["scope"][0].split()
    assert world.login_states() == 1


def test_state_is_stored_without_its_value_or_secrets_in_clear(world: World) -> None:
    start = world.browser().get(f"{world.url}/sso/acme/okta/login")
    query = parse_qs(urlsplit(start.headers["location"]).query)
    with world.engine.connect() as conn:
        row = conn.exec_driver_sql("SELECT * FROM login_states").mappings().one()
    flat = " ".join(str(v) for v in row.values())
    assert query["state"][0] not in flat and query["nonce"][0] not in flat


def test_callback_in_another_browser_is_refused(world: World) -> None:
    url = _callback_url(world, world.browser())
    outcome = Outcome(start=httpx.Response(302), callback=world.browser().get(url))
    assert_refused_cleanly(world, outcome, 400, reason="login_state_invalid")


def test_replayed_callback_is_refused(world: World) -> None:
    browser = world.browser()
    url = _callback_url(world, browser)
    first = world.follow_to_storefront(
        Outcome(start=httpx.Response(302), callback=browser.get(url)), browser
    )
    assert first.landed
    again = browser.get(url)
    # No second login: this browser, signed in already, is sent on to the store (Back).
    assert again.status_code == 303 and "/login/token/" not in again.headers["location"]
    assert world.login_states() == 0
    assert len(world.customers) == 1 and len(world.links()) == 1
    assert world.events(kind="login", outcome="failure")[-1]["reason"] == "login_state_invalid"


def test_tampered_state_is_refused_and_the_real_one_stays_usable_only_once(world: World) -> None:
    browser = world.browser()
    url = _callback_url(world, browser)
    tampered = url.replace("state=", "state=x")
    outcome = Outcome(start=httpx.Response(302), callback=browser.get(tampered))
    assert_refused_cleanly(world, outcome, 400, reason="login_state_invalid")


def test_callback_without_state_is_refused(world: World) -> None:
    browser = world.browser()
    url = _callback_url(world, browser)
    stripped = url.split("?")[0] + "?code=abc"
    outcome = Outcome(start=httpx.Response(302), callback=browser.get(stripped))
    assert_refused_cleanly(world, outcome, 400, reason="state_missing")


def test_state_of_one_connection_is_refused_at_another(world: World) -> None:
    world.put_connection("entra")
    browser = world.browser()
    url = _callback_url(world, browser)
    moved = url.replace("/sso/acme/okta/", "/sso/acme/entra/")
    outcome = Outcome(start=httpx.Response(302), callback=browser.get(moved))
    assert_refused_cleanly(world, outcome, 400, reason="login_state_invalid")


def test_state_expires_after_ten_minutes(world: World) -> None:
    clock = FrozenClock()
    world.clock = clock
    world.start_adapter()
    world.put_connection()
    browser = world.browser()
    url = _callback_url(world, browser)
    clock.advance(601)
    outcome = Outcome(start=httpx.Response(302), callback=browser.get(url))
    assert_refused_cleanly(world, outcome, 400, reason="login_state_invalid")
    assert world.login_states() == 0


def test_a_login_started_on_one_replica_finishes_on_another(world: World) -> None:
    browser = world.browser()
    url = _callback_url(world, browser)
    first_replica = world.url
    # A second server on the same database and public URL, with nothing in memory.
    world.start_adapter(public_url=first_replica)
    callback = browser.get(url.replace(first_replica, world.url))
    outcome = world.follow_to_storefront(
        Outcome(start=httpx.Response(302), callback=callback), browser
    )
    assert outcome.landed


def test_two_logins_in_two_tabs_of_one_browser_both_finish(world: World) -> None:
    browser = world.browser()
    first = _callback_url(world, browser)
    second = _callback_url(world, browser)
    for url in (second, first):
        outcome = world.follow_to_storefront(
            Outcome(start=httpx.Response(302), callback=browser.get(url)), browser
        )
        assert outcome.landed


def test_a_login_the_previous_release_kept_in_flight_finishes_after_the_upgrade(
    world: World,
) -> None:
    browser = world.browser()
    url = _callback_url(world, browser)

    def as_the_previous_release_wrote_it(stored: dict[str, Any]) -> dict[str, Any]:
        assert stored["kind"] == "oidc"
        return {"nonce": stored["nonce"], "code_verifier": stored["code_verifier"]}

    world.rewrite_login_in_flight(as_the_previous_release_wrote_it)
    outcome = world.follow_to_storefront(
        Outcome(start=httpx.Response(302), callback=browser.get(url)), browser
    )
    assert outcome.landed


def test_a_login_in_flight_in_no_known_shape_is_refused_as_expired(world: World) -> None:
    browser = world.browser()
    url = _callback_url(world, browser)
    world.rewrite_login_in_flight(lambda stored: {**stored, "kind": "a later release's"})
    outcome = Outcome(start=httpx.Response(302), callback=browser.get(url))
    assert_refused_cleanly(world, outcome, 400, reason="login_state_invalid")
    assert world.login_states() == 0
