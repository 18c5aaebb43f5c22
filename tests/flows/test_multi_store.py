"""One deployment, two stores, three channels (one hosted, two headless) and three
connections, end to end; and every way one store's artefacts could leak into another's."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from adapter.schemas import OidcConnectionBody, StoreBody
from tests.support.saml_world import SamlWorld, saml_world
from tests.support.servers import ServerThread
from tests.support.world import CLIENT_ID, STORE_HASH, Dispatcher, Outcome, World

ACME_SECRET = "acme-exchange-secret-" + "a" * 20
BETA_HASH = "beta1"


class Deployment:
    def __init__(self, world: World, saml: SamlWorld):
        self.world, self.saml = world, saml
        shop = world.shop
        self.beta = shop.add_store(BETA_HASH, channels={1: "Beta Catalyst"})
        world.put_store(
            channels=[
                {
                    "channel_id": 1,
                    "kind": "hosted",
                    "storefront_url": shop.storefront_url(STORE_HASH, 1),
                },
                {
                    "channel_id": 2,
                    "kind": "headless",
                    "delivery": "access_token",
                    "storefront_url": shop.storefront_url(STORE_HASH, 2),
                    "graphql_url": shop.graphql_url(STORE_HASH, 2),
                    "storefront_token": world.shop_store.storefront_tokens[2],
                    "return_url": "https://b2b.acme.example/sso",
                    "exchange_secret": ACME_SECRET,
                },
            ]
        )
        # A customer created on one channel is restricted to it: let the connection add more.
        world.put_connection(channel_ids=[1, 2], add_channel_to_customer=True)  # acme/okta
        beta_store = StoreBody(
            store_hash=BETA_HASH,
            client_id=self.beta.client_id,
            client_secret=SecretStr(self.beta.client_secret),
            api_token=SecretStr(self.beta.api_token),
            api_base_url=shop.base_url,
            channels=[
                {
                    "channel_id": 1,
                    "kind": "headless",
                    "storefront_url": shop.storefront_url(BETA_HASH, 1),
                }
            ],
        )
        world._configure(lambda repo: repo.put_store("beta", beta_store))
        beta_okta = OidcConnectionBody(
            protocol="oidc",
            issuer=world.op.issuer,
            client_id=CLIENT_ID,
            client_secret=SecretStr(world.client_secret),
            channel_ids=[1],
        )
        world.op.add_client(
            CLIENT_ID, world.client_secret, [f"{world.public_url}/sso/beta/okta/oidc/callback"]
        )
        world._configure(lambda repo: repo.put_connection("beta", "okta", beta_okta))


@pytest.fixture
def deployment(world: World, idp_server: tuple[ServerThread, Dispatcher]) -> Iterator[Deployment]:
    saml = saml_world(world, idp_server)
    saml.configure(link_by_email=True)  # acme/entra, SAML, channel 1: same people as okta
    yield Deployment(world, saml)


def code_of(outcome: Outcome) -> str:
    return parse_qs(urlsplit(outcome.callback.headers["location"]).query)["code"][0]


def test_every_store_channel_and_connection_end_to_end(deployment: Deployment) -> None:
    world = deployment.world
    # acme, hosted channel, OIDC
    assert world.login(channel_id=1).landed
    # acme, headless channel with server-side delivery, OIDC
    code = code_of(world.login(channel_id=2))
    token = httpx.post(
        f"{world.url}/sso/token",
        json={"code": code},
        headers={"Authorization": f"Bearer {ACME_SECRET}"},
    )
    assert token.status_code == 200 and token.json()["channel_id"] == 2
    # acme, hosted channel, SAML
    assert deployment.saml.login(channel_id=1).landed
    # beta, headless (Catalyst) channel, OIDC
    beta = world.login(store="beta")
    assert beta.landed
    assert beta.callback.headers["location"].startswith(
        world.shop.storefront_url(BETA_HASH, 1) + "/login/token/"
    )

    # The same person: one customer per store, one link per connection.
    assert [c["email"] for c in world.shop_store.customers.values()] == ["ada@example.com"]
    assert [c["email"] for c in deployment.beta.customers.values()] == ["ada@example.com"]
    links = world.links()
    assert len(links) == 3
    assert len({(link["store_id"], link["connection_id"]) for link in links}) == 3
    assert sum(1 for link in links if link["subject"] == "sub-ada") == 2


def test_a_login_state_of_one_store_is_refused_by_another(deployment: Deployment) -> None:
    world = deployment.world
    browser = world.browser()
    start = browser.get(f"{world.url}/sso/acme/okta/login")
    callback = browser.get(start.headers["location"]).headers["location"]
    moved = browser.get(callback.replace("/sso/acme/okta/", "/sso/beta/okta/"))
    assert moved.status_code == 400
    assert world.links() == []


def test_a_code_of_one_store_is_refused_with_another_channels_secret(
    deployment: Deployment,
) -> None:
    world = deployment.world
    code = code_of(world.login(channel_id=2))
    for secret in ("beta-or-anyone-else", world.shop_store.storefront_tokens[2]):
        answer = httpx.post(
            f"{world.url}/sso/token",
            json={"code": code},
            headers={"Authorization": f"Bearer {secret}"},
        )
        assert answer.status_code == 401


def test_a_connection_cannot_log_into_another_stores_channel(deployment: Deployment) -> None:
    assert deployment.world.login(store="beta", channel_id=2).start.status_code == 403


def test_links_and_events_of_one_store_are_not_seen_through_another(deployment: Deployment) -> None:
    world = deployment.world
    assert world.login(channel_id=1).landed
    admin = world.admin()
    assert admin.get("/stores/beta/links").json()["items"] == []
    [link] = admin.get("/stores/acme/links").json()["items"]
    assert admin.get(f"/stores/beta/links/{link['id']}").status_code == 404
    assert [
        e for e in admin.get("/stores/beta/events").json()["items"] if e["kind"] == "login"
    ] == []


def test_a_saml_assertion_for_one_store_is_refused_by_another(deployment: Deployment) -> None:
    world, saml = deployment.world, deployment.saml
    browser = world.browser()
    request_id, relay = saml.start(browser)
    xml = saml.idp.respond(request_id, saml.acs_url, saml.sp_entity_id)
    import base64

    other_acs = saml.acs_url.replace("/sso/acme/", "/sso/beta/")
    answer = browser.post(
        other_acs,
        data={"SAMLResponse": base64.b64encode(xml.encode()).decode(), "RelayState": relay},
    )
    assert answer.status_code in (400, 404)
    assert world.links() == []
