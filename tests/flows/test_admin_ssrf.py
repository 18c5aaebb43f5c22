"""In production (loopback not allowed) no URL an administrator gives may lead the adapter
into its own network, and a failed fetch tells the admin API caller what to fix, not what
another host answered.

Names are resolved by `adapter.outbound.resolve_host` alone; these tests replace it there (the
DNS boundary) or use literal addresses.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.flows.test_admin_api import connection_body
from tests.support.world import STORE_HASH, World

PUBLIC = "93.184.216.34"


@pytest.fixture
def production(world: World) -> Iterator[World]:
    world.start_adapter(allow_insecure_loopback=False)
    yield world


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """A resolver the test fills in; a name it lacks does not resolve."""
    table: dict[str, list[str]] = {}

    async def resolve(host: str, port: int) -> list[str]:
        if host in table:
            return table[host]
        raise OSError(f"{host} does not resolve")

    monkeypatch.setattr("adapter.outbound.resolve_host", resolve)
    return table


def _https_store(**changes: object) -> dict[str, object]:
    return {
        "store_hash": STORE_HASH,
        "client_id": "client",
        "client_secret": "secret",
        "api_token": "token",
        "api_base_url": "https://api.bigcommerce.com",
        "channels": [
            {"channel_id": 1, "kind": "hosted", "storefront_url": "https://shop.example.com"},
            {
                "channel_id": 2,
                "kind": "headless",
                "storefront_url": "https://b2b.example.com",
                "delivery": "access_token",
                "graphql_url": "https://b2b.example.com/graphql",
                "storefront_token": "sf-token",
                "return_url": "https://b2b.example.com/auth/sso",
                "exchange_secret": "exchange",
            },
        ],
        **changes,
    }


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.5",
        "https://169.254.169.254",
        "https://127.0.0.1:8443",
        "https://[::1]",
        "https://[::ffff:10.0.0.1]",
        "https://100.64.0.7",
        "https://0.0.0.0",
        "https://localhost",
    ],
)
def test_an_api_base_url_on_an_internal_address_is_refused(
    production: World, dns: dict[str, list[str]], url: str
) -> None:
    dns["localhost"] = ["127.0.0.1", "::1"]
    dns["api.bigcommerce.com"] = [PUBLIC]
    answer = production.admin().put("/stores/other", json=_https_store(api_base_url=url))
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "invalid_url"
    assert answer.json()["field"] == "api_base_url"
    assert "internal address" in answer.json()["message"]
    assert production.admin().get("/stores/other").status_code == 404


def test_a_graphql_url_whose_name_resolves_to_a_private_address_is_refused(
    production: World, dns: dict[str, list[str]]
) -> None:
    dns["api.bigcommerce.com"] = [PUBLIC]
    dns["b2b.example.com"] = ["10.0.0.1"]
    answer = production.admin().put("/stores/other", json=_https_store())
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "channels[2].graphql_url"


def test_every_address_of_a_name_is_checked_not_only_the_first(
    production: World, dns: dict[str, list[str]]
) -> None:
    dns["api.bigcommerce.com"] = [PUBLIC, "192.168.0.10"]
    dns["b2b.example.com"] = [PUBLIC]
    answer = production.admin().put("/stores/other", json=_https_store())
    assert answer.status_code == 422 and answer.json()["field"] == "api_base_url"


def test_public_names_are_saved(production: World, dns: dict[str, list[str]]) -> None:
    dns["api.bigcommerce.com"] = [PUBLIC]
    dns["b2b.example.com"] = [PUBLIC, "2606:2800:220:1:248:1893:25c8:1946"]
    answer = production.admin().put("/stores/other", json=_https_store())
    assert answer.status_code == 201, answer.text


def test_an_issuer_that_resolves_to_an_internal_address_is_refused_unfetched(
    production: World, dns: dict[str, list[str]]
) -> None:
    dns["intranet.example.com"] = ["10.1.2.3"]
    answer = production.admin().put(
        "/stores/acme/connections/inside",
        json=connection_body(production, issuer="https://intranet.example.com"),
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "invalid_url"
    assert answer.json()["field"] == "issuer"


@pytest.mark.parametrize(
    "url", ["https://169.254.169.254/metadata", "https://[fe80::1]/metadata", "https://corp.lan/md"]
)
def test_an_idp_metadata_url_on_an_internal_address_is_refused(
    production: World, dns: dict[str, list[str]], url: str
) -> None:
    dns["corp.lan"] = ["172.20.0.4"]
    body = {"protocol": "saml", "idp_metadata_url": url, "channel_ids": [1]}
    answer = production.admin().put("/stores/acme/connections/corp", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "invalid_url"
    assert answer.json()["field"] == "idp_metadata_url"


def test_a_name_that_turns_internal_after_the_check_is_refused_when_fetched(
    production: World, dns: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # DNS rebinding: public when the URL is checked, loopback when the connection is opened.
    answers = iter([[PUBLIC], ["127.0.0.1"], ["127.0.0.1"]])

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    monkeypatch.setattr("adapter.outbound.resolve_host", rebinding)
    answer = production.admin().put(
        "/stores/acme/connections/rebound",
        json=connection_body(production, issuer="https://rebound.example.com"),
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "issuer_unusable"
    assert (
        "discovery document could not be reached at https://rebound.example.com"
        in (answer.json()["message"])
    )
    assert answer.json()["message"].endswith("outbound calls may not go there")


# -- what a failed fetch tells the admin API caller ----------------------------------------------


def test_an_unreachable_issuer_is_reported_without_the_exception(world: World) -> None:
    answer = world.admin().put(
        "/stores/acme/connections/broken", json=connection_body(world, issuer="http://127.0.0.1:9")
    )
    assert answer.status_code == 422
    message = answer.json()["message"]
    assert message == (
        "the issuer's discovery document cannot be used: discovery document could not be "
        "reached at http://127.0.0.1:9/.well-known/openid-configuration: "
        "the connection was refused"
    )
    assert "Error" not in message


def test_a_foreign_issuer_value_in_discovery_is_not_echoed(world: World) -> None:
    world.op.hooks.discovery = lambda d: {**d, "issuer": "https://internal-value.example"}
    answer = world.admin().put("/stores/acme/connections/broken", json=connection_body(world))
    assert answer.status_code == 422 and answer.json()["field"] == "issuer"
    assert "internal-value" not in answer.json()["message"]


def test_unreachable_idp_metadata_is_reported_without_the_exception(world: World) -> None:
    body = {"protocol": "saml", "idp_metadata_url": "http://127.0.0.1:9/md", "channel_ids": [1]}
    answer = world.admin().put("/stores/acme/connections/corp", json=body)
    assert answer.status_code == 422
    assert answer.json()["message"] == (
        "metadata could not be reached at http://127.0.0.1:9/md: the connection was refused"
    )


def test_a_credential_check_against_an_unreachable_api_says_so_without_the_exception(
    world: World,
) -> None:
    world.put_store(api_base_url="http://127.0.0.1:9")
    check = world.admin().post("/stores/acme/check-credentials").json()
    assert check == {"ok": False, "message": "BigCommerce could not be reached"}
