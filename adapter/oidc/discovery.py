"""OpenID Provider metadata and signing keys, fetched over HTTPS and cached per process.

Per process is safe: both are public documents; a replica that has not seen a rotation
refetches on the first unknown `kid`, at most once per cooldown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from adapter.clock import Clock
from adapter.core.cache import Cache
from adapter.core.urls import check_outbound_url
from adapter.errors import UpstreamFailed
from adapter.oidc.id_token import ASYMMETRIC_ALGORITHMS, HMAC_ALGORITHMS, TENANT_PLACEHOLDER
from adapter.outbound import FetchFailed, fetch_document

METADATA_TTL_SECONDS = 3600
JWKS_TTL_SECONDS = 3600
# An unknown kid triggers at most one JWKS refetch per this many seconds (per jwks_uri), so a
# flood of forged tokens cannot turn us into a request amplifier against the OP.
JWKS_REFRESH_COOLDOWN_SECONDS = 30
# One entry per OP (issuer, jwks_uri) configured on some connection: the bound is far above
# any deployment's count and only keeps issuers that are no longer used from piling up.
PROVIDERS_MAXSIZE = 1_000
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

    def url(name: str) -> str:
        value = document.get(name)
        if not isinstance(value, str):
            raise InvalidProviderMetadata(f"{name} missing")
        reason = check_outbound_url(value, allow_insecure_loopback=allow_insecure_loopback)
        if reason:
            raise InvalidProviderMetadata(f"{name} {reason}")
        return value

    def optional_url(name: str) -> str | None:
        return None if document.get(name) is None else url(name)

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
        authorization_endpoint=url("authorization_endpoint"),
        token_endpoint=url("token_endpoint"),
        jwks_uri=url("jwks_uri"),
        userinfo_endpoint=optional_url("userinfo_endpoint"),
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


class ProviderDirectory:
    """Discovery documents and JWKS of every OP the adapter talks to."""

    def __init__(self, http: httpx.AsyncClient, clock: Clock, *, allow_insecure_loopback: bool):
        self._http = http
        self._allow_insecure_loopback = allow_insecure_loopback
        self._metadata: Cache[str, ProviderMetadata] = Cache(
            clock, maxsize=PROVIDERS_MAXSIZE, ttl=METADATA_TTL_SECONDS
        )
        self._jwks: Cache[str, KeySet] = Cache(
            clock, maxsize=PROVIDERS_MAXSIZE, ttl=JWKS_TTL_SECONDS
        )
        # A jwks_uri is held here for the cooldown after a refetch forced by an unknown kid.
        self._forced_refresh: Cache[str, bool] = Cache(
            clock, maxsize=PROVIDERS_MAXSIZE, ttl=JWKS_REFRESH_COOLDOWN_SECONDS
        )

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

        return await self._metadata.get_or_load(f"{issuer}|{multi_tenant}", load)

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
            held = self._jwks.stale(jwks_uri)
            if held is not None and self._forced_refresh.get(jwks_uri, False):
                return held
            self._forced_refresh.put(jwks_uri, True)
        return await self._jwks.get_or_load(jwks_uri, load, refresh=refresh)
