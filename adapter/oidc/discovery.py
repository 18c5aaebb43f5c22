"""OpenID Provider metadata and signing keys, fetched over HTTPS and cached per process.

Per process is safe: both are public documents; a replica that has not seen a rotation
refetches on the first unknown `kid`, at most once per cooldown.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from adapter.clock import Clock
from adapter.core.urls import check_outbound_url
from adapter.errors import UpstreamFailed
from adapter.oidc.id_token import ASYMMETRIC_ALGORITHMS, HMAC_ALGORITHMS, TENANT_PLACEHOLDER
from adapter.outbound import FetchFailed, fetch_document

METADATA_TTL_SECONDS = 3600
JWKS_TTL_SECONDS = 3600
# An unknown kid triggers at most one JWKS refetch per this many seconds (per jwks_uri), so a
# flood of forged tokens cannot turn us into a request amplifier against the OP.
JWKS_REFRESH_COOLDOWN_SECONDS = 30
MAX_DOCUMENT_BYTES = 512 * 1024


class InvalidProviderMetadata(Exception):
    pass


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    id_token_signing_alg_values_supported: frozenset[str]
    token_endpoint_auth_methods_supported: frozenset[str]
    authorization_response_iss_parameter_supported: bool

    @property
    def is_tenant_template(self) -> bool:
        return TENANT_PLACEHOLDER in self.issuer

    def token_endpoint_auth_method(self) -> str:
        if "client_secret_basic" in self.token_endpoint_auth_methods_supported:
            return "client_secret_basic"
        if "client_secret_post" in self.token_endpoint_auth_methods_supported:
            return "client_secret_post"
        raise InvalidProviderMetadata("the OP supports neither client_secret_basic nor _post")


def parse_provider_metadata(
    document: Any, *, configured_issuer: str, multi_tenant: bool, allow_insecure_loopback: bool
) -> ProviderMetadata:
    if not isinstance(document, dict):
        raise InvalidProviderMetadata("discovery document is not a JSON object")
    issuer = document.get("issuer")
    # OpenID Connect Discovery 4.3: the issuer in the document must be the one we asked for.
    # A multi-tenant Entra issuer is the one exception: its document names the template.
    if issuer != configured_issuer and not (
        multi_tenant and isinstance(issuer, str) and TENANT_PLACEHOLDER in issuer
    ):
        # The value is not repeated: the message reaches the admin API, and an answer that
        # echoed what another host serves would make it a way to read that host.
        raise InvalidProviderMetadata("the issuer in the discovery document is not this issuer")

    def url(name: str, *, required: bool = True) -> str | None:
        value = document.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str):
            raise InvalidProviderMetadata(f"{name} missing")
        reason = check_outbound_url(value, allow_insecure_loopback=allow_insecure_loopback)
        if reason:
            raise InvalidProviderMetadata(f"{name} {reason}")
        return value

    def names(name: str, default: list[str]) -> frozenset[str]:
        value = document.get(name, default)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidProviderMetadata(f"{name} malformed")
        return frozenset(value)

    response_types = names("response_types_supported", [])
    if "code" not in response_types:
        raise InvalidProviderMetadata("the OP does not support response_type code")
    challenges = document.get("code_challenge_methods_supported")
    if isinstance(challenges, list) and "S256" not in challenges:
        # The OP says it would ignore our PKCE challenge: no downgrade to a flow without it.
        raise InvalidProviderMetadata("the OP does not support PKCE S256")
    algorithms = names("id_token_signing_alg_values_supported", ["RS256"])
    # `none` is dropped whatever the OP says; so is anything we do not implement.
    usable = algorithms & (ASYMMETRIC_ALGORITHMS | HMAC_ALGORITHMS)
    if not usable:
        raise InvalidProviderMetadata("no usable id_token signing algorithm")
    return ProviderMetadata(
        issuer=issuer,
        authorization_endpoint=url("authorization_endpoint"),  # type: ignore[arg-type]
        token_endpoint=url("token_endpoint"),  # type: ignore[arg-type]
        jwks_uri=url("jwks_uri"),  # type: ignore[arg-type]
        userinfo_endpoint=url("userinfo_endpoint", required=False),
        id_token_signing_alg_values_supported=usable,
        token_endpoint_auth_methods_supported=names(
            "token_endpoint_auth_methods_supported", ["client_secret_basic"]
        ),
        authorization_response_iss_parameter_supported=(
            document.get("authorization_response_iss_parameter_supported") is True
        ),
    )


async def fetch_json(http: httpx.AsyncClient, url: str, what: str) -> Any:
    content = await fetch_document(
        http, url, what=what, max_bytes=MAX_DOCUMENT_BYTES, accept="application/json"
    )
    try:
        return json.loads(content)
    except ValueError:
        raise FetchFailed(
            f"{what}: not JSON", reason=f"{what} is not JSON", code="idp_bad_response"
        ) from None


class _TimedCache:
    """A small per-process cache whose loads are single-flight per key."""

    def __init__(self, clock: Clock):
        self._clock = clock
        self._entries: dict[str, tuple[float, Any]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def peek(self, key: str) -> tuple[float, Any] | None:
        return self._entries.get(key)

    async def get(
        self, key: str, ttl: float, load: Callable[[], Awaitable[Any]], *, force: bool = False
    ) -> Any:
        entry = self._entries.get(key)
        if entry and not force and self._clock.now() - entry[0] < ttl:
            return entry[1]
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            fresh = self._entries.get(key)
            if fresh is not entry and fresh is not None:
                return fresh[1]  # another task loaded it while we waited
            value = await load()
            self._entries[key] = (self._clock.now(), value)
            return value


class ProviderDirectory:
    """Discovery documents and JWKS of every OP the adapter talks to."""

    def __init__(self, http: httpx.AsyncClient, clock: Clock, *, allow_insecure_loopback: bool):
        self._http = http
        self._clock = clock
        self._allow_insecure_loopback = allow_insecure_loopback
        self._metadata = _TimedCache(clock)
        self._jwks = _TimedCache(clock)
        self._forced_refresh: dict[str, float] = {}

    async def metadata(self, issuer: str, *, multi_tenant: bool) -> ProviderMetadata:
        async def load() -> ProviderMetadata:
            url = issuer.rstrip("/") + "/.well-known/openid-configuration"
            document = await fetch_json(self._http, url, "discovery")
            try:
                return parse_provider_metadata(
                    document,
                    configured_issuer=issuer,
                    multi_tenant=multi_tenant,
                    allow_insecure_loopback=self._allow_insecure_loopback,
                )
            except InvalidProviderMetadata as exc:
                raise UpstreamFailed(f"discovery: {exc}", code="idp_bad_response") from None

        return await self._metadata.get(f"{issuer}|{multi_tenant}", METADATA_TTL_SECONDS, load)

    async def jwks(self, jwks_uri: str, *, refresh: bool = False) -> KeySet:
        async def load() -> KeySet:
            document = await fetch_json(self._http, jwks_uri, "jwks")
            if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
                raise UpstreamFailed("jwks: no keys", code="idp_bad_response")
            # Skip keys we cannot parse (unknown kty) instead of failing the whole set.
            parsed = []
            for item in document["keys"]:
                try:
                    parsed.append(KeySet.import_key_set({"keys": [item]}).keys[0])
                except (JoseError, ValueError, TypeError, KeyError):
                    continue
            return KeySet(parsed)

        if refresh:
            # Cooldown between refreshes forced by unknown kids, not since any fetch: a
            # rotation right after a routine fetch must still be picked up.
            now = self._clock.now()
            entry = self._jwks.peek(jwks_uri)
            last = self._forced_refresh.get(jwks_uri)
            if entry and last is not None and now - last < JWKS_REFRESH_COOLDOWN_SECONDS:
                return entry[1]
            self._forced_refresh[jwks_uri] = now
        return await self._jwks.get(jwks_uri, JWKS_TTL_SECONDS, load, force=refresh)
