"""Which write-only secret is sent to which configured URL, and when it must be given again.

A secret omitted on a replace is kept. That is safe only while the secret keeps going where it
went before: otherwise whoever may edit the configuration could point a URL at a host of their
own and receive the stored secret (or a credential made with it) on the next call, without
ever having known it. So a secret whose destination changes must be given again in the same
change; the operator who knows it can, the one who only holds `stores:write` cannot.

The table below is the whole rule; the admin API and `apply` both reach it through the
configuration service (`adapter.services.configuration`). A new secret with a new destination
is one more entry in `store_destinations` or `connection_destinations`.

- store `api_token`, sent as the `X-Auth-Token` header: to `api_base_url`, and, while B2B
  Edition is enabled without a token of its own, to `b2b.api_base_url`;
- store `b2b.api_token`, sent as the `X-Auth-Token` header: to `b2b.api_base_url`;
- store `client_secret`, which signs the customer_login JWTs (each one a login as a shopper):
  to every channel's `storefront_url` (the browser carries the JWT there) and every
  access_token channel's GraphQL URL (the adapter posts the JWT there);
- channel `storefront_token`, sent as a bearer token: to that channel's GraphQL URL
  (`graphql_url`, else BigCommerce's default for the store hash and channel);
- OIDC connection `client_secret`, which authenticates us at the token endpoint: to `issuer`
  (the token endpoint is whatever the issuer's discovery document names).

Not bound, because they are never sent anywhere: `app_client_secret` (only verifies Current
Customer JWTs that come in; a new `app_client_id` already needs its own secret), a channel's
`exchange_secret` (the storefront's backend presents it to the adapter; `return_url` only
receives a one-time code that is worthless without it) and a SAML connection's SP private key
(it signs requests; only its certificate leaves the adapter, and the key is the adapter's own).

Two URLs are the same destination when they differ only in the case of the scheme or host, an
explicit default port, or a trailing slash of the path: those reach the same server with the
same request. Anything else (another host, port, path or query) is a new destination.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
DEFAULT_B2B_API_BASE_URL = "https://api-b2b.bigcommerce.com"


@dataclass(frozen=True)
class Destination:
    """`secret` (a field path of the body) is sent to `url`, configured in `field`."""

    secret: str
    field: str
    url: str


def destination_key(url: str) -> str:
    """The form in which two URLs compare equal exactly when they reach the same place."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url  # not a URL the URL rules would accept: compared as written
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    path = parts.path.rstrip("/")
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{host}{path}{query}"


def given(body: object, secret: str) -> bool:
    """Whether `body` carries the secret at path `secret` (`api_token`, `channels[2].x`).

    The paths are the ones the table below writes, so a new entry needs nothing here.
    """
    node: object = body
    for step in secret.split("."):
        name, _, index = step.partition("[")
        node = getattr(node, name, None)
        if index:
            wanted = int(index.rstrip("]"))
            node = next((c for c in node or () if getattr(c, "channel_id", None) == wanted), None)
        if node is None:
            return False
    return True


def new_destinations(
    before: Iterable[Destination], after: Iterable[Destination]
) -> list[Destination]:
    """The destinations in `after` that no secret of the same name was sent to `before`."""
    known = {(d.secret, destination_key(d.url)) for d in before}
    return [d for d in after if (d.secret, destination_key(d.url)) not in known]


# -- the table --------------------------------------------------------------------------------


class _Channel(Protocol):
    # Read-only, so that a body whose fields are narrower (delivery is a Literal) fits.
    @property
    def channel_id(self) -> int: ...
    @property
    def storefront_url(self) -> str: ...
    @property
    def delivery(self) -> str | None: ...
    @property
    def graphql_url(self) -> str | None: ...


class _Store(Protocol):
    store_hash: str
    api_base_url: str

    @property
    def channels(self) -> Sequence[_Channel]: ...


def b2b_url(store: object) -> str | None:
    """B2B Edition's API URL while B2B is enabled, from a body (`b2b.enabled`), a record
    (`b2b` set only when enabled) or a row (`b2b_enabled`); None otherwise."""
    b2b = getattr(store, "b2b", None)
    if b2b is not None:
        return str(b2b.api_base_url) if getattr(b2b, "enabled", True) else None
    if getattr(store, "b2b_enabled", False):
        return getattr(store, "b2b_api_base_url", None) or DEFAULT_B2B_API_BASE_URL
    return None


def default_graphql_url(store_hash: str, channel_id: int) -> str:
    return f"https://store-{store_hash}-{channel_id}.mybigcommerce.com/graphql"


def graphql_url(store_hash: str, channel: _Channel) -> str:
    """The GraphQL Storefront API URL a channel's storefront token and login JWTs go to."""
    return channel.graphql_url or default_graphql_url(store_hash, channel.channel_id)


def store_destinations(store: _Store) -> list[Destination]:
    """Where the secrets of a store (a body, a row or a record: same attribute names) go."""
    found = [Destination("api_token", "api_base_url", store.api_base_url)]
    b2b = b2b_url(store)
    if b2b is not None:
        # Either token may be the one B2B Edition gets: the configuration service drops the
        # one that is not (see Configuration._moved_store_destinations).
        found.append(Destination("api_token", "b2b.api_base_url", b2b))
        found.append(Destination("b2b.api_token", "b2b.api_base_url", b2b))
    for channel in store.channels:
        prefix = f"channels[{channel.channel_id}]"
        storefront = channel.storefront_url
        found.append(Destination("client_secret", f"{prefix}.storefront_url", storefront))
        if channel.delivery == "access_token":
            url = graphql_url(store.store_hash, channel)
            found.append(Destination("client_secret", f"{prefix}.graphql_url", url))
            found.append(Destination(f"{prefix}.storefront_token", f"{prefix}.graphql_url", url))
    return found


def connection_destinations(protocol: str, issuer: str | None) -> list[Destination]:
    """Where a connection's secret goes. SAML: nowhere (see the module docstring)."""
    if protocol == "oidc" and issuer is not None:
        return [Destination("client_secret", "issuer", issuer)]
    return []
