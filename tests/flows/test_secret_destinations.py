"""A stored secret never follows a changed destination: whoever moves the URL gives the secret.

Over the admin API and through `sso-adapter apply`, against the live service.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapter.sandbox.oidc_provider import SandboxOidcProvider
from tests.flows.test_admin_api import connection_body, store_body
from tests.flows.test_cli_config import apply_yaml, cli
from tests.support.servers import ServerThread
from tests.support.world import STORE_HASH, Dispatcher, World, op_signing_key

# Another loopback address: a different destination that the URL rules of the tests accept.
ELSEWHERE = "http://127.0.0.2:9"


def _without(body: dict[str, object], *names: str) -> dict[str, object]:
    return {k: v for k, v in body.items() if k not in names}


def _headless(world: World, **channel: object) -> dict[str, object]:
    """A store with a second, headless channel that receives its token at a GraphQL URL."""
    body = store_body(world)
    body["channels"] = [
        *body["channels"],  # type: ignore[list-item]
        {
            "channel_id": 2,
            "kind": "headless",
            "storefront_url": world.shop.storefront_url(STORE_HASH, 2),
            "delivery": "access_token",
            "graphql_url": f"{world.shop.base_url}/graphql",
            "storefront_token": "storefront-token-1",
            "return_url": "https://b2b.example.com/auth/sso",
            "exchange_secret": "exchange-secret-1",
            **channel,
        },
    ]
    return body


def _config_events(world: World, kind: str) -> list[dict[str, object]]:
    return [dict(e) for e in world.events(kind)]


# -- store: api_token goes to api_base_url -----------------------------------------------------


def test_a_new_api_base_url_without_the_api_token_is_refused_and_nothing_changes(
    world: World,
) -> None:
    answer = world.admin().put(
        "/stores/acme", json=_without(store_body(world, api_base_url=ELSEWHERE), "api_token")
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "secret_required"
    assert answer.json()["field"] == "api_token"
    assert "api_base_url" in answer.json()["message"]
    assert world.admin().get("/stores/acme").json()["api_base_url"] == world.shop.base_url


def test_a_new_api_base_url_with_its_api_token_is_saved_and_audited_as_a_moved_destination(
    world: World,
) -> None:
    answer = world.admin().put("/stores/acme", json=store_body(world, api_base_url=ELSEWHERE))
    assert answer.status_code == 200, answer.text
    details = _config_events(world, "store.updated")[-1]["details"]
    assert details["changed"]["api_base_url"] == {"from": world.shop.base_url, "to": ELSEWHERE}
    # The same token given again is no replacement.
    assert "secrets_replaced" not in details
    assert {k: v for k, v in details.items() if k == "destinations_changed"} == {
        "destinations_changed": [
            {
                "secret": "api_token",
                "field": "api_base_url",
                "url": ELSEWHERE,
                "previous_url": world.shop.base_url,
            }
        ]
    }


def test_the_same_api_base_url_written_differently_keeps_the_api_token(world: World) -> None:
    # The case of the scheme and a trailing slash do not change where the token goes.
    same = world.shop.base_url.replace("http://", "HTTP://") + "/"
    body = _without(store_body(world, api_base_url=same), "api_token", "client_secret")
    answer = world.admin().put("/stores/acme", json=body)
    assert answer.status_code == 200, answer.text
    assert "destinations_changed" not in _config_events(world, "store.updated")[-1]["details"]
    assert world.login().landed


def test_an_unchanged_store_put_back_as_read_keeps_every_secret(world: World) -> None:
    admin = world.admin()
    assert admin.put("/stores/acme", json=_headless(world)).status_code == 200
    read = admin.get("/stores/acme").json()
    body = {k: v for k, v in read.items() if k not in ("slug", "created_at", "updated_at")}
    before = _config_events(world, "store.updated")
    answer = admin.put("/stores/acme", json=body)
    assert answer.status_code == 200, answer.text
    # Nothing changed, so nothing to audit; and every secret kept.
    assert _config_events(world, "store.updated") == before


# -- store: client_secret signs the login JWTs that go to the storefronts ------------------------


def test_a_new_storefront_url_without_the_client_secret_is_refused(world: World) -> None:
    body = _without(store_body(world), "client_secret")
    body["channels"] = [{"channel_id": 1, "kind": "hosted", "storefront_url": ELSEWHERE}]
    answer = world.admin().put("/stores/acme", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "client_secret"
    assert "channels[1].storefront_url" in answer.json()["message"]


def test_a_new_channel_is_a_new_destination_of_the_client_secret(world: World) -> None:
    body = _without(store_body(world), "client_secret")
    body["channels"] = [
        *body["channels"],  # type: ignore[list-item]
        {"channel_id": 5, "kind": "hosted", "storefront_url": ELSEWHERE},
    ]
    answer = world.admin().put("/stores/acme", json=body)
    assert answer.status_code == 422 and answer.json()["field"] == "client_secret"


# -- channel: storefront_token goes to graphql_url -----------------------------------------------


def test_a_new_graphql_url_without_the_storefront_token_is_refused(world: World) -> None:
    admin = world.admin()
    assert admin.put("/stores/acme", json=_headless(world)).status_code == 200
    moved = _headless(world, graphql_url=f"{ELSEWHERE}/graphql")
    del moved["channels"][1]["storefront_token"]  # type: ignore[index]
    answer = admin.put("/stores/acme", json=moved)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "channels[2].storefront_token"
    channel = admin.get("/stores/acme").json()["channels"][1]
    assert channel["graphql_url"] == f"{world.shop.base_url}/graphql"


def test_dropping_graphql_url_for_the_default_is_a_new_destination_too(world: World) -> None:
    admin = world.admin()
    assert admin.put("/stores/acme", json=_headless(world)).status_code == 200
    moved = _headless(world, graphql_url=None)
    del moved["channels"][1]["storefront_token"]  # type: ignore[index]
    answer = admin.put("/stores/acme", json=moved)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "channels[2].storefront_token"


def test_a_new_return_url_keeps_the_exchange_secret(world: World) -> None:
    # The exchange secret is never sent: the storefront's backend presents it to the adapter.
    admin = world.admin()
    assert admin.put("/stores/acme", json=_headless(world)).status_code == 200
    moved = _headless(world, return_url="https://other.example.com/auth/sso")
    del moved["channels"][1]["exchange_secret"]  # type: ignore[index]
    assert admin.put("/stores/acme", json=moved).status_code == 200


# -- OIDC connection: client_secret goes to the issuer's token endpoint --------------------------


@pytest.fixture
def other_op(world: World) -> Iterator[SandboxOidcProvider]:
    """A second, working OpenID provider on another port: a plausible new issuer."""
    server = ServerThread.bind("localhost")
    dispatcher = Dispatcher()
    op = SandboxOidcProvider(server.url, auto_login="ada")
    op.keys = [op_signing_key()]
    dispatcher.target = op.app()
    server.start(dispatcher)
    yield op
    server.stop()


def test_a_new_issuer_without_the_client_secret_is_refused_before_it_is_fetched(
    world: World, other_op: SandboxOidcProvider
) -> None:
    fetched: list[object] = []
    other_op.hooks.discovery = lambda d: fetched.append(d) or d
    body = _without(connection_body(world, issuer=other_op.issuer), "client_secret")
    answer = world.admin().put("/stores/acme/connections/okta", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "secret_required"
    assert answer.json()["field"] == "client_secret"
    assert fetched == []
    settings = world.admin().get("/stores/acme/connections/okta").json()
    assert settings["issuer"] == world.op.issuer


def test_a_new_issuer_with_its_client_secret_is_saved_and_audited(
    world: World, other_op: SandboxOidcProvider
) -> None:
    body = connection_body(world, issuer=other_op.issuer, client_secret="new-secret")
    answer = world.admin().put("/stores/acme/connections/okta", json=body)
    assert answer.status_code == 200, answer.text
    (details,) = [e["details"] for e in _config_events(world, "connection.updated")]
    assert details["destinations_changed"][0]["field"] == "issuer"
    assert details["destinations_changed"][0]["url"] == other_op.issuer


def test_the_same_issuer_with_a_trailing_slash_keeps_the_client_secret(world: World) -> None:
    world.op.hooks.discovery = lambda d: {**d, "issuer": world.op.issuer + "/"}
    body = _without(connection_body(world, issuer=world.op.issuer + "/"), "client_secret")
    answer = world.admin().put("/stores/acme/connections/okta", json=body)
    assert answer.status_code == 200, answer.text


# -- apply: the same rule --------------------------------------------------------------------


def test_apply_refuses_a_new_api_base_url_without_the_api_token(
    world: World, tmp_path: Path
) -> None:
    env = {"TEST_CLIENT_SECRET": world.shop_store.client_secret}
    first = tmp_path / "first.yaml"
    first.write_text(apply_yaml(world))
    assert cli(world, "apply", str(first), **env).returncode == 0
    moved = tmp_path / "moved.yaml"
    moved.write_text(
        apply_yaml(world)
        .replace(f"    api_token: {world.shop_store.api_token}\n", "")
        .replace(f"api_base_url: {world.shop.base_url}", f"api_base_url: {ELSEWHERE}")
    )
    for args in (("apply", "--dry-run", str(moved)), ("apply", str(moved))):
        done = cli(world, *args, **env)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "stores.shop-eu.api_token" in done.stderr
    assert world.admin().get("/stores/shop-eu").json()["api_base_url"] == world.shop.base_url
