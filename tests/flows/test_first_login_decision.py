"""The dry-run test login and the login itself reach the same outcome, in every case.

Each case is set up in the BigCommerce emulator and the database, asked of the dry run
(AdminService.test_login, which must write nothing), then carried out by the login
(Landing.land, what the OIDC and SAML legs call once the IdP's answer is verified). Every
case has its own subject and e-mail, so the cases share a world without meeting.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr

from adapter.db.intents import IntentRepository
from adapter.db.links import LinkRepository
from adapter.db.models import AuditEvent, CreationIntent, Link
from adapter.errors import AdapterError
from adapter.oidc.relying_party import identity_from_claims
from adapter.schemas import TestLoginRequest as DryRunRequest
from adapter.services import login_facts
from adapter.services.admin import AdminService
from adapter.services.landing import Landing
from adapter.services.login_steps import LoginSteps, admitted_channel, oidc_client_settings
from adapter.services.runtime import Runtime
from adapter.settings import Settings
from tests.support.world import ADMIN_TOKEN, SECRET_KEY, STORE, STORE_HASH, World

# What the dry run calls each way the login can resolve a subject (`Resolution.how`).
ACTION_OF_HOW = {
    "link": "use_link",
    "email": "link_by_email",
    "created": "create_customer",
    "adopted": "adopt_customer",
}
# Channel 2 is closed to global logins; every other case signs in to channel 1.
CLOSED_CHANNEL = 2
CHANNEL_CASES = ("member", "elsewhere", "addable", "global_open", "global_closed")
CONCURRENT_CASES = 8
EMAIL_CASES = ("verified", "unverified", "missing", "non_ascii")


@dataclass(frozen=True)
class Case:
    linked: bool
    link_by_email: bool
    create_customers: bool
    email: str
    matches: int
    linked_elsewhere: bool
    channel: str

    def connection(self) -> str:
        add = "add" if self.channel == "addable" else "keep"
        return f"c-{int(self.link_by_email)}{int(self.create_customers)}-{add}"

    def channel_id(self) -> int:
        return CLOSED_CHANNEL if self.channel == "global_closed" else 1

    def customer_channels(self) -> list[int] | None:
        if self.channel == "member":
            return [self.channel_id()]
        if self.channel in ("elsewhere", "addable"):
            return [3 - self.channel_id()]
        return None


@dataclass
class Observed:
    code: str  # the refusal's code, or the action taken
    customer_id: int | None
    channel_added: bool = False


def _connections(world: World) -> None:
    for link, create, add in itertools.product((False, True), (False, True), (False, True)):
        world.put_connection(
            f"c-{int(link)}{int(create)}-{'add' if add else 'keep'}",
            channel_ids=[1, 2],
            link_by_email=link,
            create_customers=create,
            add_channel_to_customer=add,
        )
    world.shop_store.global_logins[CLOSED_CHANNEL] = False


class Harness:
    """The adapter's services, as a second replica beside the world's adapter would run."""

    def __init__(self, world: World):
        self.world = world
        self.runtime = Runtime.build(
            Settings(
                database_url=world.database_url,
                public_url=world.public_url,
                secret_key=SecretStr(SECRET_KEY),
                admin_token=SecretStr(ADMIN_TOKEN),
                allow_insecure_loopback=True,
            )
        )
        self.admin = AdminService(self.runtime)
        self.steps = LoginSteps(self.runtime)
        self.landing = Landing(self.runtime)

    async def link(self, connection: str, subject: str, customer_id: int) -> None:
        _, record = await self.steps.find(STORE, connection)
        async with self.runtime.sessions.begin() as session:
            await LinkRepository(session, self.runtime.clock).create(
                store_id=record.store_id,
                connection_id=record.id,
                subject=subject,
                customer_id=customer_id,
                email=None,
            )

    async def intend(self, connection: str, subject: str, email: str, at: datetime) -> None:
        _, record = await self.steps.find(STORE, connection)
        async with self.runtime.sessions.begin() as session:
            intents = IntentRepository(session, self.runtime.clock)
            intents.record(
                store_id=record.store_id, connection_id=record.id, subject=subject, email=email
            )
        # Backdate it: the repository stamps its own clock's time.
        async with self.runtime.sessions.begin() as session:
            await session.execute(
                sa.update(CreationIntent)
                .where(CreationIntent.subject == subject)
                .values(created_at=at)
            )

    async def dry_run(self, connection: str, claims: dict[str, Any], channel_id: int) -> Observed:
        answer = await self.admin.test_login(
            STORE, connection, DryRunRequest(claims=claims, channel_id=channel_id)
        )
        if answer.outcome == "refused":
            assert answer.reason is not None
            return Observed(answer.reason, answer.customer_id)
        return Observed(answer.action, answer.customer_id, answer.channel_access == "add_channel")

    async def real_login(
        self,
        connection: str,
        claims: dict[str, Any],
        channel_id: int,
        channels_before: dict[int, list[int] | None],
    ) -> Observed:
        with login_facts.facts_of_request(store_slug=STORE, connection_slug=connection):
            store, record = await self.steps.load(STORE, connection)
            channel = admitted_channel(store, record, channel_id)
            identity = identity_from_claims(claims, oidc_client_settings(record))
            try:
                await self.landing.land(
                    store,
                    record,
                    channel,
                    identity,
                    redirect_to="/account.php",
                    link=None,
                    request_ip=None,
                )
            except AdapterError as exc:
                # The customer chosen before the refusal, if any (the failure's audit event
                # has it).
                return Observed(exc.code, login_facts.current().customer_id)
            customer_id = login_facts.current().customer_id
        assert customer_id is not None
        how = self._how(identity.subject)
        before = channels_before.get(customer_id)
        after = self.world.customers[customer_id]["channel_ids"]
        added = (
            how != "created" and channel_id not in (before or []) and channel_id in (after or [])
        )
        # A created customer has no id before the login: the dry run cannot name it.
        return Observed(ACTION_OF_HOW[how], None if how == "created" else customer_id, added)

    def _how(self, subject: str) -> str:
        """How the login resolved the subject: its `login` event's reason."""
        query = sa.select(AuditEvent.reason).where(
            AuditEvent.kind == "login",
            AuditEvent.outcome == "success",
            AuditEvent.subject == subject,
        )
        with self.world.engine.connect() as conn:
            return str(conn.execute(query).scalar_one())

    def links(self, subject: str) -> int:
        query = sa.select(sa.func.count()).select_from(Link).where(Link.subject == subject)
        with self.world.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    async def close(self) -> None:
        await self.runtime.close()


def _claims(number: int, email_case: str) -> tuple[dict[str, Any], str]:
    """The IdP's claims for a case, and the address its matching customers hold."""
    address = f"kperson{number}@example.com"
    claims: dict[str, Any] = {"iss": "https://idp.example", "sub": f"subject-{number}"}
    if email_case == "verified":
        claims |= {"email": address, "email_verified": True}
    elif email_case == "unverified":
        claims |= {"email": address, "email_verified": False}
    elif email_case == "non_ascii":
        # The Kelvin sign: a look-alike of the customers' "k" that Unicode folding merges.
        claims |= {"email": "\u212a" + address[1:], "email_verified": True}
    return claims, address


def _run(world: World, work: Callable[[Harness], Awaitable[None]]) -> None:
    async def main() -> None:
        harness = Harness(world)
        try:
            await work(harness)
        finally:
            await harness.close()

    asyncio.run(main())


ALL_CASES = [
    Case(*values)
    for values in itertools.product(
        (False, True),  # the subject is linked already
        (False, True),  # link_by_email
        (False, True),  # create_customers
        EMAIL_CASES,
        (0, 1, 2),  # customers holding the e-mail
        (False, True),  # those customers are linked to other subjects
        CHANNEL_CASES,
    )
]


def test_dry_run_answers_as_the_login_does_in_every_combination(world: World) -> None:
    _connections(world)
    differences: list[str] = []

    async def one(harness: Harness, number: int, case: Case) -> None:
        claims, address = _claims(number, case.email)
        connection = case.connection()
        channels: dict[int, list[int] | None] = {}
        for i in range(case.matches):
            # A second spelling of the same mailbox: BigCommerce holds both.
            spelled = address if i == 0 else address.upper()
            made = world.shop.add_customer(
                STORE_HASH, spelled, channel_ids=case.customer_channels()
            )
            channels[made["id"]] = case.customer_channels()
            if case.linked_elsewhere:
                await harness.link(connection, f"other-{number}-{i}", made["id"])
        if case.linked:
            mine = world.shop.add_customer(
                STORE_HASH, f"linked{number}@example.com", channel_ids=case.customer_channels()
            )
            channels[mine["id"]] = case.customer_channels()
            await harness.link(connection, claims["sub"], mine["id"])
        links_before = harness.links(claims["sub"])

        dry = await harness.dry_run(connection, claims, case.channel_id())
        assert harness.links(claims["sub"]) == links_before, f"the dry run wrote a link: {case}"
        real = await harness.real_login(connection, claims, case.channel_id(), channels)
        if dry != real:
            differences.append(f"{case}: dry run {dry}, login {real}")

    async def work(harness: Harness) -> None:
        # The cases share nothing, so a few run at once: the suite's time limit is per test.
        lanes = asyncio.Semaphore(CONCURRENT_CASES)

        async def lane(number: int, case: Case) -> None:
            async with lanes:
                await one(harness, number, case)

        await asyncio.gather(*(lane(n, c) for n, c in enumerate(ALL_CASES)))

    _run(world, work)
    assert differences == [], "\n".join(differences[:20])


INTENT_CASES = list(
    itertools.product(
        (False, True),  # link_by_email
        (False, True),  # create_customers
        ("verified", "unverified"),
        ("none", "before_customer", "after_customer"),  # the subject's open creation intent
        (False, True),  # the customer is linked to another subject
    )
)


def test_dry_run_answers_as_the_login_does_after_an_unanswered_creation(world: World) -> None:
    """A customer holding the e-mail, made after (or before) an earlier attempt of this
    subject recorded its intent to create one: adopted, or someone else's."""
    _connections(world)
    differences: list[str] = []
    now = datetime.now(UTC)

    async def work(harness: Harness) -> None:
        for number, (link, create, email, intent, elsewhere) in enumerate(INTENT_CASES):
            case = Case(False, link, create, email, 1, elsewhere, "member")
            claims, address = _claims(1000 + number, email)
            connection = case.connection()
            made = world.shop.add_customer(
                STORE_HASH,
                address,
                channel_ids=[1],
                date_created=(now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
            if elsewhere:
                await harness.link(connection, f"other-{number}", made["id"])
            if intent != "none":
                shift = -timedelta(minutes=10) if intent == "before_customer" else timedelta(0)
                await harness.intend(connection, claims["sub"], address, now + shift)

            dry = await harness.dry_run(connection, claims, 1)
            real = await harness.real_login(connection, claims, 1, {made["id"]: [1]})
            if dry != real:
                differences.append(f"{case} intent {intent}: dry run {dry}, login {real}")
            if not link and create and email == "verified" and intent == "before_customer":
                expected = "customer_linked_elsewhere" if elsewhere else "adopt_customer"
                assert real.code == expected

    _run(world, work)
    assert differences == [], "\n".join(differences[:20])


def test_dry_run_names_the_channel_the_login_would_add_and_adds_nothing(world: World) -> None:
    _connections(world)
    customer = world.shop.add_customer(STORE_HASH, "outlet@example.com", channel_ids=[2])

    async def work(harness: Harness) -> None:
        claims = {"iss": "https://idp.example", "sub": "subject-outlet"}
        await harness.link("c-00-add", "subject-outlet", customer["id"])
        answer = await harness.admin.test_login(
            STORE, "c-00-add", DryRunRequest(claims=claims, channel_id=1)
        )
        assert answer.action == "use_link" and answer.channel_access == "add_channel"
        assert world.customers[customer["id"]]["channel_ids"] == [2]
        real = await harness.real_login("c-00-add", claims, 1, {customer["id"]: [2]})
        assert real == Observed("use_link", customer["id"], channel_added=True)

    _run(world, work)


def test_dry_run_of_a_subject_whose_customer_is_gone_refuses_as_the_login_does(
    world: World,
) -> None:
    _connections(world)
    customer = world.shop.add_customer(STORE_HASH, "gone@example.com", channel_ids=[1])

    async def work(harness: Harness) -> None:
        claims = {"iss": "https://idp.example", "sub": "subject-gone"}
        await harness.link("c-11-keep", "subject-gone", customer["id"])
        del world.customers[customer["id"]]
        dry = await harness.dry_run("c-11-keep", claims, 1)
        real = await harness.real_login("c-11-keep", claims, 1, {})
        assert dry == real == Observed("customer_missing", customer["id"])

    _run(world, work)
