"""The SAML legs of a login: metadata, the Assertion Consumer Service, and the finish step.

The IdP's POST to the ACS is cross-site, so browsers withhold our SameSite=Lax cookie from
it. The ACS therefore verifies the response and parks the identity under a fresh one-time
key, then sends the browser (303) to our own `finish` URL: that top-level GET carries the
cookie, and only there is the login bound to the browser that started it. An IdP-initiated
response (only where the connection allows it) has no browser to bind and finishes at once.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from adapter.core.login_state import SamlAsserted, SamlAuthnRequest
from adapter.core.policy import SamlPolicy
from adapter.core.records import ConnectionRecord, StoreRecord
from adapter.db.hot_path import ClaimRow
from adapter.db.ledger import claim_row
from adapter.db.login_states import PendingLogin
from adapter.errors import BadRequest, NotFound, NotVerified
from adapter.saml.identity import identity_from_assertion
from adapter.saml.service_provider import ServiceProvider, VerifiedAssertion
from adapter.services import login_facts
from adapter.services.landing import Landing
from adapter.services.login_protocol import ContinueAt, Landed, Started
from adapter.services.login_steps import LoginSteps, admitted_channel
from adapter.services.runtime import Runtime

REPLAY_NAMESPACE = "saml-assertion"
FINISH_TTL_SECONDS = 120
MIN_REPLAY_TTL_SECONDS = 300


class SamlLogin:
    def __init__(self, runtime: Runtime, steps: LoginSteps, landing: Landing):
        self._rt = runtime
        self._steps = steps
        self._landing = landing

    def finish_url(self, store_slug: str, connection_slug: str, token: str) -> str:
        return (
            f"{self._rt.settings.public_url}/sso/{store_slug}/{connection_slug}"
            f"/saml/finish?token={token}"
        )

    async def _saml(
        self, store_slug: str, connection_slug: str
    ) -> tuple[StoreRecord, ConnectionRecord]:
        store, connection = await self._steps.load(store_slug, connection_slug)
        if connection.protocol != "saml":
            raise NotFound("not a SAML connection", code="unknown_connection")
        return store, connection

    async def metadata(self, store_slug: str, connection_slug: str) -> str:
        # Serving metadata is no step of a login: the request's facts stay as they were.
        store, connection = await self._steps.find(store_slug, connection_slug)
        if connection.protocol != "saml":
            raise NotFound("not a SAML connection", code="unknown_connection")
        provider: ServiceProvider = await self._steps.saml_provider(store, connection)
        return provider.metadata()

    async def start(
        self, store: StoreRecord, connection: ConnectionRecord, *, login_hint: str | None
    ) -> Started:
        provider: ServiceProvider = await self._steps.saml_provider(store, connection)
        state = secrets.token_urlsafe(32)
        # RelayState is the state itself: it names this login and nothing else.
        request_id, url = provider.authn_request(relay_state=state)
        return Started(state=state, url=url, flight=SamlAuthnRequest(request_id=request_id))

    async def _verify(
        self,
        store: StoreRecord,
        connection: ConnectionRecord,
        saml_response: str,
        request_id: str | None,
    ) -> VerifiedAssertion:
        provider: ServiceProvider = await self._steps.saml_provider(store, connection)
        try:
            return provider.verify(saml_response, request_id)
        except NotVerified as exc:
            if exc.code != "saml_response_invalid" or "signature" not in exc.detail:
                raise
        # The IdP may have rolled its signing key: refresh its metadata (rate-limited), retry.
        provider = await self._rt.saml.get(
            connection, public_url=self._rt.settings.public_url, store_slug=store.slug, refresh=True
        )
        return provider.verify(saml_response, request_id)

    def _assertion_claim(self, connection_id: int, assertion: VerifiedAssertion) -> ClaimRow:
        """The assertion's entry in the replay ledger. Remembered until its last window
        closes, so it is refused for as long as it is otherwise acceptable. An assertion
        without an end could never be forgotten safely: the profile check already refuses
        it; this one keeps the ledger from guessing."""
        if assertion.not_on_or_after is None:
            raise NotVerified("saml: assertion without NotOnOrAfter", code="saml_response_invalid")
        remaining = assertion.not_on_or_after.timestamp() - self._rt.clock.now()
        ttl = max(float(MIN_REPLAY_TTL_SECONDS), remaining + self._rt.settings.clock_skew_seconds)
        return claim_row(
            self._rt.box,
            self._rt.clock,
            REPLAY_NAMESPACE,
            f"{connection_id}:{assertion.assertion_id}",
            ttl_seconds=ttl,
        )

    async def acs(
        self,
        store_slug: str,
        connection_slug: str,
        form: Mapping[str, str],
        *,
        request_ip: str | None,
    ) -> ContinueAt | Landed:
        """Verify the IdP's response. A login this adapter started continues at its finish
        step; an IdP-initiated one (where allowed) has no browser to bind and lands at once."""
        store, connection = await self._saml(store_slug, connection_slug)
        body = connection.settings
        assert isinstance(body, SamlPolicy)
        saml_response = form.get("SAMLResponse")
        if not saml_response:
            raise BadRequest("ACS without SAMLResponse", code="saml_malformed")
        relay_state = form.get("RelayState") or ""
        pending = None
        if relay_state and len(relay_state) <= 512:
            pending = await self._steps.login_states().consume(
                state=relay_state, browser_id=None, any_browser=True
            )
        if pending is not None and (
            pending.store_id != store.id or pending.connection_id != connection.id
        ):
            raise BadRequest(
                "login state belongs to another connection", code="login_state_invalid"
            )
        if pending is None and not body.allow_idp_initiated:
            raise BadRequest(
                "no outstanding request for this response (IdP-initiated login is off)",
                code="login_state_invalid",
            )
        # Only a state that sent an AuthnRequest names the ID the response must answer; any
        # other is checked as a response to no request of ours.
        request_id = (
            pending.flight.request_id
            if pending is not None and isinstance(pending.flight, SamlAuthnRequest)
            else None
        )
        assertion = await self._verify(store, connection, saml_response, request_id)
        claim = self._assertion_claim(connection.id, assertion)
        identity = identity_from_assertion(assertion, body)
        login_facts.note(subject=identity.subject, email=identity.email)
        if pending is None:
            if not await self._rt.login_store.claim(claim):
                raise NotVerified("saml: assertion replayed", code="saml_replay")
            # IdP-initiated: the store's default channel and the default page.
            channel = admitted_channel(store, connection, store.default_channel_id)
            login_facts.note(channel_id=channel.channel_id)
            return await self._landing.land(
                store,
                connection,
                channel,
                identity,
                redirect_to="/account.php",
                link=None,
                request_ip=request_ip,
            )
        token = secrets.token_urlsafe(32)
        # The assertion's claim and the identity parked for the finish: one statement, so a
        # replay is refused and a first use parked, never half of either.
        parked = await self._steps.login_states().save_if_claimed(
            claim,
            state=token,
            login=PendingLogin(
                store_id=store.id,
                connection_id=connection.id,
                channel_id=pending.channel_id,
                redirect_to=pending.redirect_to,
                # A link started with a Current Customer JWT carries on to the finish.
                flight=SamlAsserted(identity=identity, link=pending.flight.link),
                browser_hash=pending.browser_hash,  # bound to the browser that started it
            ),
            ttl_seconds=FINISH_TTL_SECONDS,
        )
        if not parked:
            raise NotVerified("saml: assertion replayed", code="saml_replay")
        return ContinueAt(self.finish_url(store_slug, connection_slug, token))

    async def finish(
        self,
        store_slug: str,
        connection_slug: str,
        params: Mapping[str, str | None],
        *,
        browser_id: str | None,
        request_ip: str | None,
    ) -> Landed:
        """The finish step: `params` holds the one-time `token` the ACS sent the browser on
        with."""
        store, connection = await self._saml(store_slug, connection_slug)
        token = params.get("token")
        if not token or len(token) > 512:
            raise BadRequest("finish without token", code="state_missing")
        pending, channel = await self._steps.take_in_flight(
            token, browser_id, store, connection, what="SAML login", expecting=SamlAsserted
        )
        flight = pending.flight
        assert isinstance(flight, SamlAsserted)
        return await self._landing.land(
            store,
            connection,
            channel,
            flight.identity,
            redirect_to=pending.redirect_to,
            link=flight.link,
            request_ip=request_ip,
        )
