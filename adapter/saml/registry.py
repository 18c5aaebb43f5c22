"""One ServiceProvider per SAML connection and process, rebuilt when the connection or its
IdP metadata changes. Metadata from a URL is refetched hourly, and sooner (at most once per
cooldown) when a response fails its signature check: the IdP may have rolled its key."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass

import httpx

from adapter.clock import Clock
from adapter.core.cache import Cache
from adapter.core.policy import SamlPolicy
from adapter.core.records import ConnectionRecord
from adapter.errors import UpstreamFailed
from adapter.outbound import FetchFailed, fetch_document
from adapter.saml.metadata import (
    MAX_METADATA_BYTES,
    IdpMetadata,
    InvalidMetadata,
    parse_idp_metadata,
)
from adapter.saml.service_provider import ServiceProvider, ServiceProviderSettings

METADATA_TTL_SECONDS = 3600
METADATA_REFRESH_COOLDOWN_SECONDS = 60
# One service provider per SAML connection, one document per metadata URL: the bounds are far
# above any deployment's count and only keep deleted connections from piling up. A provider
# pushed out is closed (its key files removed) and rebuilt on its next login.
PROVIDERS_MAXSIZE = 500
METADATA_MAXSIZE = 1_000


@dataclass
class _Entry:
    key: tuple[int, float, str]
    provider: ServiceProvider
    metadata: IdpMetadata


class ServiceProviderRegistry:
    def __init__(
        self,
        http: httpx.AsyncClient,
        clock: Clock,
        *,
        clock_skew_seconds: int,
        response_reader: str = "single_parse",
    ):
        self._http = http
        self._skew = clock_skew_seconds
        self._response_reader = response_reader
        self._workdir = tempfile.mkdtemp(prefix="sso-adapter-saml-")
        # Every caller uses the provider it is handed before it next awaits, and `get` replaces
        # or evicts one only after its own last await: no provider is closed under a caller.
        self._providers: Cache[int, _Entry] = Cache(
            clock, maxsize=PROVIDERS_MAXSIZE, ttl=None, on_discard=_close
        )
        # Expired documents stay available to `stale`: the last good one is served while its
        # IdP is away.
        self._fetched: Cache[str, str] = Cache(
            clock, maxsize=METADATA_MAXSIZE, ttl=METADATA_TTL_SECONDS
        )
        # A URL is held here for the cooldown after a refetch forced by a failed signature.
        self._forced: Cache[str, bool] = Cache(
            clock, maxsize=METADATA_MAXSIZE, ttl=METADATA_REFRESH_COOLDOWN_SECONDS
        )

    async def _metadata_xml(self, body: SamlPolicy, *, refresh: bool) -> str:
        if body.idp_metadata_xml is not None:
            return body.idp_metadata_xml
        url = body.idp_metadata_url
        assert url is not None

        async def fetch() -> str:
            content = await fetch_document(
                self._http, url, what="IdP metadata", max_bytes=MAX_METADATA_BYTES
            )
            return content.decode("utf-8", errors="replace")

        if refresh:
            held = self._fetched.stale(url)
            if held is not None and self._forced.get(url, False):
                return held
            self._forced.put(url, True)
        try:
            return await self._fetched.get_or_load(url, fetch, refresh=refresh)
        except FetchFailed:
            held = self._fetched.stale(url)
            if held is None:
                raise
            return held  # keep serving the last good metadata while the IdP is away

    async def get(
        self,
        connection: ConnectionRecord,
        *,
        public_url: str,
        store_slug: str,
        refresh: bool = False,
    ) -> ServiceProvider:
        body = connection.settings
        assert isinstance(body, SamlPolicy)
        xml = await self._metadata_xml(body, refresh=refresh)
        key = (connection.id, connection.updated_at, hashlib.sha256(xml.encode()).hexdigest())
        entry = self._providers.get(connection.id)
        if entry is not None and entry.key == key:
            return entry.provider
        try:
            metadata = parse_idp_metadata(xml)
        except InvalidMetadata as exc:
            raise UpstreamFailed(f"IdP metadata unusable: {exc}", code="idp_bad_response") from None
        base = f"{public_url}/sso/{store_slug}/{connection.slug}/saml"
        assert connection.sp_private_key and connection.sp_certificate
        provider = ServiceProvider(
            ServiceProviderSettings(
                entity_id=f"{base}/metadata",
                acs_url=f"{base}/acs",
                idp_entity_id=metadata.entity_id,
                idp_name_id_formats=metadata.name_id_formats,
                idp_metadata_xml=xml.removeprefix("\ufeff"),
                private_key_pem=connection.sp_private_key,
                certificate_pem=connection.sp_certificate,
                sign_requests=body.sign_requests or metadata.want_authn_requests_signed,
                allow_idp_initiated=body.allow_idp_initiated,
                allow_sha1=body.allow_sha1,
                clock_skew_seconds=self._skew,
                response_reader=self._response_reader,
            ),
            self._workdir,
        )
        self._providers.put(connection.id, _Entry(key, provider, metadata))  # closes the old one
        return provider

    def close(self) -> None:
        self._providers.clear()


def _close(entry: _Entry) -> None:
    entry.provider.close()
