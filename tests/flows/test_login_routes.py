"""The /sso routes as the web layer sees them: what a SAML ACS outcome is decides the answer,
and the facts one request learnt about its login are gone when the next one starts.

The adapter runs in process here (an ASGI transport runs every request in the test's own
task, as no server would): anything a request left in the context would show in the next."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
import pytest
import structlog

from adapter.errors import NotAdmitted
from adapter.services import login_facts
from adapter.services.login_facts import LoginFacts
from adapter.services.login_protocol import ContinueAt, Landed
from adapter.services.runtime import Runtime
from adapter.web.app import create_app
from tests.support.world import World

ACS = "/sso/acme/entra/saml/acs"
ELSEWHERE = "https://elsewhere.example/somewhere"


class ScriptedSaml:
    """Stands in for the SAML login: each ACS call runs the next step of a script."""

    def __init__(self, *steps: Callable[[], Awaitable[ContinueAt | Landed]]):
        self._steps = list(steps)
        self.seen: list[LoginFacts] = []  # the facts each call found on arrival

    async def acs(
        self, store_slug: str, connection_slug: str, form: Mapping[str, str], **_: Any
    ) -> ContinueAt | Landed:
        self.seen.append(login_facts.current())
        return await self._steps.pop(0)()


def _post_to_acs(world: World, saml: ScriptedSaml, times: int) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        assert world.runtime is not None
        # A runtime of this event loop's own, on the same database as the world's adapter.
        runtime = Runtime.build(world.runtime.settings, clock=world.clock)
        app = create_app(runtime)
        app.state.saml_login = saml
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url=world.public_url) as client:
                return [
                    await client.post(ACS, data={"SAMLResponse": "x", "RelayState": "r"})
                    for _ in range(times)
                ]
        finally:
            await runtime.close()

    return asyncio.run(run())


def _returning(outcome: ContinueAt | Landed) -> Callable[[], Awaitable[ContinueAt | Landed]]:
    async def step() -> ContinueAt | Landed:
        return outcome

    return step


def test_an_acs_outcome_to_continue_is_a_303_to_its_url_wherever_that_is(world: World) -> None:
    # Even a URL outside the adapter: the outcome's type decides, not the URL's look.
    [answer] = _post_to_acs(world, ScriptedSaml(_returning(ContinueAt(ELSEWHERE))), 1)
    assert answer.status_code == 303
    assert answer.headers["location"] == ELSEWHERE
    assert answer.headers["cache-control"] == "no-store"
    assert world.events(kind="login") == []


def test_an_acs_outcome_that_landed_is_a_finished_login_wherever_it_goes(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # Even a URL of the adapter's own: a landed login is answered as one.
    own = f"{world.public_url}/sso/acme/entra/saml/finish?token=t"
    [answer] = _post_to_acs(world, ScriptedSaml(_returning(Landed(own))), 1)
    assert answer.status_code == 302
    assert answer.headers["location"] == own
    assert answer.headers["referrer-policy"] == "no-referrer"
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    assert [line["event"] for line in lines if line.get("event") == "login_succeeded"] == [
        "login_succeeded"
    ]


def test_the_facts_of_one_request_are_gone_when_the_next_one_starts(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    async def learns_and_lands() -> ContinueAt | Landed:
        login_facts.note(
            store_known=True,
            protocol="saml",
            subject="ada-1",
            email="ada@example.com",
            customer_id=41,
            channel_id=1,
        )
        return Landed(ELSEWHERE)

    async def learns_and_is_refused() -> ContinueAt | Landed:
        login_facts.note(subject="grace-2", customer_id=42)
        raise NotAdmitted("refused", code="no_customer")

    async def refused_at_once() -> ContinueAt | Landed:
        raise NotAdmitted("refused", code="no_customer")

    saml = ScriptedSaml(learns_and_lands, learns_and_is_refused, refused_at_once)
    answers = _post_to_acs(world, saml, 3)
    assert [a.status_code for a in answers] == [302, 403, 403]

    first, second, third = saml.seen
    for arrival in saml.seen:
        assert arrival.store_slug == "acme" and arrival.connection_slug == "entra"
        assert arrival.protocol == "saml" and not arrival.store_known
        assert arrival.subject is arrival.email is arrival.customer_id is arrival.channel_id
        assert arrival.subject is None
    assert len({first.reference, second.reference, third.reference}) == 3

    # Each failure was filed with its own request's facts, and none of another's.
    refused = {e["reference"]: e for e in world.events(kind="login", outcome="failure")}
    assert refused[second.reference]["subject"] == "grace-2"
    assert refused[second.reference]["customer_id"] == 42
    assert refused[third.reference]["subject"] is None
    assert refused[third.reference]["customer_id"] is None

    # Nothing is left behind in the task that ran the requests.
    assert not [k for k in structlog.contextvars.get_contextvars() if k.startswith("_login")]

    # The facts are no fields of the log: it names what it needs, and never the e-mail.
    out = capsys.readouterr().out
    assert "ada@example.com" not in out
    lines = [json.loads(line) for line in out.splitlines() if line]
    assert not [line for line in lines if any(key.startswith("_") for key in line)]
    [succeeded] = [line for line in lines if line.get("event") == "login_succeeded"]
    assert succeeded["subject"] == "ada-1" and succeeded["customer_id"] == 41
