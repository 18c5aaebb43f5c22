"""BigCommerce answering 429 and 5xx, or not at all: waited out, retried, or a clean 502; and
a creation whose answer was lost, adopted by the subject's next login."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from adapter.db.links import LinkRepository
from tests.support.assertions import assert_refused_cleanly, reference_of
from tests.support.world import Outcome, World


def test_rate_limited_creation_is_waited_out_by_the_reset_header(world: World) -> None:
    world.shop.fail_next(429, times=2, method="POST", reset_ms=150)
    assert world.login().landed
    statuses = [status for method, _, status in world.shop.api_calls if method == "POST"]
    assert statuses == [429, 429, 200]


def test_rate_limit_longer_than_the_budget_gives_502_and_writes_nothing(world: World) -> None:
    world.start_adapter(rate_limit_max_wait_seconds=1)
    world.put_connection()
    world.shop.fail_next(429, method="POST", reset_ms=30_000)
    assert_refused_cleanly(world, world.login(), 502, reason="bigcommerce_rate_limited")


def test_server_error_on_a_read_is_retried(world: World) -> None:
    world.put_connection(link_by_email=True)
    world.shop.add_customer("acme1", "ada@example.com")
    world.shop.fail_next(500, times=2, method="GET")
    assert world.login().landed
    # The e-mail search met two 500s and succeeded on the third try.
    assert [s for m, _, s in world.shop.api_calls if m == "GET"][:3] == [500, 500, 200]


def test_server_error_on_creation_is_not_retried_and_gives_502(world: World) -> None:
    world.shop.fail_next(500, method="POST")
    assert_refused_cleanly(world, world.login(), 502, reason="bigcommerce_error")
    assert [s for m, _, s in world.shop.api_calls if m == "POST"] == [500]
    assert world.used_values() == 0


def test_bigcommerce_down_gives_502_and_writes_nothing(world: World) -> None:
    world.put_store(api_base_url="http://127.0.0.1:9")  # nothing listens on the discard port
    assert_refused_cleanly(world, world.login(), 502, reason="bigcommerce_unavailable")


def test_wrong_api_token_gives_502(world: World) -> None:
    world.put_store(api_token="not-the-token")
    assert_refused_cleanly(world, world.login(), 502, reason="bigcommerce_auth")


def test_after_a_failure_the_next_login_succeeds(world: World) -> None:
    world.shop.fail_next(500, method="POST")
    assert world.login().refusal.status_code == 502
    assert world.login().landed
    assert len(world.customers) == 1 and len(world.links()) == 1


def test_a_creation_whose_answer_was_lost_is_adopted_by_the_next_login(world: World) -> None:
    # BigCommerce creates the customer, then answers 500: the adapter cannot know.
    world.shop.lose_next_answer(status=500)
    first = world.login()
    assert first.refusal.status_code == 502
    [customer] = world.customers.values()
    assert world.links() == []
    [intent] = world.events(kind="customer.create_intent")
    assert intent["subject"] == "sub-ada" and intent["email"] == "ada@example.com"

    # The next login meets "e-mail in use", and takes the customer its first attempt made.
    again = world.login()
    assert again.landed, again.final.text[:500]
    [link] = world.links()
    assert link["customer_id"] == customer["id"] and len(world.customers) == 1
    [created] = world.events(kind="customer.created")
    assert (created["reason"], created["customer_id"]) == ("adopted", customer["id"])
    [linked] = world.events(kind="link.created")
    assert linked["reason"] == "by_adopted"


def test_a_creation_that_timed_out_is_adopted_by_the_next_login(world: World) -> None:
    world.start_adapter(http_timeout_seconds=0.5)
    world.put_connection()
    world.shop.lose_next_answer(delay=1.5)  # no answer before the adapter gives up
    assert_refused_cleanly_but_created(world, world.login(), reason="bigcommerce_unavailable")
    again = world.login()
    assert again.landed, again.final.text[:500]
    assert len(world.customers) == 1 and len(world.links()) == 1


def assert_refused_cleanly_but_created(world: World, outcome: Outcome, reason: str) -> None:
    """Refused with 502 after BigCommerce made the customer: nothing linked yet."""
    assert outcome.refusal.status_code == 502
    assert len(world.customers) == 1 and world.links() == []
    reference = reference_of(outcome)
    [event] = [e for e in world.events(kind="login") if e["reference"] == reference]
    assert event["reason"] == reason


def test_a_customer_with_the_email_from_before_the_intent_is_not_adopted(world: World) -> None:
    # An attempt that asked for a creation (refused before any effect) leaves its intent.
    world.shop.fail_next(500, method="POST")
    assert world.login().refusal.status_code == 502
    # The e-mail belongs to a customer registered an hour before: someone else's.
    world.shop.add_customer("acme1", "ada@example.com", date_created="2026-01-01T00:00:00Z")
    outcome = world.login()
    assert outcome.refusal.status_code == 403
    [event] = world.events(kind="login", outcome="failure")[-1:]
    assert event["reason"] == "email_in_use"
    assert world.links() == [] and world.events(kind="customer.created") == []


def test_a_customer_whose_link_could_not_be_written_is_audited_and_adopted_next_time(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    create = LinkRepository.create
    calls: list[int] = []

    async def gone_once(self: LinkRepository, **kw: object) -> object:
        calls.append(1)
        if len(calls) == 1:  # the database goes away right after BigCommerce's answer
            raise OperationalError("INSERT INTO links", {}, ConnectionResetError("gone"))
        return await create(self, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(LinkRepository, "create", gone_once)
    first = world.login()
    assert first.refusal.status_code == 503
    assert len(world.customers) == 1 and world.links() == []
    # What was about to happen was written before BigCommerce was asked.
    assert len(world.events(kind="customer.create_intent")) == 1
    again = world.login()
    assert again.landed, again.final.text[:500]
    [customer] = world.customers.values()
    [created] = world.events(kind="customer.created")
    assert created["customer_id"] == customer["id"]
