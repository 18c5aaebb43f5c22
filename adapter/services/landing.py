"""The end of every login, whatever the protocol: a verified identity becomes a customer
(resolved, or the link a shopper asked for), who may use the channel, and is signed in there:
by a Customer Login JWT in the browser, or, for a headless storefront, by a one-time code its
backend trades for the customer access token."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from adapter.bigcommerce.storefront import default_graphql_url, login_with_customer_login_jwt
from adapter.core.customer_profile import customer_group, customer_names, email_is_verified
from adapter.core.emails import UnmatchableEmail, mailbox_key, same_mailbox
from adapter.core.identity import Identity
from adapter.core.login_jwt import CustomerLogin, mint_customer_login_jwt
from adapter.core.login_state import LinkInProgress
from adapter.core.records import ChannelRecord, ConnectionRecord, StoreRecord
from adapter.db.audit import AuditRecord, audit_columns
from adapter.db.exchange_codes import ExchangeCodes
from adapter.errors import NotAdmitted, UpstreamFailed
from adapter.services import login_facts
from adapter.services.b2b_membership import B2bMembership
from adapter.services.channel_access import ChannelAccess
from adapter.services.login_protocol import Landed
from adapter.services.resolution import IdentityResolver, Resolution
from adapter.services.runtime import Runtime


def _may_write_email(idp_email: str | None, customer_email: str) -> bool:
    """Whether profile sync writes the IdP's e-mail over the customer's.

    Not when both name the same mailbox (a change of letter case is no change), and never an
    address `core.emails` will not compare: a look-alike of someone else's address must not
    become this customer's, as it may not when the customer is created."""
    if idp_email is None:
        return False
    try:
        mailbox_key(idp_email)
    except UnmatchableEmail:
        return False
    return not same_mailbox(idp_email, customer_email)


def _storefront_login_url(channel: ChannelRecord, token: str) -> str:
    path = "/login/token/"
    if channel.kind == "headless":
        path = channel.login_token_path or "/login/token/"
    return f"{channel.storefront_url}{path}{token}"


class Landing:
    def __init__(self, runtime: Runtime):
        self._rt = runtime
        self._resolver = IdentityResolver(runtime)
        self._access = ChannelAccess(runtime)
        self._b2b = B2bMembership(runtime)

    async def land(
        self,
        store: StoreRecord,
        connection: ConnectionRecord,
        channel: ChannelRecord,
        identity: Identity,
        *,
        redirect_to: str,
        link: LinkInProgress | None,
        request_ip: str | None,
    ) -> Landed:
        login_facts.note(subject=identity.subject, email=identity.email)
        # B2B first: a person whose company is unknown is refused before anything is written.
        b2b_plan = await self._b2b.plan(store, connection, identity)
        if link is not None:
            # Channel access first: a refused link must write nothing.
            await self._access.ensure(store, connection, channel, link.customer_id)
            resolution = await self._resolver.link_current_customer(
                store, connection, identity, link.customer_id, link.email
            )
        else:
            resolution = await self._resolver.resolve(
                store,
                connection,
                identity,
                channel.channel_id,
                reference=login_facts.current().reference,
            )
        login_facts.note(customer_id=resolution.customer_id)
        if resolution.how == "link" and connection.settings.profile_sync == "every_login":
            await self._sync_profile(store, connection, identity, resolution)
        await self._access.ensure(
            store,
            connection,
            channel,
            resolution.customer_id,
            just_created=resolution.how == "created",
        )
        if b2b_plan is not None:
            await self._b2b.join(
                store, connection, channel.channel_id, identity, b2b_plan, resolution.customer_id
            )

        server_side = channel.delivery == "access_token"
        token = mint_customer_login_jwt(
            CustomerLogin(
                store_hash=store.store_hash,
                customer_id=resolution.customer_id,
                channel_id=channel.channel_id,
                redirect_to=redirect_to,
                # The adapter itself presents a server-side JWT: no browser address to bind.
                request_ip=request_ip if store.bind_request_ip and not server_side else None,
            ),
            client_id=store.client_id,
            client_secret=store.client_secret,
            clock=self._rt.clock,
        )
        access = None
        if server_side:
            access = await login_with_customer_login_jwt(
                self._rt.bigcommerce_http,
                graphql_url=channel.graphql_url
                or default_graphql_url(store.store_hash, channel.channel_id),
                storefront_token=channel.storefront_token or "",
                jwt=token,
            )
            if access.customer_id != resolution.customer_id:
                raise UpstreamFailed(
                    "GraphQL logged in another customer than the JWT named", code="graphql_error"
                )
        code = None
        b2b_token = None
        if access is not None and b2b_plan is not None:
            b2b_token = await self._rt.b2b_api(store).storefront_token(
                customer_id=resolution.customer_id,
                channel_id=channel.channel_id,
                access_token=access.value,
                expires_at=access.expires_at,
            )
        if access is not None:
            async with self._rt.sessions.begin() as session:
                codes = ExchangeCodes(session, self._rt.box, self._rt.clock)
                codes.remember_access_token(
                    store_id=store.id,
                    channel_id=channel.channel_id,
                    customer_id=resolution.customer_id,
                    token=access.value,
                    expires_at=access.expires_at,
                )
                code = await codes.issue(
                    store_id=store.id,
                    channel_id=channel.channel_id,
                    customer_id=resolution.customer_id,
                    email=access.email,  # BigCommerce's address for the customer
                    access_token=access.value,
                    access_token_expires_at=access.expires_at,
                    b2b_token=b2b_token,
                )
        # The login and its audit event: one statement (one transaction on SQLite). Only then
        # is the shopper sent on, so no login goes unrecorded.
        now = datetime.fromtimestamp(self._rt.clock.now(), UTC)
        event = AuditRecord(
            kind="login",
            outcome="success",
            store_slug=store.slug,
            connection_slug=connection.slug,
            reason=resolution.how,
            subject=identity.subject,
            customer_id=resolution.customer_id,
            email=identity.email,
            details={"protocol": connection.protocol, "channel_id": channel.channel_id},
        )
        await self._rt.login_store.record_login(
            resolution.link_id, identity.email, now, audit_columns(event, now)
        )
        if code is not None:
            assert channel.return_url is not None
            separator = "&" if "?" in channel.return_url else "?"
            return Landed(f"{channel.return_url}{separator}{urlencode({'code': code})}")
        return Landed(_storefront_login_url(channel, token))

    async def _sync_profile(
        self,
        store: StoreRecord,
        connection: ConnectionRecord,
        identity: Identity,
        resolution: Resolution,
    ) -> None:
        customers = self._rt.customers_api(store)
        current = await customers.get(resolution.customer_id)
        if current is None:
            raise NotAdmitted("linked customer no longer exists", code="customer_missing")
        first, last = customer_names(identity)
        wanted: dict[str, Any] = {"first_name": first, "last_name": last}
        if email_is_verified(identity, connection.settings) and _may_write_email(
            identity.email, current.email
        ):
            wanted["email"] = identity.email
        group = customer_group(identity, connection.settings)
        if group is not None:
            wanted["customer_group_id"] = group
        have = {
            "first_name": current.first_name,
            "last_name": current.last_name,
            "email": current.email,
            "customer_group_id": current.customer_group_id,
        }
        changes = {k: v for k, v in wanted.items() if have.get(k) != v}
        if changes:
            await customers.update(resolution.customer_id, changes)
