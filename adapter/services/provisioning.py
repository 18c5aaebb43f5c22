"""What a SCIM change does at BigCommerce: a provisioned person gets their customer, link,
customer group and B2B place at once; a deprovisioned one is cut off as the connection's
`on_deactivate` says; a reactivated one gets back what can be given back.

Every step is safe to repeat: a SCIM request whose BigCommerce part failed answers an error,
the IdP sends it again, and the repeat finishes what the first attempt began. The block on
logins is written (by `scim_directory`) before any of this runs, so it never waits for
BigCommerce.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, update

from adapter.bigcommerce.storefront import default_graphql_url, end_customer_session
from adapter.core.b2b import Role
from adapter.core.customer_profile import customer_group
from adapter.core.deprovisioning import deactivation_change, reactivation_fields
from adapter.core.identity import Identity
from adapter.core.policy import OidcPolicy, ProvisioningPolicy
from adapter.core.records import ConnectionRecord, StoreRecord
from adapter.db.audit import AuditLog, AuditRecord
from adapter.db.exchange_codes import issued_token_context
from adapter.db.models import BlockedSubject, Link
from adapter.db.scim_directory import ScimDirectory
from adapter.errors import NotAdmitted
from adapter.logging import get_logger
from adapter.services.b2b_membership import B2bMembership, B2bPlan
from adapter.services.resolution import IdentityResolver
from adapter.services.runtime import Runtime

log = get_logger("adapter.provisioning")


@dataclass(frozen=True)
class Person:
    """A provisioned user as the effects see them."""

    subject: str
    email: str | None
    first_name: str | None
    last_name: str | None
    # The names and external ids of the user's SCIM groups (an IdP's group claim may carry
    # either: Okta sends names, Entra ID object ids).
    groups: tuple[str, ...] = ()


def provisioning_policy(connection: ConnectionRecord) -> ProvisioningPolicy:
    return connection.settings.scim or ProvisioningPolicy()


def identity_of(person: Person, connection: ConnectionRecord) -> Identity:
    settings = connection.settings
    issuer = settings.issuer if isinstance(settings, OidcPolicy) else "scim"
    # A SCIM e-mail is the directory's word: trusted exactly as far as the connection's
    # `email_verified` vouches for its IdP, as for SAML.
    return Identity(
        issuer=issuer,
        subject=person.subject,
        email=person.email,
        email_verified=False,
        first_name=person.first_name,
        last_name=person.last_name,
        groups=person.groups,
    )


class Provisioning:
    def __init__(self, runtime: Runtime):
        self._rt = runtime
        self._resolver = IdentityResolver(runtime)
        self._b2b = B2bMembership(runtime)

    def _audit(
        self,
        store: StoreRecord,
        connection: ConnectionRecord,
        actor: str,
        kind: str,
        *,
        subject: str | None = None,
        customer_id: int | None = None,
        outcome: str = "success",
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditRecord:
        return AuditRecord(
            kind=kind,
            outcome=outcome,
            store_slug=store.slug,
            connection_slug=connection.slug,
            actor=actor,
            subject=subject,
            customer_id=customer_id,
            reason=reason,
            details=details or {},
        )

    async def _record(self, *events: AuditRecord) -> None:
        async with self._rt.sessions.begin() as session:
            log_ = AuditLog(session, self._rt.clock)
            for event in events:
                log_.record(event)

    async def _record_refusal(
        self,
        store: StoreRecord,
        connection: ConnectionRecord,
        actor: str,
        kind: str,
        person: Person,
        refused: NotAdmitted,
        customer_id: int | None = None,
    ) -> None:
        """A rule that refused a provisioning step: an event, not an error (the login that
        follows meets the same rule and says so to the person)."""
        await self._record(
            self._audit(
                store,
                connection,
                actor,
                kind,
                subject=person.subject,
                customer_id=customer_id,
                outcome="refused",
                reason=refused.code,
                details={"detail": refused.detail},
            )
        )

    # -- provisioning ------------------------------------------------------------------------

    async def provision(
        self, store: StoreRecord, connection: ConnectionRecord, person: Person, actor: str
    ) -> int | None:
        """The person's customer, found or created by the rules of a first login, and linked;
        None when those rules refuse (recorded, not an error: the login will say the same)."""
        identity = identity_of(person, connection)
        plan = await self._b2b_plan(store, connection, identity, person, actor)
        channel_id = connection.settings.channel_ids[0]
        try:
            resolution = await self._resolver.resolve(store, connection, identity, channel_id)
        except NotAdmitted as refused:
            await self._record_refusal(
                store, connection, actor, "scim.user.provisioned", person, refused
            )
            return None
        if resolution.how != "link":
            await self._record(
                self._audit(
                    store,
                    connection,
                    actor,
                    "scim.user.provisioned",
                    subject=person.subject,
                    customer_id=resolution.customer_id,
                    reason=resolution.how,
                    details={"channel_id": channel_id},
                )
            )
        await self.apply_groups(
            store,
            connection,
            person,
            resolution.customer_id,
            actor,
            plan=plan,
            group_set=resolution.how == "created",
        )
        return resolution.customer_id

    async def _b2b_plan(
        self,
        store: StoreRecord,
        connection: ConnectionRecord,
        identity: Identity,
        person: Person,
        actor: str,
    ) -> B2bPlan | None:
        if not B2bMembership.applies(store, connection):
            return None
        try:
            return await self._b2b.plan(store, connection, identity)
        except NotAdmitted as refused:
            await self._record_refusal(
                store, connection, actor, "scim.b2b_skipped", person, refused
            )
            return None

    async def apply_groups(
        self,
        store: StoreRecord,
        connection: ConnectionRecord,
        person: Person,
        customer_id: int,
        actor: str,
        *,
        plan: B2bPlan | None = None,
        group_set: bool = False,
    ) -> None:
        """The customer group (and B2B role) the person's groups give, written now.
        `group_set`: the customer was just created with it."""
        identity = identity_of(person, connection)
        group = customer_group(identity, connection.settings)
        if group is not None and not group_set:
            await self._rt.customers_api(store).update(customer_id, {"customer_group_id": group})
        if not B2bMembership.applies(store, connection):
            return
        if plan is None:
            plan = await self._b2b_plan(store, connection, identity, person, actor)
        if plan is None:
            return
        try:
            await self._b2b.join(
                store,
                connection,
                connection.settings.channel_ids[0],
                identity,
                plan,
                customer_id,
                write_role=True,
            )
        except NotAdmitted as refused:
            await self._record_refusal(
                store, connection, actor, "scim.b2b_skipped", person, refused, customer_id
            )

    # -- deprovisioning ----------------------------------------------------------------------

    async def deactivate(
        self, store: StoreRecord, connection: ConnectionRecord, subject: str, actor: str
    ) -> None:
        """Carry out the connection's `on_deactivate` actions for a blocked subject, unless an
        earlier attempt finished them."""
        async with self._rt.sessions() as session:
            block = await ScimDirectory(session, self._rt.clock).blocked(connection.id, subject)
            if block is None or block.settled:
                return
            customer_id, undo = block.customer_id, dict(block.undo)
        policy = provisioning_policy(connection)
        done: dict[str, Any] = {"actions": list(policy.on_deactivate)}
        if customer_id is not None:
            done["sessions_ended"] = await self._end_sessions(store, customer_id)
            customer = await self._rt.customers_api(store).get(customer_id)
            if customer is None:
                done["customer_missing"] = True
            else:
                await self._act_on_customer(
                    store, connection, policy, subject, customer_id, customer, undo, done
                )
        async with self._rt.sessions.begin() as session:
            await session.execute(
                update(BlockedSubject)
                .where(
                    BlockedSubject.connection_id == connection.id,
                    BlockedSubject.subject == subject,
                )
                .values(settled=True)
            )
            if "delete_customer" in policy.on_deactivate and customer_id is not None:
                # The customer is gone: a reactivated person starts afresh.
                await session.execute(
                    delete(Link).where(
                        Link.connection_id == connection.id, Link.customer_id == customer_id
                    )
                )
            AuditLog(session, self._rt.clock).record(
                self._audit(
                    store,
                    connection,
                    actor,
                    "scim.user.deprovisioned",
                    subject=subject,
                    customer_id=customer_id,
                    details=done,
                )
            )

    async def _act_on_customer(
        self,
        store: StoreRecord,
        connection: ConnectionRecord,
        policy: ProvisioningPolicy,
        subject: str,
        customer_id: int,
        customer: Any,
        undo: dict[str, Any],
        done: dict[str, Any],
    ) -> None:
        customers = self._rt.customers_api(store)
        change = deactivation_change(
            policy,
            customer_group_id=customer.customer_group_id,
            channel_ids=customer.channel_ids,
            store_channels=[c.channel_id for c in store.channels],
            connection_channels=connection.settings.channel_ids,
            undo=undo,
        )
        remembered = dict(change.undo)
        b2b_user = None
        if "b2b_deactivate" in policy.on_deactivate and store.b2b is not None:
            b2b_user = await self._rt.b2b_api(store).user_of_customer(customer_id)
            if b2b_user is not None:
                remembered.setdefault(
                    "b2b",
                    {
                        "company_id": b2b_user.company_id,
                        "role": b2b_user.role.role,
                        "company_role_id": b2b_user.role.company_role_id,
                    },
                )
        if remembered != undo:
            # Written before anything changes, so that a retry restores the values from
            # before the first attempt, not the ones it left.
            await self._remember_undo(connection.id, subject, remembered)
        if change.fields:
            await customers.update(customer_id, change.fields)
            done["customer"] = change.fields
        if change.kept_channel:
            done["channel_kept"] = change.fields.get("channel_ids")
        if b2b_user is not None:
            removed = await self._rt.b2b_api(store).delete_user(b2b_user.user_id)
            done["b2b_user_removed"] = removed
        if "delete_customer" in policy.on_deactivate:
            await customers.delete(customer_id)
            done["customer_deleted"] = True

    async def _remember_undo(self, connection_id: int, subject: str, undo: dict[str, Any]) -> None:
        async with self._rt.sessions.begin() as session:
            await session.execute(
                update(BlockedSubject)
                .where(
                    BlockedSubject.connection_id == connection_id,
                    BlockedSubject.subject == subject,
                )
                .values(undo=undo)
            )

    async def _end_sessions(self, store: StoreRecord, customer_id: int) -> int:
        """End the customer access tokens the adapter handed to headless storefronts."""
        async with self._rt.sessions() as session:
            issued = await ScimDirectory(session, self._rt.clock).issued_tokens(
                store.id, customer_id
            )
            tokens = [
                (
                    t.id,
                    t.channel_id,
                    self._rt.box.open(
                        t.token_sealed, context=issued_token_context(store.id, customer_id)
                    ),
                )
                for t in issued
            ]
        ended = 0
        for token_id, channel_id, token in tokens:
            channel = store.channel(channel_id)
            if channel is not None and channel.storefront_token:
                ended += await end_customer_session(
                    self._rt.bigcommerce_http,
                    graphql_url=channel.graphql_url
                    or default_graphql_url(store.store_hash, channel_id),
                    storefront_token=channel.storefront_token,
                    customer_access_token=token,
                )
            async with self._rt.sessions.begin() as session:
                await ScimDirectory(session, self._rt.clock).forget_token(token_id)
        return ended

    # -- reactivation ------------------------------------------------------------------------

    async def reactivate(
        self, store: StoreRecord, connection: ConnectionRecord, subject: str, actor: str
    ) -> bool:
        """Put back what the deactivation changed, then lift the block. Whether there was a
        block to lift."""
        async with self._rt.sessions() as session:
            block = await ScimDirectory(session, self._rt.clock).blocked(connection.id, subject)
            if block is None:
                return False
            customer_id, undo = block.customer_id, dict(block.undo)
        restored: dict[str, Any] = {}
        if customer_id is not None and undo:
            customer = await self._rt.customers_api(store).get(customer_id)
            if customer is not None:
                fields = reactivation_fields(undo)
                if fields:
                    await self._rt.customers_api(store).update(customer_id, fields)
                    restored["customer"] = fields
                if "b2b" in undo and store.b2b is not None:
                    restored["b2b_user"] = await self._restore_b2b_user(
                        store, connection, customer, undo["b2b"]
                    )
        async with self._rt.sessions.begin() as session:
            directory = ScimDirectory(session, self._rt.clock)
            block = await directory.blocked(connection.id, subject)
            if block is not None:
                await directory.unblock(block)
            AuditLog(session, self._rt.clock).record(
                self._audit(
                    store,
                    connection,
                    actor,
                    "scim.user.reactivated",
                    subject=subject,
                    customer_id=customer_id,
                    details=restored,
                )
            )
        return True

    async def _restore_b2b_user(
        self, store: StoreRecord, connection: ConnectionRecord, customer: Any, was: dict[str, Any]
    ) -> bool:
        api = self._rt.b2b_api(store)
        if await api.user_of_customer(customer.id) is not None:
            return False
        await api.create_user(
            company_id=int(was["company_id"]),
            role=Role(role=int(was["role"]), company_role_id=was.get("company_role_id")),
            channel_id=connection.settings.channel_ids[0],
            email=customer.email,
            first_name=customer.first_name or "-",
            last_name=customer.last_name or "-",
        )
        return True
