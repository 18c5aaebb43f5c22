"""Checks that a refused login refused cleanly: the right answer, nothing half-written."""

from __future__ import annotations

import re

from tests.support.world import Outcome, World


def reference_of(outcome_or_response) -> str:
    response = (
        outcome_or_response.refusal
        if isinstance(outcome_or_response, Outcome)
        else outcome_or_response
    )
    if response.headers.get("content-type", "").startswith("application/json"):
        return response.json()["reference"]
    match = re.search(r"reference <code>([0-9a-f]{12})</code>", response.text)
    assert match, "the failure page carries no reference id"
    return match.group(1)


def assert_refused_cleanly(
    world: World, outcome: Outcome, status: int, reason: str | None = None
) -> None:
    """Refused with `status`, no storefront redirect, no customer, no link, and an audit
    event carrying the reference id shown to the person."""
    answer = outcome.refusal
    assert answer.status_code == status, answer.text[:500]
    assert outcome.storefront is None and outcome.page is None
    assert world.customers == {}, "a customer was created"
    assert world.links() == [], "a link was written"
    reference = reference_of(outcome)
    [event] = [
        e for e in world.events(kind="login", outcome="failure") if e["reference"] == reference
    ]
    if reason is not None:
        assert event["reason"] == reason, event["reason"]
    assert event["details"]["status"] == status
