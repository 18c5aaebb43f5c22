"""The first-login claim: a claim that cannot be given back never changes a login's outcome,
a holder that failed frees its subject at once, and only a holder that died keeps it, for a
short lease; meanwhile the shopper is told to try again in a few seconds."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa

from adapter.db.ledger import Ledger
from adapter.db.models import Connection
from adapter.services import resolution
from tests.support.assertions import reference_of
from tests.support.faults import log_lines, outage
from tests.support.world import World


def _fail_releases(monkeypatch: pytest.MonkeyPatch, times: int) -> list[int]:
    """Make the next `times` claim releases fail as if the database had gone."""
    release = Ledger.release
    failed: list[int] = []

    async def flaky(self: Ledger, claim: Any) -> None:
        if len(failed) < times:
            failed.append(1)
            raise outage()
        await release(self, claim)

    monkeypatch.setattr(Ledger, "release", flaky)
    return failed


def test_a_finished_login_stands_when_its_claim_cannot_be_given_back(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    failed = _fail_releases(monkeypatch, times=1)
    outcome = world.login()
    assert failed == [1]
    assert outcome.landed, outcome.final.text[:500]
    assert len(world.links()) == 1
    [line] = log_lines(capsys.readouterr().out, "claim_release_failed")
    assert line["reference"] and line["lapses_at"] and "exception" not in line


def test_a_failed_first_login_whose_claim_was_not_given_back_does_not_lock_the_subject_out(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before anything is created, BigCommerce fails; the database is gone when the claim
    # should be given back.
    monkeypatch.setattr(resolution, "CLAIM_WAIT_SECONDS", 2.0)
    world.shop.fail_next(500, method="POST")
    _fail_releases(monkeypatch, times=1)
    assert world.login().refusal.status_code == 502
    # The next attempt is not kept waiting for the claim to lapse.
    outcome = world.login()
    assert outcome.landed, outcome.final.text[:500]


def test_a_claim_left_by_a_replica_that_could_not_give_it_back_lapses_after_a_short_lease(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resolution, "CLAIM_LEASE_SECONDS", 1.0, raising=False)
    monkeypatch.setattr(resolution, "CLAIM_WAIT_SECONDS", 4.0)
    # The holder fails before it reaches BigCommerce's create call, and cannot give its claim
    # back; the next login is served by another replica, which knows nothing of it.
    world.shop.fail_next(500, times=4, method="GET")
    world.put_connection(link_by_email=True)
    _fail_releases(monkeypatch, times=1)
    assert world.login().refusal.status_code == 502
    world.start_adapter()
    world.put_connection(link_by_email=True)
    outcome = world.login()
    assert outcome.landed, outcome.final.text[:500]


def test_a_subject_whose_first_login_is_in_progress_is_told_to_try_again_shortly(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resolution, "CLAIM_WAIT_SECONDS", 0.3)
    runtime = world.runtime
    assert runtime is not None
    with world.engine.connect() as conn:
        connection_id = conn.execute(sa.select(Connection.id)).scalar_one()

    async def hold() -> None:  # a holder busy creating the customer on another replica
        async with runtime.sessions.begin() as session:
            await Ledger(session, runtime.box, runtime.clock).claim(
                resolution.FIRST_LOGIN_NAMESPACE, f"{connection_id}:sub-ada", ttl_seconds=60
            )

    asyncio.run(hold())
    outcome = world.login(headers={"Accept": "text/html"})
    answer = outcome.refusal
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    assert "try again in a few seconds" in answer.text
    [event] = world.events(kind="login", outcome="failure")
    assert event["reason"] == "login_busy" and event["reference"] == reference_of(outcome)
