"""What /login accepts: the channel, the return path, the store and connection."""

from __future__ import annotations

import jwt
import pytest

from tests.support.assertions import reference_of
from tests.support.world import World

REDIRECT_TRICKS = {
    "absolute_url": "https://evil.example/",
    "protocol_relative": "//evil.example/",
    "backslash_host": "/\\evil.example",
    "javascript_scheme": "javascript:alert(1)",
    "encoded_slashes": "/%2F%2Fevil.example",
    "double_encoded_slashes": "/%252F%252Fevil.example",
    "encoded_backslash": "/%5Cevil.example",
    "tab_in_path": "/\t/evil.example",
    "encoded_crlf": "/%0d%0aSet-Cookie:x=y",
    "no_leading_slash": "evil.example",
    "unicode_line_separator": "/a\u2028b",
}


@pytest.mark.parametrize("trick", sorted(REDIRECT_TRICKS))
def test_redirect_to_trick_is_refused_before_the_idp_is_asked(world: World, trick: str) -> None:
    outcome = world.login(redirect_to=REDIRECT_TRICKS[trick])

    assert outcome.start.status_code == 400
    assert world.login_states() == 0
    [event] = world.events(kind="login", outcome="failure")
    assert event["reason"] == "redirect_to_invalid"
    assert event["reference"] == reference_of(outcome.start)


def test_redirect_to_reaches_the_storefront_through_the_jwt(world: World) -> None:
    outcome = world.login(redirect_to="/cart.php?action=view")
    assert outcome.landed
    assert world.shop.acceptances[-1].redirect_to == "/cart.php?action=view"
    assert "/cart.php" in str(outcome.page.url)


def test_default_redirect_is_the_account_page(world: World) -> None:
    world.login()
    assert world.shop.acceptances[-1].redirect_to == "/account.php"


def test_minted_jwt_has_exactly_the_documented_claims(world: World) -> None:
    outcome = world.login(channel_id=1)
    token = outcome.callback.headers["location"].rsplit("/", 1)[1]
    claims = jwt.decode(token, world.shop_store.client_secret, algorithms=["HS256"])
    assert set(claims) == {
        "iss",
        "iat",
        "jti",
        "operation",
        "store_hash",
        "customer_id",
        "channel_id",
        "redirect_to",
    }
    assert claims["operation"] == "customer_login" and claims["store_hash"] == "acme1"
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}


def test_request_ip_is_bound_when_the_store_asks(world: World) -> None:
    world.put_store(bind_request_ip=True)
    outcome = world.login()
    assert outcome.landed
    assert world.shop.acceptances[-1].claims["request_ip"] == "127.0.0.1"


def test_storefront_refuses_a_replayed_login_jwt(world: World) -> None:
    browser = world.browser()
    outcome = world.login(browser)
    again = browser.get(outcome.callback.headers["location"])
    assert "login.php" in again.headers["location"]
    assert world.shop.rejections[-1].reason == "jti missing or used before"


def test_channel_outside_the_connections_channels_is_refused_with_403(world: World) -> None:
    outcome = world.login(channel_id=2)
    assert outcome.start.status_code == 403
    assert world.events(kind="login", outcome="failure")[0]["reason"] == "channel_not_allowed"


def test_unknown_channel_is_refused_with_403(world: World) -> None:
    assert world.login(channel_id=99).start.status_code == 403


def test_non_numeric_channel_is_refused_with_400(world: World) -> None:
    assert world.login(channel_id="1 OR 1=1").start.status_code == 400


def test_second_channel_admitted_by_the_connection_gets_its_own_storefront(world: World) -> None:
    world.put_connection(channel_ids=[1, 2])
    outcome = world.login(channel_id=2)
    assert outcome.landed
    assert outcome.callback.headers["location"].startswith(world.shop.storefront_url("acme1", 2))
    assert world.customers[1]["channel_ids"] == [2]


def test_unknown_store_and_connection_are_404(world: World) -> None:
    assert world.login(store="nope").start.status_code == 404
    assert world.login(connection="nope").start.status_code == 404


def test_failure_answers_json_to_a_client_that_asks(world: World) -> None:
    outcome = world.login(channel_id=2, headers={"Accept": "application/json"})
    body = outcome.start.json()
    assert body["error"] == "channel_not_allowed" and len(body["reference"]) == 12
    assert body["message"]


def test_failure_page_is_plain_html_without_internals(world: World) -> None:
    page = world.login(redirect_to="//evil.example").start
    assert page.headers["content-type"].startswith("text/html")
    assert "Traceback" not in page.text and "redirect_to" not in page.text
    assert page.headers["cache-control"] == "no-store"
