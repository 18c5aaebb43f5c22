"""How often the adapter fetches an IdP's public documents: OP discovery and JWKS hourly, a
JWKS refetch forced by an unknown kid at most once per cooldown, SAML metadata from a URL hourly
and after a failed signature at most once a minute, the last good metadata while its IdP is
away, and one fetch for concurrent logins."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx
import pytest
from joserfc.jwk import ECKey

from adapter.clock import FrozenClock
from adapter.errors import UpstreamFailed
from adapter.oidc.discovery import (
    JWKS_REFRESH_COOLDOWN_SECONDS,
    JWKS_TTL_SECONDS,
    METADATA_TTL_SECONDS,
    ProviderDirectory,
)
from adapter.saml.registry import (
    METADATA_REFRESH_COOLDOWN_SECONDS,
    ServiceProviderRegistry,
)
from adapter.saml.registry import METADATA_TTL_SECONDS as SAML_METADATA_TTL_SECONDS
from adapter.schemas import SamlConnectionBody

ISSUER = "https://op.example.test"
JWKS_URI = f"{ISSUER}/jwks"
SAML_METADATA_URL = "https://idp.example.test/metadata"
DISCOVERY = {
    "issuer": ISSUER,
    "authorization_endpoint": f"{ISSUER}/authorize",
    "token_endpoint": f"{ISSUER}/token",
    "jwks_uri": JWKS_URI,
    "response_types_supported": ["code"],
}


class IdP:
    """Serves the documents, counting requests per path; `status` makes it fail, `gate`
    holds every answer until it is set."""

    def __init__(self) -> None:
        self.requests: dict[str, int] = {}
        self.status = 200
        self.gate: asyncio.Event | None = None
        self.key = ECKey.generate_key("P-256", parameters={"kid": "k1"})

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.requests[path] = self.requests.get(path, 0) + 1
        if self.gate is not None:
            await self.gate.wait()
        if self.status != 200:
            return httpx.Response(self.status)
        if path == "/.well-known/openid-configuration":
            return httpx.Response(200, content=json.dumps(DISCOVERY))
        if path == "/jwks":
            return httpx.Response(200, json={"keys": [self.key.as_dict(private=False)]})
        return httpx.Response(200, text=f"<metadata n='{self.requests[path]}'/>")

    def count(self, path: str) -> int:
        return self.requests.get(path, 0)


@pytest.fixture
def idp() -> IdP:
    return IdP()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


def client(idp: IdP) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(idp))


def directory(idp: IdP, clock: FrozenClock) -> ProviderDirectory:
    return ProviderDirectory(client(idp), clock, allow_insecure_loopback=False)


def metadata_of(idp: IdP, clock: FrozenClock) -> Callable[..., object]:
    registry = ServiceProviderRegistry(client(idp), clock, clock_skew_seconds=60)
    body = SamlConnectionBody(protocol="saml", idp_metadata_url=SAML_METADATA_URL, channel_ids=[1])

    async def read(*, refresh: bool = False) -> str:
        return await registry._metadata_xml(body, refresh=refresh)

    return read


async def test_discovery_is_fetched_once_an_hour(idp: IdP, clock: FrozenClock) -> None:
    providers = directory(idp, clock)
    await providers.metadata(ISSUER, multi_tenant=False)
    clock.advance(METADATA_TTL_SECONDS - 1)
    await providers.metadata(ISSUER, multi_tenant=False)
    assert idp.count("/.well-known/openid-configuration") == 1
    clock.advance(1)
    await providers.metadata(ISSUER, multi_tenant=False)
    assert idp.count("/.well-known/openid-configuration") == 2


async def test_a_failed_discovery_is_not_remembered(idp: IdP, clock: FrozenClock) -> None:
    providers = directory(idp, clock)
    idp.status = 503
    with pytest.raises(UpstreamFailed):
        await providers.metadata(ISSUER, multi_tenant=False)
    idp.status = 200
    assert (await providers.metadata(ISSUER, multi_tenant=False)).jwks_uri == JWKS_URI


async def test_concurrent_logins_share_one_jwks_fetch(idp: IdP, clock: FrozenClock) -> None:
    providers = directory(idp, clock)
    idp.gate = asyncio.Event()
    fetching = [asyncio.create_task(providers.jwks(JWKS_URI)) for _ in range(20)]
    await asyncio.sleep(0.01)
    idp.gate.set()
    assert all(len(keys.keys) == 1 for keys in await asyncio.gather(*fetching))
    assert idp.count("/jwks") == 1


async def test_jwks_is_fetched_once_an_hour(idp: IdP, clock: FrozenClock) -> None:
    providers = directory(idp, clock)
    await providers.jwks(JWKS_URI)
    clock.advance(JWKS_TTL_SECONDS - 1)
    await providers.jwks(JWKS_URI)
    assert idp.count("/jwks") == 1
    clock.advance(1)
    await providers.jwks(JWKS_URI)
    assert idp.count("/jwks") == 2


async def test_an_unknown_kid_refetches_jwks_at_most_once_per_cooldown(
    idp: IdP, clock: FrozenClock
) -> None:
    providers = directory(idp, clock)
    await providers.jwks(JWKS_URI)
    # A rotation right after a routine fetch is still picked up.
    await providers.jwks(JWKS_URI, refresh=True)
    assert idp.count("/jwks") == 2
    for _ in range(100):
        await providers.jwks(JWKS_URI, refresh=True)
    clock.advance(JWKS_REFRESH_COOLDOWN_SECONDS - 1)
    await providers.jwks(JWKS_URI, refresh=True)
    assert idp.count("/jwks") == 2
    clock.advance(1)
    await providers.jwks(JWKS_URI, refresh=True)
    assert idp.count("/jwks") == 3


async def test_saml_metadata_from_a_url_is_fetched_once_an_hour(
    idp: IdP, clock: FrozenClock
) -> None:
    read = metadata_of(idp, clock)
    assert await read() == "<metadata n='1'/>"
    clock.advance(SAML_METADATA_TTL_SECONDS - 1)
    assert await read() == "<metadata n='1'/>"
    clock.advance(1)
    assert await read() == "<metadata n='2'/>"


async def test_a_failed_signature_refetches_saml_metadata_at_most_once_a_minute(
    idp: IdP, clock: FrozenClock
) -> None:
    read = metadata_of(idp, clock)
    await read()
    assert await read(refresh=True) == "<metadata n='2'/>"
    clock.advance(METADATA_REFRESH_COOLDOWN_SECONDS - 1)
    assert await read(refresh=True) == "<metadata n='2'/>"
    clock.advance(1)
    assert await read(refresh=True) == "<metadata n='3'/>"
    assert await read() == "<metadata n='3'/>"


async def test_the_last_good_saml_metadata_is_served_while_the_idp_is_away(
    idp: IdP, clock: FrozenClock
) -> None:
    read = metadata_of(idp, clock)
    await read()
    clock.advance(SAML_METADATA_TTL_SECONDS)
    idp.status = 503
    assert await read() == "<metadata n='1'/>"
    assert await read(refresh=True) == "<metadata n='1'/>"
    idp.status = 200
    assert await read() == "<metadata n='4'/>"  # every failed fetch above was counted


async def test_saml_metadata_never_fetched_is_an_error_while_the_idp_is_away(
    idp: IdP, clock: FrozenClock
) -> None:
    idp.status = 503
    with pytest.raises(UpstreamFailed):
        await metadata_of(idp, clock)()
