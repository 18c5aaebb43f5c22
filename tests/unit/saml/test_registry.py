"""The registry's service providers: one per connection, rebuilt when the connection changes,
at most PROVIDERS_MAXSIZE of them, and every one that is let go closed (its key files gone)."""

from __future__ import annotations

import os

import httpx
import pytest

from adapter.clock import FrozenClock
from adapter.core.records import ConnectionRecord
from adapter.saml import registry as registry_module
from adapter.saml.registry import ServiceProviderRegistry
from adapter.saml.service_provider import ServiceProvider
from adapter.schemas import SamlConnectionBody
from adapter.services.configuration import policy_from_body
from tests.support.certificates import self_signed
from tests.support.saml_idp import SandboxSamlIdp

KEY, CERTIFICATE = self_signed("sp.example.test")
IDP_METADATA = SandboxSamlIdp("https://idp.example.test").metadata()


def connection(connection_id: int, updated_at: float = 0.0) -> ConnectionRecord:
    body = SamlConnectionBody(protocol="saml", idp_metadata_xml=IDP_METADATA, channel_ids=[1])
    return ConnectionRecord(
        id=connection_id,
        store_id=1,
        slug=f"idp-{connection_id}",
        protocol="saml",
        settings=policy_from_body(body),
        client_secret=None,
        sp_private_key=KEY,
        sp_certificate=CERTIFICATE,
        updated_at=updated_at,
    )


def registry() -> ServiceProviderRegistry:
    return ServiceProviderRegistry(httpx.AsyncClient(), FrozenClock(), clock_skew_seconds=60)


async def provider_of(
    providers: ServiceProviderRegistry, record: ConnectionRecord
) -> ServiceProvider:
    return await providers.get(record, public_url="https://adapter.example.test", store_slug="acme")


def closed(provider: ServiceProvider) -> bool:
    return not os.path.isdir(provider._dir)


async def test_an_unchanged_connection_keeps_its_provider() -> None:
    providers = registry()
    first = await provider_of(providers, connection(1))
    assert await provider_of(providers, connection(1)) is first
    providers.close()
    assert closed(first)


async def test_a_changed_connection_gets_a_new_provider_and_the_old_one_is_closed() -> None:
    providers = registry()
    old = await provider_of(providers, connection(1, updated_at=1.0))
    new = await provider_of(providers, connection(1, updated_at=2.0))
    assert new is not old and closed(old) and not closed(new)
    providers.close()


async def test_providers_beyond_the_bound_are_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_module, "PROVIDERS_MAXSIZE", 2)
    providers = registry()
    built = [await provider_of(providers, connection(n)) for n in range(5)]
    assert [closed(p) for p in built] == [True, True, True, False, False]
    # The one pushed out is rebuilt on its next login.
    assert await provider_of(providers, connection(0)) is not built[0]
    providers.close()
    assert all(closed(p) for p in built)
