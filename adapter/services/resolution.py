"""Identity resolution: from a verified subject to a BigCommerce customer id.

Existing link -> that customer. Otherwise, at most one request per subject at a time (a claim
in the shared ledger) decides: link an existing customer by verified e-mail where the
connection allows it, or create the customer, or refuse. No database transaction is held open
across a BigCommerce call.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapter.bigcommerce.customers import Customer, CustomersApi, EmailInUse, NewCustomer
from adapter.core.customer_profile import customer_group, customer_names, email_is_verified
from adapter.core.emails import UnmatchableEmail, mailbox_key
from adapter.core.identity import Identity
from adapter.core.records import ConnectionRecord, StoreRecord
from adapter.db.audit import AuditLog, AuditRecord
from adapter.db.ledger import Ledger
from adapter.db.links import LinkExists, LinkRepository
from adapter.errors import NotAdmitted, UpstreamFailed
from adapter.services.runtime import Runtime

FIRST_LOGIN_NAMESPACE = "first-login"
# A first login holds its claim at most this long; a crashed holder's claim lapses after it.
# Longer than the worst case of its BigCommerce calls (timeouts, retries, 429 waits).
CLAIM_TTL_SECONDS = 180.0
# How long a concurrent first login waits for the holder to finish before giving up.
CLAIM_WAIT_SECONDS = 20.0
CLAIM_POLL_SECONDS = 0.05
_UNUSABLE_EMAIL = (
    "Your company account's e-mail address cannot be used for a store account here: it may "
    "only contain plain letters, digits and punctuation. Please contact the store."
)


@dataclass(frozen=True)
class Resolution:
    customer_id: int
    link_id: int
    how: str  # "link", "email", "created"


class IdentityResolver:
    def __init__(self, runtime: Runtime):
        self._rt = runtime

    async def _find_link(self, connection: ConnectionRecord, subject: str) -> Resolution | None:
        async with self._rt.sessions() as session:
            link = await LinkRepository(session, self._rt.clock).find(connection.id, subject)
            return None if link is None else Resolution(link.customer_id, link.id, "link")

    async def resolve(
        self, store: StoreRecord, connection: ConnectionRecord, identity: Identity, channel_id: int
    ) -> Resolution:
        found = await self._find_link(connection, identity.subject)
        if found:
            return found
        claim = f"{connection.id}:{identity.subject}"
        deadline = self._rt.clock.now() + CLAIM_WAIT_SECONDS
        while True:
            async with self._rt.sessions.begin() as session:
                held = await Ledger(session, self._rt.box, self._rt.clock).claim(
                    FIRST_LOGIN_NAMESPACE, claim, ttl_seconds=CLAIM_TTL_SECONDS
                )
            if held is not None:
                try:
                    return await self._first_login(store, connection, identity, channel_id)
                finally:
                    async with self._rt.sessions.begin() as session:
                        await Ledger(session, self._rt.box, self._rt.clock).release(held)
            # Another request is completing this subject's first login: wait for its link.
            await self._rt.sleep(CLAIM_POLL_SECONDS)
            found = await self._find_link(connection, identity.subject)
            if found:
                return found
            if self._rt.clock.now() > deadline:
                raise UpstreamFailed("first login of this subject is busy", code="login_busy")

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
        self, store: StoreRecord, connection: ConnectionRecord, identity: Identity, channel_id: int
    ) -> Resolution:
        found = await self._find_link(connection, identity.subject)
        if found:  # the previous holder finished between our look-up and our claim
            return found
        settings = connection.settings
        if not identity.email:
            raise NotAdmitted("the IdP sent no e-mail for a first login", code="email_missing")
        try:
            mailbox_key(identity.email)
        except UnmatchableEmail as exc:
            # Neither linked nor created. Linking would compare it with customers' addresses,
            # which no rule does safely for non-ASCII text (core.emails). Creating would put a
            # look-alike of someone's address into BigCommerce, whose own uniqueness check and
            # look-ups by typed address (password reset) may take it for that person's, or
            # refuse that person's own address later.
            raise NotAdmitted(
                f"the IdP's e-mail {exc}", code=exc.code, public_message=_UNUSABLE_EMAIL
            ) from None
        verified = email_is_verified(identity, settings)
        customers = self._rt.customers_api(store)
        may_link_by_email = settings.link_by_email and verified
        customer: Customer | None = None
        how = "created"
        if may_link_by_email:
            customer = await self._customer_by_email(customers, identity.email)
            how = "email"
        if customer is None:
            if not settings.create_customers:
                raise NotAdmitted(
                    "no linked customer and customer creation is off", code="no_customer"
                )
            if not verified:
                # A customer made with an unverified address could be claimed later by the
                # address's real owner (password reset) while the IdP user keeps access.
                raise NotAdmitted(
                    "the IdP did not assert a verified e-mail",
                    code="email_unverified",
                    public_message=(
                        "Your company account's e-mail address is not verified, so no store "
                        "account can be created for it. Please contact the store."
                    ),
                )
            first, last = customer_names(identity)
            try:
                customer = await customers.create(
                    NewCustomer(
                        email=identity.email,
                        first_name=first,
                        last_name=last,
                        channel_id=channel_id,
                        customer_group_id=customer_group(identity, settings),
                    )
                )
            except EmailInUse:
                # Someone registered this e-mail first (by hand, or a racing login of
                # another subject). Only a verified e-mail under link_by_email may take it.
                if not may_link_by_email:
                    raise NotAdmitted(
                        "a customer with this e-mail exists and may not be linked by e-mail",
                        code="email_in_use",
                        public_message=(
                            "An account with your e-mail address already exists in this store. "
                            "Please ask the store to link it to your company sign-in."
                        ),
                    ) from None
                customer, how = await self._customer_by_email(customers, identity.email), "email"
                if customer is None:
                    raise UpstreamFailed(
                        "BigCommerce said the e-mail is taken but finds no customer",
                        code="bigcommerce_error",
                    ) from None
            else:
                how = "created"
                await self._record_creation(store, connection, identity, customer)
        return await self._save_link(store, connection, identity, customer, how)

    @staticmethod
    async def _customer_by_email(customers: CustomersApi, email: str) -> Customer | None:
        matches = await customers.find_by_email(email)
        if len(matches) > 1:
            raise NotAdmitted("several customers share this e-mail", code="email_ambiguous")
        return matches[0] if matches else None

    async def _save_link(
        self,
        store: StoreRecord,
        connection: ConnectionRecord,
        identity: Identity,
        customer: Customer,
        how: str,
    ) -> Resolution:
        try:
            async with self._rt.sessions.begin() as session:
                links = LinkRepository(session, self._rt.clock)
                audit = AuditLog(session, self._rt.clock)
                if how == "email":
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
            found = await self._find_link(connection, identity.subject)
            if found is not None:
                return found
            # Not our subject: the customer was linked to another subject at the same moment.
            raise NotAdmitted(
                "the customer is linked to another subject of this connection",
                code="customer_linked_elsewhere",
            ) from None

    async def _record_creation(
        self,
        store: StoreRecord,
        connection: ConnectionRecord,
        identity: Identity,
        customer: Customer,
    ) -> None:
        # Its own transaction, at once: the customer exists in BigCommerce whatever happens
        # to the link, and the audit trail must say so.
        async with self._rt.sessions.begin() as session:
            AuditLog(session, self._rt.clock).record(
                AuditRecord(
                    kind="customer.created",
                    outcome="success",
                    store_slug=store.slug,
                    connection_slug=connection.slug,
                    subject=identity.subject,
                    customer_id=customer.id,
                    email=identity.email,
                )
            )
