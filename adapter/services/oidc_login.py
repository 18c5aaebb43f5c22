"""The OpenID Connect legs of a login: the authorization request, and the callback."""

from __future__ import annotations

from collections.abc import Mapping

from adapter.core.login_state import OidcAuthorization
from adapter.core.records import ConnectionRecord, StoreRecord
from adapter.errors import BadRequest, NotFound
from adapter.services.landing import Landing
from adapter.services.login_protocol import Landed, Started
from adapter.services.login_steps import LoginSteps, oidc_client_settings
from adapter.services.runtime import Runtime


class OidcLogin:
    def __init__(self, runtime: Runtime, steps: LoginSteps, landing: Landing):
        self._rt = runtime
        self._steps = steps
        self._landing = landing

    def callback_url(self, store_slug: str, connection_slug: str) -> str:
        return f"{self._rt.settings.public_url}/sso/{store_slug}/{connection_slug}/oidc/callback"

    async def start(
        self, store: StoreRecord, connection: ConnectionRecord, *, login_hint: str | None
    ) -> Started:
        request = await self._rt.oidc.begin(
            oidc_client_settings(connection),
            redirect_uri=self.callback_url(store.slug, connection.slug),
            login_hint=login_hint,
        )
        return Started(
            state=request.state,
            url=request.url,
            flight=OidcAuthorization(nonce=request.nonce, code_verifier=request.code_verifier),
        )

    async def finish(
        self,
        store_slug: str,
        connection_slug: str,
        params: Mapping[str, str | None],
        *,
        browser_id: str | None,
        request_ip: str | None,
    ) -> Landed:
        """The callback: `params` is its query."""
        store, connection = await self._steps.load(store_slug, connection_slug)
        if connection.protocol != "oidc":
            raise NotFound("not an OIDC connection", code="unknown_connection")
        state = params.get("state")
        if not state or len(state) > 512:
            raise BadRequest("callback without state", code="state_missing")
        pending, channel = await self._steps.take_in_flight(
            state, browser_id, store, connection, what="login state", expecting=OidcAuthorization
        )
        flight = pending.flight
        assert isinstance(flight, OidcAuthorization)
        identity = await self._rt.oidc.complete(
            oidc_client_settings(connection),
            {k: v for k, v in params.items() if v is not None},
            nonce=flight.nonce,
            code_verifier=flight.code_verifier,
            redirect_uri=self.callback_url(store_slug, connection_slug),
        )
        return await self._landing.land(
            store,
            connection,
            channel,
            identity,
            redirect_to=pending.redirect_to,
            link=flight.link,
            request_ip=request_ip,
        )
