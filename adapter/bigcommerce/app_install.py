"""BigCommerce's app install: the OAuth code exchanged for the store's access token, and the
store's channels and storefront URLs read with it (Channels and Sites APIs).

The code exchange is one POST (never retried: a code is good once) to the configured login
URL, answered in full or not at all (`read_capped`); the API reads go through the REST
transport (429s waited out)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from adapter.bigcommerce.transport import BigCommerceTransport
from adapter.errors import BadRequest, UpstreamFailed
from adapter.outbound import read_capped

MAX_GRANT_BYTES = 64 * 1024
# What the adapter needs (bigcommerce/docs api-accounts.mdx): customers (modify: it creates
# and updates them), customer login (the login JWTs), channel and site reads (the install
# reads the store's channels and storefront URLs).
REQUIRED_SCOPES = frozenset(
    {
        "store_v2_customers",
        "store_v2_customers_login",
        "store_channel_settings_read_only",
        "store_sites_read_only",
    }
)
# A modify scope includes its read-only counterpart.
_IMPLIED = {
    "store_channel_settings": "store_channel_settings_read_only",
    "store_sites": "store_sites_read_only",
}


@dataclass(frozen=True)
class InstallGrant:
    access_token: str
    scopes: frozenset[str]
    store_hash: str
    user_id: int
    user_email: str | None
    owner_id: int
    owner_email: str | None


@dataclass(frozen=True)
class StoreChannel:
    channel_id: int
    name: str
    storefront_url: str


def missing_scopes(granted: frozenset[str]) -> list[str]:
    have = set(granted) | {_IMPLIED[s] for s in granted if s in _IMPLIED}
    return sorted(REQUIRED_SCOPES - have)


def _id(person: Any) -> tuple[int, str | None]:
    if not isinstance(person, dict) or not isinstance(person.get("id"), int):
        raise UpstreamFailed("BigCommerce token answer: no user", code="bigcommerce_error")
    email = person.get("email")
    return person["id"], email if isinstance(email, str) else None


async def exchange_install_code(
    http: httpx.AsyncClient,
    *,
    login_url: str,
    client_id: str,
    client_secret: str,
    code: str,
    context: str,
    scope: str,
    redirect_uri: str,
) -> InstallGrant:
    answer = await read_capped(
        http,
        "POST",
        f"{login_url.rstrip('/')}/oauth2/token",
        what="BigCommerce OAuth token exchange",
        max_bytes=MAX_GRANT_BYTES,
        unreachable_code="bigcommerce_unavailable",
        too_large_code="bigcommerce_error",
        data={
            "client_id": client_id,
            "client_secret": client_secret,
            "code": code,
            "context": context,
            "scope": scope,
            "grant_type": "authorization_code",
            "redirect_uri": redirect_uri,
        },
        headers={"Accept": "application/json"},
    )
    if answer.status_code in (400, 401, 403):
        # An expired, used or foreign code: the merchant starts the install again.
        raise BadRequest(
            f"BigCommerce refused the install code: HTTP {answer.status_code}",
            code="install_code_refused",
            public_message="This install link has expired or was used already. "
            "Please start the install again from the control panel.",
        )
    try:
        document: Any = json.loads(answer.content)
    except ValueError:
        document = None
    if answer.status_code != 200 or not isinstance(document, dict):
        raise UpstreamFailed(
            f"BigCommerce token exchange: HTTP {answer.status_code}", code="bigcommerce_error"
        )
    token = document.get("access_token")
    if not isinstance(token, str) or not token:
        raise UpstreamFailed("BigCommerce token exchange: no token", code="bigcommerce_error")
    if document.get("context") != context:
        raise UpstreamFailed("BigCommerce granted another store", code="bigcommerce_error")
    user_id, user_email = _id(document.get("user"))
    owner_id, owner_email = _id(document.get("owner"))
    return InstallGrant(
        access_token=token,
        scopes=frozenset(str(document.get("scope", "")).split()),
        store_hash=context.removeprefix("stores/"),
        user_id=user_id,
        user_email=user_email,
        owner_id=owner_id,
        owner_email=owner_email,
    )


async def store_channels(
    transport: BigCommerceTransport, *, api_base_url: str, store_hash: str
) -> list[StoreChannel]:
    """The store's active storefront channels with their primary storefront URL."""
    base = f"{api_base_url.rstrip('/')}/stores/{store_hash}/v3"
    answer = await transport.request(
        "GET", f"{base}/channels", params={"type:in": "storefront", "limit": 250}
    )
    if answer.status != 200:
        raise answer.failure("channel list")
    document = answer.json()
    channels = document.get("data") if isinstance(document, dict) else None
    if not isinstance(channels, list):
        raise UpstreamFailed("BigCommerce channel list: no data", code="bigcommerce_error")
    found = []
    for channel in channels:
        if not isinstance(channel, dict) or not isinstance(channel.get("id"), int):
            continue
        if channel.get("type") != "storefront" or channel.get("status") not in (
            "active",
            "prelaunch",
        ):
            continue
        site = await transport.request("GET", f"{base}/channels/{channel['id']}/site")
        if site.status == 404:
            continue  # a channel without a site has no storefront to sign in to
        if site.status != 200:
            raise site.failure("channel site")
        data = (site.json() or {}).get("data") or {}
        urls = data.get("urls") or []
        primary = next(
            (u.get("url") for u in urls if isinstance(u, dict) and u.get("type") == "primary"),
            data.get("url"),
        )
        if isinstance(primary, str) and primary.startswith(("https://", "http://")):
            found.append(
                StoreChannel(channel["id"], str(channel.get("name", "")), primary.rstrip("/"))
            )
    return found
