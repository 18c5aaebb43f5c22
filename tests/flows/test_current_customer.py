"""Linking a signed-in shopper to their enterprise identity with BigCommerce's Current
Customer API, and reading who is signed in."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from tests.support.saml_idp import form_fields
from tests.support.saml_world import CONNECTION as SAML_CONNECTION
from tests.support.saml_world import SamlWorld, saml_world
from tests.support.servers import ServerThread
from tests.support.world import STORE_HASH, Dispatcher, Outcome, World

APP_ID, APP_SECRET = "app-client-id-1", "app-client-secret-" + "z" * 20


def current_customer_jwt(
    customer: dict[str, Any], *, secret: str = APP_SECRET, alg: str = "HS256", **claims: Any
) -> str:
    """Minted exactly as BigCommerce documents /customer/current.jwt."""
    now = int(time.time())
    body = {
        "customer": {"id": customer["id"], "email": customer["email"], "group_id": "0"},
        "iss": "bc/apps",
        "sub": STORE_HASH,
        "iat": now,
        "exp": now + 900,
        "version": 1,
        "aud": APP_ID,
        "application_id": "app-uuid",
        "store_hash": STORE_HASH,
        "operation": "current_customer",
        **claims,
    }
    return jwt.encode(body, secret, algorithm=alg)


@pytest.fixture
def shopper(world: World) -> dict[str, Any]:
    """A customer who registered by hand and is signed in on the storefront."""
    world.put_store(app_client_id=APP_ID, app_client_secret=APP_SECRET)
    return world.shop.add_customer(STORE_HASH, "ada.private@example.org", first_name="Ada")


@pytest.fixture
def saml(world: World, idp_server: tuple[ServerThread, Dispatcher]) -> Iterator[SamlWorld]:
    yield saml_world(world, idp_server)


def link_oidc(
    world: World,
    token: str,
    browser: httpx.Client | None = None,
    origin: str | None = "storefront",
    channel_id: str = "1",
) -> Outcome:
    browser = browser or world.browser()
    headers = (
        {"Origin": world.shop.base_url if origin == "storefront" else origin} if origin else {}
    )
    start = browser.post(
        f"{world.url}/sso/acme/okta/link",
        data={
            "current_customer_jwt": token,
            "channel_id": channel_id,
            "redirect_to": "/account.php",
        },
        headers=headers,
    )
    outcome = Outcome(start=start)
    if start.status_code != 302:
        return outcome
    at_op = browser.get(start.headers["location"])
    outcome.callback = browser.get(at_op.headers["location"])
    return world.follow_to_storefront(outcome, browser)


def link_saml(saml: SamlWorld, token: str) -> Outcome:
    world, browser = saml.world, saml.world.browser()
    start = browser.post(
        f"{world.url}/sso/acme/{SAML_CONNECTION}/link",
        data={"current_customer_jwt": token},
        headers={"Referer": world.shop.storefront_url(STORE_HASH, 1) + "/account.php"},
    )
    assert start.status_code == 302, start.text
    fields = form_fields(browser.get(start.headers["location"]).text)
    posted = browser.post(saml.acs_url, data=fields)
    outcome = Outcome(start=start, callback=browser.get(posted.headers["location"]))
    return world.follow_to_storefront(outcome, browser)


def test_current_customer_answers_the_shopper_and_their_links(world: World, shopper) -> None:  # type: ignore[no-untyped-def]
    token = current_customer_jwt(shopper)
    answer = httpx.post(
        f"{world.url}/sso/acme/current-customer", json={"current_customer_jwt": token}
    )
    assert answer.status_code == 200
    assert answer.json() == {
        "customer_id": shopper["id"],
        "email": shopper["email"],
        "group_id": 0,
        "links": [],
    }
    assert link_oidc(world, token).landed
    links = httpx.post(
        f"{world.url}/sso/acme/current-customer", json={"current_customer_jwt": token}
    ).json()["links"]
    assert [(link["connection"], link["subject"]) for link in links] == [("okta", "sub-ada")]


@pytest.mark.parametrize(
    "forge",
    [
        lambda c: current_customer_jwt(c, store_hash="otherstore", sub="otherstore"),
        lambda c: current_customer_jwt(c, iat=int(time.time()) - 2000, exp=int(time.time()) - 1000),
        lambda c: current_customer_jwt(c, aud="another-app"),
        lambda c: current_customer_jwt(c, aud=[APP_ID, "another-app"]),
        lambda c: current_customer_jwt(c, aud=[APP_ID, APP_ID]),
        lambda c: current_customer_jwt(c, aud=APP_ID + " "),
        lambda c: current_customer_jwt(c, alg="HS512"),
        lambda c: current_customer_jwt(c, secret="not-the-app-secret-" + "q" * 20),
        lambda c: current_customer_jwt(c, operation="customer_login"),
        lambda c: current_customer_jwt(c, iss="bc/elsewhere"),
        lambda c: jwt.encode(
            {"customer": {"id": c["id"]}, "operation": "current_customer"}, None, algorithm="none"
        ),
    ],
    ids=[
        "other_store",
        "expired",
        "other_audience",
        "another_audience_besides_the_app",
        "the_app_twice",
        "the_app_with_a_trailing_space",
        "hs512",
        "wrong_secret",
        "wrong_operation",
        "wrong_issuer",
        "alg_none",
    ],
)
def test_a_current_customer_jwt_that_does_not_verify_is_401_and_audited(
    world: World, shopper, forge
) -> None:  # type: ignore[no-untyped-def]
    answer = httpx.post(
        f"{world.url}/sso/acme/current-customer", json={"current_customer_jwt": forge(shopper)}
    )
    assert answer.status_code == 401 and set(answer.json()) == {"error", "message", "reference"}
    [event] = world.events(kind="current_customer", outcome="failure")
    assert (
        event["reason"] == "current_customer_invalid"
        and event["reference"] == answer.json()["reference"]
    )
    # And the same token cannot start a link.
    assert link_oidc(world, forge(shopper)).start.status_code == 401
    assert world.links() == [] and world.login_states() == 0


def test_linking_oidc_and_saml_identities_then_signing_in_lands_on_the_same_customer(
    world: World,
    shopper,
    saml: SamlWorld,  # type: ignore[no-untyped-def]
) -> None:
    token = current_customer_jwt(shopper)
    assert link_oidc(world, token).landed
    assert link_saml(saml, token).landed
    # Later, plain sign-ins through each IdP:
    assert world.login().landed
    assert saml.login().landed
    assert {a.customer_id for a in world.shop.acceptances} == {shopper["id"]}
    assert list(world.customers) == [shopper["id"]], "no customer may be created"
    assert {link["customer_id"] for link in world.links()} == {shopper["id"]}
    [event] = [e for e in world.events(kind="link.created") if e["connection_slug"] == "okta"]
    assert event["details"] == {
        "storefront_email": "ada.private@example.org",
        "idp_email": "ada@example.com",
    }


def test_a_subject_linked_to_another_customer_is_refused_with_nothing_written(
    world: World, shopper
) -> None:  # type: ignore[no-untyped-def]
    assert world.login().landed  # sub-ada got a customer of its own
    links_before = world.links()
    outcome = link_oidc(world, current_customer_jwt(shopper))
    assert outcome.callback.status_code == 403
    assert "already linked" in outcome.callback.text
    assert world.links() == links_before
    assert world.events(kind="login", outcome="failure")[-1]["reason"] == "subject_linked_elsewhere"


def test_a_customer_linked_to_another_subject_of_the_connection_is_refused(
    world: World, shopper
) -> None:  # type: ignore[no-untyped-def]
    admin = world.admin()
    assert (
        admin.post(
            "/stores/acme/links",
            json={"connection": "okta", "subject": "sub-someone", "customer_id": shopper["id"]},
        ).status_code
        == 201
    )
    outcome = link_oidc(world, current_customer_jwt(shopper))
    assert outcome.callback.status_code == 403
    assert len(world.links()) == 1
    assert (
        world.events(kind="login", outcome="failure")[-1]["reason"] == "customer_linked_elsewhere"
    )


def test_the_customer_comes_from_the_login_state_not_from_the_callback(
    world: World, shopper
) -> None:  # type: ignore[no-untyped-def]
    # A plain login's callback cannot be turned into a link: nothing in it names a customer.
    browser = world.browser()
    start = browser.get(f"{world.url}/sso/acme/okta/login")
    callback = browser.get(start.headers["location"]).headers["location"]
    tampered = browser.get(callback + f"&current_customer_jwt={current_customer_jwt(shopper)}")
    assert tampered.status_code == 302
    assert world.links()[0]["customer_id"] != shopper["id"]


@pytest.mark.parametrize("origin", [None, "https://evil.example", "null"])
def test_a_link_posted_from_outside_the_storefronts_is_refused(
    world: World, shopper, origin
) -> None:  # type: ignore[no-untyped-def]
    # Cross-site request forgery: a page elsewhere posting the attacker's own JWT through the
    # victim's browser would link the victim's identity to the attacker's account.
    outcome = link_oidc(world, current_customer_jwt(shopper), origin=origin)
    assert outcome.start.status_code == 403
    assert world.login_states() == 0 and world.links() == []
    assert world.events(kind="login", outcome="failure")[-1]["reason"] == "link_origin_refused"


def test_a_link_refused_for_the_channel_writes_nothing(world: World, shopper) -> None:  # type: ignore[no-untyped-def]
    world.put_connection(channel_ids=[1, 2])
    shopper["channel_ids"] = [1]
    outcome = link_oidc(world, current_customer_jwt(shopper), channel_id="2")
    assert outcome.callback.status_code == 403
    assert world.links() == []
    assert world.events(kind="link.created") == []
