"""A person signing in through a connection with a `b2b` section lands as a user of the right
B2B Edition company, with the right role.

Two steps around the customer's resolution:

- `plan`, before anything is written: the company key, its company (mapped, remembered from
  an earlier creation, or to be created when the connection allows it) and the role. A key
  without a company is refused here (403 `b2b_company_unknown`), so a refused login leaves no
  customer, link or company behind.
- `join`, once the customer is known: made a user of that company with that role on the
  channel if it is none yet; a changed role written back under `profile_sync: every_login`;
  a user of another company refused (403 `b2b_company_mismatch`), never moved.

A company is created at most once per key, whichever replica gets there first: a claim in the
shared ledger serialises the creation; the others wait for the company it remembers. A
creation whose answer was lost is found again by name on the retry. B2B Edition creates a
company together with its first user, its admin: the person who caused it, who then gets
their role like everyone after them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from adapter.bigcommerce.b2b import B2bEditionApi, EmailTaken
from adapter.core.b2b import NoCompanyKey, Role, chosen_role, company_key, mapped_company
from adapter.core.identity import Identity
from adapter.core.policy import B2bPolicy
from adapter.core.records import ConnectionRecord, StoreRecord
from adapter.db.audit import AuditLog, AuditRecord
from adapter.db.b2b_companies import B2bCompanies
from adapter.db.ledger import Claim, Ledger
from adapter.errors import NotAdmitted, Unavailable, UpstreamFailed
from adapter.services.runtime import Runtime

COMPANY_NAMESPACE = "b2b_company"
# Long enough for a company creation under B2B Edition's rate limit.
COMPANY_CLAIM_SECONDS = 60.0
COMPANY_WAIT_SECONDS = 10.0
COMPANY_POLL_SECONDS = 0.1
UNKNOWN_COMPANY_MESSAGE = "Your company is not set up for sign-in to this store."
MISMATCH_MESSAGE = "Your account belongs to another company on this store."


@dataclass(frozen=True)
class B2bPlan:
    key: str
    # None: to be created (the connection allows it).
    company_id: int | None
    role: Role


def _unknown(detail: str) -> NotAdmitted:
    return NotAdmitted(detail, code="b2b_company_unknown", public_message=UNKNOWN_COMPANY_MESSAGE)


def _mismatch(detail: str) -> NotAdmitted:
    return NotAdmitted(detail, code="b2b_company_mismatch", public_message=MISMATCH_MESSAGE)


def _event(
    store: StoreRecord,
    connection: ConnectionRecord,
    identity: Identity,
    customer_id: int,
    kind: str,
    details: dict[str, object],
) -> AuditRecord:
    return AuditRecord(
        kind=kind,
        outcome="success",
        store_slug=store.slug,
        connection_slug=connection.slug,
        subject=identity.subject,
        customer_id=customer_id,
        details=dict(details),
    )


class B2bMembership:
    def __init__(self, runtime: Runtime):
        self._rt = runtime

    @staticmethod
    def applies(store: StoreRecord, connection: ConnectionRecord) -> bool:
        return store.b2b is not None and connection.settings.b2b is not None

    async def plan(
        self, store: StoreRecord, connection: ConnectionRecord, identity: Identity
    ) -> B2bPlan | None:
        """The company and role this person is to get; None where B2B does not apply."""
        b2b = connection.settings.b2b
        if store.b2b is None or b2b is None:
            return None
        try:
            key = company_key(identity, connection.settings, b2b)
        except NoCompanyKey as exc:
            raise _unknown(f"b2b: {exc}") from None
        company_id = mapped_company(b2b, key)
        if company_id is None:
            company_id = await self._remembered(connection.id, key)
        if company_id is None and not b2b.create_companies:
            raise _unknown("b2b: no company for this company key")
        return B2bPlan(key=key, company_id=company_id, role=chosen_role(identity, b2b))

    async def join(
        self,
        store: StoreRecord,
        connection: ConnectionRecord,
        channel_id: int,
        identity: Identity,
        plan: B2bPlan,
        customer_id: int,
        *,
        write_role: bool = False,
    ) -> None:
        """Make the customer a user of the plan's company. `write_role`: write a changed role
        back whatever `profile_sync` says (a SCIM group change)."""
        b2b = connection.settings.b2b
        assert b2b is not None
        api = self._rt.b2b_api(store)
        user = await api.user_of_customer(customer_id)
        if user is not None:
            company_id = plan.company_id
            if company_id is None:
                # Not remembered: either no company has the key yet (so theirs is another),
                # or a creation's answer was lost after B2B Edition made it with them in it.
                company_id = await api.company_named(plan.key)
                if company_id is not None and company_id == user.company_id:
                    await self._remember(
                        store,
                        connection,
                        identity,
                        plan,
                        customer_id,
                        company_id,
                        "b2b.company_adopted",
                    )
            if company_id is None or user.company_id != company_id:
                raise _mismatch("b2b: a user of another company")
            rewrite = write_role or connection.settings.profile_sync == "every_login"
            if rewrite and user.role != plan.role:
                await api.set_role(user.user_id, plan.role)
                await self._audit(
                    store,
                    connection,
                    identity,
                    customer_id,
                    "b2b.role_changed",
                    {"company_id": company_id, "from": user.role.label, "to": plan.role.label},
                )
            return
        customer = await self._rt.customers_api(store).get(customer_id)
        if customer is None:
            raise NotAdmitted("linked customer no longer exists", code="customer_missing")
        if plan.company_id is None:
            company_id, created = await self._company_once(
                store,
                connection,
                identity,
                plan,
                b2b,
                api,
                customer_id,
                customer.email,
                channel_id,
            )
            if created:
                # Its first user, made with it: the admin. Now the role the rules give.
                await self._settle_admin_role(store, connection, identity, plan, api, customer_id)
                return
        else:
            company_id = plan.company_id
        try:
            await api.create_user(
                company_id=company_id,
                role=plan.role,
                channel_id=channel_id,
                email=customer.email,
                first_name=customer.first_name or "-",
                last_name=customer.last_name or "-",
            )
        except EmailTaken:
            raise _mismatch("b2b: the e-mail is a user of another company") from None
        made = await api.user_of_customer(customer_id)
        if made is None or made.company_id != company_id:
            raise UpstreamFailed(
                "B2B Edition made another customer the user", code="bigcommerce_error"
            )
        await self._audit(
            store,
            connection,
            identity,
            customer_id,
            "b2b.user_created",
            {"company_id": company_id, "role": plan.role.label, "channel_id": channel_id},
        )

    async def _settle_admin_role(
        self,
        store: StoreRecord,
        connection: ConnectionRecord,
        identity: Identity,
        plan: B2bPlan,
        api: B2bEditionApi,
        customer_id: int,
    ) -> None:
        user = await api.user_of_customer(customer_id)
        if user is None:
            raise UpstreamFailed("B2B Edition lost a company's admin", code="bigcommerce_error")
        if user.role != plan.role:
            await api.set_role(user.user_id, plan.role)
            await self._audit(
                store,
                connection,
                identity,
                customer_id,
                "b2b.role_changed",
                {"company_id": user.company_id, "from": user.role.label, "to": plan.role.label},
            )

    async def _company_once(
        self,
        store: StoreRecord,
        connection: ConnectionRecord,
        identity: Identity,
        plan: B2bPlan,
        b2b: B2bPolicy,
        api: B2bEditionApi,
        customer_id: int,
        email: str,
        channel_id: int,
    ) -> tuple[int, bool]:
        """The key's company, and whether this call created it."""
        claim_value = f"{connection.id}:{plan.key.casefold()}"
        deadline = self._rt.clock.now() + COMPANY_WAIT_SECONDS
        while True:
            async with self._rt.sessions.begin() as session:
                held = await Ledger(session, self._rt.box, self._rt.clock).claim(
                    COMPANY_NAMESPACE, claim_value, ttl_seconds=COMPANY_CLAIM_SECONDS
                )
            if held is not None:
                try:
                    return await self._create_or_adopt(
                        store,
                        connection,
                        identity,
                        plan,
                        b2b,
                        api,
                        customer_id,
                        email,
                        channel_id,
                    )
                finally:
                    await self._release(held)
            await self._rt.sleep(COMPANY_POLL_SECONDS)
            found = await self._remembered(connection.id, plan.key)
            if found is not None:
                return found, False
            if self._rt.clock.now() > deadline:
                raise Unavailable(
                    "the company of this key is being created",
                    code="login_busy",
                    retry_after=2,
                )

    async def _create_or_adopt(
        self,
        store: StoreRecord,
        connection: ConnectionRecord,
        identity: Identity,
        plan: B2bPlan,
        b2b: B2bPolicy,
        api: B2bEditionApi,
        customer_id: int,
        email: str,
        channel_id: int,
    ) -> tuple[int, bool]:
        found = await self._remembered(connection.id, plan.key)
        if found is not None:
            return found, False
        # A creation whose answer was lost left the company behind: adopt it.
        adopted = await api.company_named(plan.key)
        created = adopted is None
        if adopted is None:
            made = await api.create_company(
                name=plan.key,
                admin_email=email,
                admin_first_name=identity.first_name or "-",
                admin_last_name=identity.last_name or "-",
                customer_group_id=b2b.company_customer_group_id,
                channel_id=channel_id,
            )
            if made.customer_id != customer_id:
                raise UpstreamFailed(
                    "B2B Edition made another customer the company's admin",
                    code="bigcommerce_error",
                )
            company_id = made.company_id
        else:
            company_id = adopted
        kind = "b2b.company_created" if created else "b2b.company_adopted"
        await self._remember(store, connection, identity, plan, customer_id, company_id, kind)
        return company_id, created

    async def _remember(
        self,
        store: StoreRecord,
        connection: ConnectionRecord,
        identity: Identity,
        plan: B2bPlan,
        customer_id: int,
        company_id: int,
        kind: str,
    ) -> None:
        """The key's company from now on, with its audit event; already remembered (another
        login adopted it meanwhile) is as good."""
        try:
            async with self._rt.sessions.begin() as session:
                B2bCompanies(session, self._rt.clock).remember(connection.id, plan.key, company_id)
                AuditLog(session, self._rt.clock).record(
                    _event(
                        store,
                        connection,
                        identity,
                        customer_id,
                        kind,
                        {"company_id": company_id, "company_key": plan.key},
                    )
                )
        except IntegrityError:
            return

    async def _remembered(self, connection_id: int, key: str) -> int | None:
        """The company the adapter created (or adopted) for this key, if any."""
        async with self._rt.sessions() as session:
            return await B2bCompanies(session, self._rt.clock).company_for(connection_id, key)

    async def _release(self, claim: Claim) -> None:
        async with self._rt.sessions.begin() as session:
            await Ledger(session, self._rt.box, self._rt.clock).release(claim)

    async def _audit(
        self,
        store: StoreRecord,
        connection: ConnectionRecord,
        identity: Identity,
        customer_id: int,
        kind: str,
        details: dict[str, object],
    ) -> None:
        async with self._rt.sessions.begin() as session:
            AuditLog(session, self._rt.clock).record(
                _event(store, connection, identity, customer_id, kind, details)
            )
