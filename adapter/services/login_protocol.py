"""The shape every login protocol has: a start that sends the browser to the IdP, and a
finish that lands it on the storefront; and the outcomes a step hands the web layer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from adapter.core.login_state import OidcAuthorization, SamlAuthnRequest
from adapter.core.records import ConnectionRecord, StoreRecord


@dataclass(frozen=True)
class Started:
    """A login sent to the IdP: the state that names it, where the browser goes, and what
    the answer will be checked against."""

    state: str
    url: str
    flight: OidcAuthorization | SamlAuthnRequest


@dataclass(frozen=True)
class Landed:
    """The login is over: the browser goes to `url`, signed in (the storefront's login URL,
    or a headless storefront's return URL with its one-time code)."""

    url: str


@dataclass(frozen=True)
class ContinueAt:
    """Verified, but not finished: the browser goes on to `url`, one of the adapter's own
    steps (SAML's finish, which the browser's own cookie reaches)."""

    url: str


class LoginProtocol(Protocol):
    async def start(
        self, store: StoreRecord, connection: ConnectionRecord, *, login_hint: str | None
    ) -> Started:
        """Prepare the IdP's request. Keeping the login in flight is the caller's part."""
        ...

    async def finish(
        self,
        store_slug: str,
        connection_slug: str,
        params: Mapping[str, str | None],
        *,
        browser_id: str | None,
        request_ip: str | None,
    ) -> Landed:
        """Take the login in flight back in the browser that started it, and land it."""
        ...
