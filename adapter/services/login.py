"""The front door of a browser login: the request's checks, then the connection's protocol
sends the browser to the IdP; the login is kept in flight, bound to the browser. Each
protocol finishes its own login (`oidc_login`, `saml_login`), and every login ends in
`landing`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from adapter.core.login_state import LinkInProgress
from adapter.core.redirects import InvalidRedirect, validate_redirect_to
from adapter.db.login_states import PendingLogin
from adapter.errors import BadRequest, NotAdmitted
from adapter.services import login_facts
from adapter.services.login_protocol import LoginProtocol
from adapter.services.login_steps import (
    LoginSteps,
    admitted_channel,
    clean_login_hint,
    origin_of,
    parse_channel_id,
)
from adapter.services.runtime import Runtime


class LoginService:
    def __init__(self, runtime: Runtime, steps: LoginSteps, protocols: Mapping[str, LoginProtocol]):
        self._rt = runtime
        self._steps = steps
        self._protocols = protocols

    def protocol(self, name: str) -> LoginProtocol:
        return self._protocols[name]

    async def start(
        self,
        store_slug: str,
        connection_slug: str,
        *,
        channel_id: str | None,
        redirect_to: str | None,
        login_hint: str | None,
        browser_id: str,
        current_customer_jwt: str | None = None,
        request_origin: str | None = None,
    ) -> str:
        """Where the browser goes to sign in at the IdP."""
        store, connection = await self._steps.load(store_slug, connection_slug)
        if current_customer_jwt is not None:
            # Linking writes to the shopper's account: the form must come from one of this
            # store's storefronts, not from a page that posts someone else's JWT (CSRF).
            storefronts = {origin_of(c.storefront_url) for c in store.channels}
            if request_origin is None or request_origin not in storefronts:
                raise NotAdmitted(
                    f"link request from origin {request_origin!r}", code="link_origin_refused"
                )
        # Linking: the storefront's signed word on who is signed in, verified now and carried
        # in this login's own server-side state, never taken from the callback.
        link = None
        if current_customer_jwt is not None:
            shopper = self._steps.verify_current_customer(store, current_customer_jwt)
            link = LinkInProgress(customer_id=shopper.customer_id, email=shopper.email)
        chosen = parse_channel_id(channel_id, store)
        login_facts.note(channel_id=chosen)
        channel = store.channel(chosen)
        if channel is not None:
            login_facts.note(storefront_url=channel.storefront_url)
        admitted_channel(store, connection, chosen)
        try:
            target = validate_redirect_to(redirect_to)
        except InvalidRedirect as exc:
            raise BadRequest(
                f"redirect_to {exc}",
                code="redirect_to_invalid",
                public_message=(
                    "This sign-in link would send you to a page outside the store. "
                    "Please start again from the store."
                ),
            ) from None
        hint = clean_login_hint(login_hint)
        started = await self.protocol(connection.protocol).start(store, connection, login_hint=hint)
        await self._steps.keep_in_flight(
            started.state,
            browser_id,
            PendingLogin(
                store_id=store.id,
                connection_id=connection.id,
                channel_id=chosen,
                redirect_to=target,
                flight=dataclasses.replace(started.flight, link=link),
            ),
        )
        return started.url

    async def logout_url(self, store_slug: str, channel_id: str | None) -> str:
        store = await self._steps.store(store_slug)
        chosen = parse_channel_id(channel_id, store)
        channel = store.channel(chosen)
        if channel is None:
            raise NotAdmitted(
                f"channel {chosen} is not a channel of this store", code="channel_not_allowed"
            )
        return channel.logout_url
