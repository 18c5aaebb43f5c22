"""Configuration as the login flow sees it: plain records with secrets already opened."""

from __future__ import annotations

from dataclasses import dataclass

from adapter.core.policy import OidcPolicy, SamlPolicy


@dataclass(frozen=True)
class ChannelRecord:
    channel_id: int
    kind: str
    storefront_url: str
    delivery: str | None = None
    login_token_path: str | None = None
    graphql_url: str | None = None
    storefront_token: str | None = None
    return_url: str | None = None
    exchange_secret: str | None = None
    logout_path: str | None = None

    @property
    def logout_url(self) -> str:
        default = "/logout" if self.kind == "headless" else "/login.php?action=logout"
        return f"{self.storefront_url}{self.logout_path or default}"


@dataclass(frozen=True)
class B2bSettings:
    """B2B Edition for a store: where its API is and the token it takes."""

    api_base_url: str
    api_token: str


@dataclass(frozen=True)
class StoreRecord:
    id: int
    slug: str
    store_hash: str
    client_id: str
    client_secret: str
    api_token: str
    api_base_url: str
    default_channel_id: int
    bind_request_ip: bool
    app_client_id: str | None
    app_client_secret: str | None
    channels: tuple[ChannelRecord, ...]
    # None: the store does not run B2B Edition (or the adapter is not to use it).
    b2b: B2bSettings | None = None
    # The store's BigCommerce app was uninstalled: it serves no logins until reinstalled.
    uninstalled: bool = False

    def channel(self, channel_id: int) -> ChannelRecord | None:
        return next((c for c in self.channels if c.channel_id == channel_id), None)


@dataclass(frozen=True)
class ConnectionRecord:
    id: int
    store_id: int
    slug: str
    protocol: str
    # The connection's rules (named `settings` since the admin API's bodies were kept here).
    settings: OidcPolicy | SamlPolicy
    client_secret: str | None
    sp_private_key: str | None = None
    sp_certificate: str | None = None
    updated_at: float = 0.0
