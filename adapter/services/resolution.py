"""Identity resolution: from a verified subject to a BigCommerce customer id.

Existing link -> that customer. Otherwise, at most one request per subject at a time (a claim
in the shared ledger) decides: link an existing customer by verified e-mail where the
connection allows it, or create the customer, or refuse. The decision itself is
core.first_login's, from the facts gathered here; this module gathers them and carries the
decision out. No database transaction is held open across a BigCommerce call.

A creation is recorded (a creation intent, and its audit event) before BigCommerce is asked
for it, and the link is written with its `customer.created` event in one transaction. When
BigCommerce made the customer but its answer never arrived, the subject's next first login
meets "e-mail in use" and adopts the customer if BigCommerce created it at or after the
subject's open intent; a customer with that e-mail from before the intent is someone else's.

The claim is a short lease, extended to cover the create call just before it is made: a
holder that fails gives its claim back at once; one that dies (or cannot reach the database
to give it back) holds it only until the lease runs out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from adapter.bigcommerce.customers import Customer, EmailInUse, NewCustomer
from adapter.core.customer_profile import customer_group, customer_names
from adapter.core.first_login import (
    Adopt,
    Candidate,
    Create,
    CustomerFields,
    Decision,
    FirstLoginPolicy,
    LinkByEmail,
    Refuse,
    after_email_in_use,
    email_refusal,
    first_login,
    link_by_email,
    may_link_by_email,
)
from adapter.core.identity import Identity
from adapter.core.records import ConnectionRecord, StoreRecord
from adapter.db.audit import AuditLog, AuditRecord
from adapter.db.intents import IntentRepository
from adapter.db.ledger import Claim, Ledger
from adapter.db.links import LinkExists, LinkRepository
from adapter.db.unavailable import database_unavailable
from adapter.errors import NotAdmitted, Unavailable, UpstreamFailed
from adapter.logging import get_logger
from adapter.services.runtime import Runtime

log = get_logger("adapter.resolution")

FIRST_LOGIN_NAMESPACE = "first-login"
# The claim's first lease: the look-ups before a creation (a link, a customer by e-mail) fit
# in it. If it runs out while they are still waiting, nothing was written at BigCommerce
# yet, and the extension below notices the claim is gone.
CLAIM_LEASE_SECONDS = 30.0
# Added to the create call's worst case (timeout plus rate-limit waits) when the claim is
# extended for it: the link write after it, and clocks that differ between replicas.
CLAIM_MARGIN_SECONDS = 10.0
# How long a concurrent first login waits for the holder to finish before giving up.
CLAIM_WAIT_SECONDS = 20.0
CLAIM_POLL_SECONDS = 0.05
# The shopper is told to come back after this long when the subject's first login is busy.
BUSY_RETRY_AFTER_SECONDS = 5


# How a login found its customer: an existing link, a verified e-mail, a customer it created,
# one an earlier unanswered creation left behind, or the storefront's signed-in shopper.
ResolvedBy = Literal["link", "email", "created", "adopted", "current_customer"]


@dataclass(frozen=True)
class Resolution:
    customer_id: int
    link_id: int
    how: ResolvedBy


def first_login_policy(connection: ConnectionRecord) -> FirstLoginPolicy:
    settings = connection.settings
    return FirstLoginPolicy(
        link_by_email=settings.link_by_email,
        create_customers=settings.create_customers,
        email_verified=settings.email_verified,
        add_channel_to_customer=settings.add_channel_to_customer,
    )


def new_customer_fields(
    identity: Identity, connection: ConnectionRecord, channel_id: int
) -> CustomerFields | None:
    """The fields a first login would create the customer with; None without an e-mail."""
    if not identity.email:
        return None
    first, last = customer_names(identity)
    return CustomerFields(
        email=identity.email,
        first_name=first,
        last_name=last,
        channel_id=channel_id,
        customer_group_id=customer_group(identity, connection.settings),
    )


def candidate(customer: Customer, linked_elsewhere: bool) -> Candidate:
    return Candidate(
        id=customer.id,
        channel_ids=customer.channel_ids,
        date_created=customer.date_created,
        linked_elsewhere=linked_elsewhere,
    )


def deprovisioned() -> NotAdmitted:
    return NotAdmitted(
        "the IdP deprovisioned this subject",
        code="deprovisioned",
        public_message=(
            "Your company account no longer has access to this store. "
            "Please ask your administrator if you think this is a mistake."
        ),
    )


def refusal_error(refused: Refuse) -> NotAdmitted:
    """The decision's refusal as the error the web layer renders."""
    return NotAdmitted(refused.message, code=refused.code, public_message=refused.public_message)


@dataclass
class _Holder:
    """The claim a first login holds, as it is extended."""

    claim: Claim


class IdentityResolver:
    def __init__(self, runtime: Runtime):
        self._rt = runtime
        # Claims this process could not give back (the database was gone): retried first
        # thing at the next first login, so they need not wait for their lapse.
        self._unreleased: list[Claim] = []

    async def _find_link(self, connection: ConnectionRecord, subject: str) -> Resolution | None:
        """The subject's link; refused if the IdP deprovisioned the subject (SCIM)."""
        found = await self._rt.login_store.find_link(connection.id, subject)
        if found.blocked:
            raise deprovisioned()
        link = found.link
        return None if link is None else Resolution(link.customer_id, link.link_id, "link")

    async def resolve(
        self,
        store: StoreRecord,
        connection: ConnectionRecord,
        identity: Identity,
        channel_id: int,
        *,
        reference: str | None = None,
    ) -> Resolution:
        found = await self._find_link(connection, identity.subject)
        if found:
            return found
        await self._release_leftovers()
        claim = f"{connection.id}:{identity.subject}"
        deadline = self._rt.clock.now() + CLAIM_WAIT_SECONDS
        while True:
            async with self._rt.sessions.begin() as session:
                held = await Ledger(session, self._rt.box, self._rt.clock).claim(
                    FIRST_LOGIN_NAMESPACE, claim, ttl_seconds=CLAIM_LEASE_SECONDS
                )
            if held is not None:
                holder = _Holder(held)
                try:
                    return await self._first_login(store, connection, identity, channel_id, holder)
                finally:
                    # Whatever the outcome, it stands: _release never raises.
                    await self._release(holder.claim, reference)
            # Another request is completing this subject's first login: wait for its link.
            await self._rt.sleep(CLAIM_POLL_SECONDS)
            found = await self._find_link(connection, identity.subject)
            if found:
                return found
            if self._rt.clock.now() > deadline:
                raise Unavailable(
                    "first login of this subject is busy",
                    code="login_busy",
                    public_message=(
                        "Your first sign-in to this store is still being set up. "
                        "Please try again in a few seconds."
                    ),
                    retry_after=BUSY_RETRY_AFTER_SECONDS,
                )

    async def _release(self, claim: Claim, reference: str | None) -> None:
        """Give the claim back. A failure here must not replace the login's outcome: it is
        logged, the claim is kept to be given back by this replica's next first login, and
        meanwhile it lapses at its expiry."""
        try:
            async with self._rt.sessions.begin() as session:
                await Ledger(session, self._rt.box, self._rt.clock).release(claim)
        except Exception as exc:
            self._unreleased.append(claim)
            log.warning(
                "claim_release_failed",
                reference=reference,
                error=type(exc).__name__,
                lapses_at=claim.expires_at.isoformat(),
                exc_info=database_unavailable(exc) is None,
            )

    async def _release_leftovers(self) -> None:
        now = datetime.fromtimestamp(self._rt.clock.now(), UTC)
        leftovers, self._unreleased = self._unreleased, []
        for claim in leftovers:
            if claim.expires_at > now:
                await self._release(claim, None)

    async def link_current_customer(
        self,
        store: StoreRecord,
        connection: ConnectionRecord,
        identity: Identity,
        customer_id: int,
        storefront_email: str | None,
    ) -> Resolution:
        """Link the subject to the customer the storefront vouched for, or refuse with
        nothing written."""
        if (await self._rt.login_store.find_link(connection.id, identity.subject)).blocked:
            raise deprovisioned()
        async with self._rt.sessions.begin() as session:
            links = LinkRepository(session, self._rt.clock)
            existing = await links.find(connection.id, identity.subject)
            if existing is not None:
                if existing.customer_id == customer_id:
                    return Resolution(customer_id, existing.id, "link")
                raise NotAdmitted(
                    f"subject is linked to customer {existing.customer_id} already",
                    code="subject_linked_elsewhere",
                    public_message=(
                        "This company account is already linked to another store account."
                    ),
                )
            other = await links.find_for_customer(connection.id, customer_id)
            if other is not None:
                raise NotAdmitted(
                    "the customer is linked to another subject of this connection",
                    code="customer_linked_elsewhere",
                    public_message=(
                        "Your store account is already linked to another company account."
                    ),
                )
            try:
                link = await links.create(
                    store_id=store.id,
                    connection_id=connection.id,
                    subject=identity.subject,
                    customer_id=customer_id,
                    email=identity.email,
                )
            except LinkExists:
                raise NotAdmitted("linked concurrently", code="customer_linked_elsewhere") from None
            AuditLog(session, self._rt.clock).record(
                AuditRecord(
                    kind="link.created",
                    outcome="success",
                    store_slug=store.slug,
                    connection_slug=connection.slug,
                    reason="by_current_customer",
                    subject=identity.subject,
                    customer_id=customer_id,
                    email=identity.email,
                    details={"storefront_email": storefront_email, "idp_email": identity.email},
                )
            )
            return Resolution(customer_id, link.id, "current_customer")

    async def _first_login(
        self,
        store: StoreRecord,
        connection: ConnectionRecord,
        identity: Identity,
        channel_id: int,
        holder: _Holder,
    ) -> Resolution:
        found = await self._find_link(connection, identity.subject)
        if found:  # the previous holder finished between our look-up and our claim
            return found
        policy = first_login_policy(connection)
        customers = self._rt.customers_api(store)
        known: dict[int, Customer] = {}
        matches: list[Candidate] = []
        usable = email_refusal(identity) is None
        if usable and may_link_by_email(identity, policy):
            assert identity.email is not None
            matches = await self._candidates(
                connection, await customers.find_by_email(identity.email), known
            )
        # Only an earlier attempt's intent may vouch for a customer: the one this attempt may
        # be about to record is younger than any customer its create call could meet.
        earlier = None
        if usable:
            earlier = await self._oldest_open_intent(connection, identity)
        decision = first_login(
            identity,
            policy,
            link_customer_id=None,
            matches=matches,
            new_customer=new_customer_fields(identity, connection, channel_id),
            adoption_since=earlier,
        )
        if not isinstance(decision, Create):
            return await self._carry_out(store, connection, identity, decision, known)
        await self._record_intent(store, connection, identity, holder)
        fields = decision.fields
        try:
            customer = await customers.create(
                NewCustomer(
                    email=fields.email,
                    first_name=fields.first_name,
                    last_name=fields.last_name,
                    channel_id=fields.channel_id,
                    customer_group_id=fields.customer_group_id,
                )
            )
        except EmailInUse as in_use:
            taken = in_use.customer
        else:
            return await self._save_link(
                store, connection, identity, customer, "created", created="created"
            )
        # The e-mail is in use: by someone else, or by the customer an earlier attempt of
        # this subject created without hearing the answer.
        [candidate_taken] = await self._candidates(connection, [taken], known)
        after: Adopt | LinkByEmail | Refuse | None = after_email_in_use(
            identity, policy, candidate_taken, earlier
        )
        if after is None:
            assert identity.email is not None
            found_now = await customers.find_by_email(identity.email)
            after = link_by_email(await self._candidates(connection, found_now, known))
        if after is None:
            raise UpstreamFailed(
                "BigCommerce said the e-mail is taken but finds no customer",
                code="bigcommerce_error",
            )
        return await self._carry_out(store, connection, identity, after, known)

    async def _candidates(
        self, connection: ConnectionRecord, found: list[Customer], known: dict[int, Customer]
    ) -> list[Candidate]:
        """The customers as the decision sees them; `known` keeps them by id."""
        known.update((c.id, c) for c in found)
        async with self._rt.sessions() as session:
            links = LinkRepository(session, self._rt.clock)
            return [
                candidate(c, await links.find_for_customer(connection.id, c.id) is not None)
                for c in found
            ]

    async def _carry_out(
        self,
        store: StoreRecord,
        connection: ConnectionRecord,
        identity: Identity,
        decision: Decision,
        known: dict[int, Customer],
    ) -> Resolution:
        if isinstance(decision, LinkByEmail):
            customer = known[decision.customer.id]
            return await self._save_link(store, connection, identity, customer, "email")
        if isinstance(decision, Adopt):
            customer = known[decision.customer.id]
            return await self._save_link(
                store, connection, identity, customer, "adopted", created="adopted"
            )
        assert isinstance(decision, Refuse), decision
        raise refusal_error(decision)

    async def _record_intent(
        self,
        store: StoreRecord,
        connection: ConnectionRecord,
        identity: Identity,
        holder: _Holder,
    ) -> None:
        """Before BigCommerce is asked to create the customer: the intent and its audit event,
        committed, and the claim extended to cover the create call. No intent, no call."""
        assert identity.email is not None
        settings = self._rt.settings
        budget = (
            settings.http_timeout_seconds
            + settings.rate_limit_max_wait_seconds
            + CLAIM_MARGIN_SECONDS
        )
        async with self._rt.sessions.begin() as session:
            extended = await Ledger(session, self._rt.box, self._rt.clock).extend(
                holder.claim, ttl_seconds=budget
            )
            if extended is None:
                # Our lease ran out during the look-ups and another login took over.
                raise Unavailable(
                    "first-login claim lapsed before the creation",
                    code="login_busy",
                    retry_after=BUSY_RETRY_AFTER_SECONDS,
                )
            IntentRepository(session, self._rt.clock).record(
                store_id=store.id,
                connection_id=connection.id,
                subject=identity.subject,
                email=identity.email,
            )
            AuditLog(session, self._rt.clock).record(
                AuditRecord(
                    kind="customer.create_intent",
                    outcome="recorded",
                    store_slug=store.slug,
                    connection_slug=connection.slug,
                    subject=identity.subject,
                    email=identity.email,
                )
            )
        holder.claim = extended

    async def _oldest_open_intent(
        self, connection: ConnectionRecord, identity: Identity
    ) -> datetime | None:
        assert identity.email is not None
        async with self._rt.sessions() as session:
            return await IntentRepository(session, self._rt.clock).oldest_open(
                connection.id, identity.subject, identity.email
            )

    async def _save_link(
        self,
        store: StoreRecord,
        connection: ConnectionRecord,
        identity: Identity,
        customer: Customer,
        how: ResolvedBy,
        *,
        created: Literal["created", "adopted"] | None = None,
    ) -> Resolution:
        """The link, and its audit events, in one transaction. `created` ("created" or
        "adopted") says the adapter made this customer: its `customer.created` event goes in
        the same transaction, and the subject's creation intents are settled."""
        try:
            async with self._rt.sessions.begin() as session:
                links = LinkRepository(session, self._rt.clock)
                audit = AuditLog(session, self._rt.clock)
                if how in ("email", "adopted"):
                    other = await links.find_for_customer(connection.id, customer.id)
                    if other is not None:
                        raise NotAdmitted(
                            "the customer with this e-mail is linked to another subject",
                            code="customer_linked_elsewhere",
                        )
                link = await links.create(
                    store_id=store.id,
                    connection_id=connection.id,
                    subject=identity.subject,
                    customer_id=customer.id,
                    email=identity.email,
                )
                if created is not None:
                    audit.record(
                        self._creation_event(store, connection, identity, customer, created)
                    )
                    await IntentRepository(session, self._rt.clock).close(
                        connection.id, identity.subject
                    )
                audit.record(
                    AuditRecord(
                        kind="link.created",
                        outcome="success",
                        store_slug=store.slug,
                        connection_slug=connection.slug,
                        reason=f"by_{how}",
                        subject=identity.subject,
                        customer_id=customer.id,
                        email=identity.email,
                    )
                )
                return Resolution(customer.id, link.id, how)
        except LinkExists:
            if created is not None:
                # The customer exists at BigCommerce whatever became of our link: say so.
                async with self._rt.sessions.begin() as session:
                    AuditLog(session, self._rt.clock).record(
                        self._creation_event(store, connection, identity, customer, created)
                    )
            found = await self._find_link(connection, identity.subject)
            if found is not None:
                return found
            # Not our subject: the customer was linked to another subject at the same moment.
            raise NotAdmitted(
                "the customer is linked to another subject of this connection",
                code="customer_linked_elsewhere",
            ) from None

    @staticmethod
    def _creation_event(
        store: StoreRecord,
        connection: ConnectionRecord,
        identity: Identity,
        customer: Customer,
        how: str,
    ) -> AuditRecord:
        return AuditRecord(
            kind="customer.created",
            outcome="success",
            store_slug=store.slug,
            connection_slug=connection.slug,
            reason=how,
            subject=identity.subject,
            customer_id=customer.id,
            email=identity.email,
            details=(
                {"date_created": customer.date_created.isoformat()}
                if customer.date_created is not None
                else {}
            ),
        )
