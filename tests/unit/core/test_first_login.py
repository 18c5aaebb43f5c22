"""The first-login decision, from facts to outcome, with no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapter.core.first_login import (
    Adopt,
    Candidate,
    Create,
    CustomerFields,
    FirstLoginPolicy,
    LinkByEmail,
    Refuse,
    UseLink,
    after_email_in_use,
    channel_access,
    first_login,
    link_by_email,
    may_link_by_email,
)
from adapter.core.identity import Identity

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FIELDS = CustomerFields("ada@example.com", "Ada", "Lovelace", 1, None)


def _identity(email: str | None = "ada@example.com", verified: bool = True) -> Identity:
    return Identity(issuer="https://idp", subject="sub-ada", email=email, email_verified=verified)


def _policy(**overrides: bool) -> FirstLoginPolicy:
    values = {
        "link_by_email": False,
        "create_customers": True,
        "email_verified": False,
        "add_channel_to_customer": False,
        **overrides,
    }
    return FirstLoginPolicy(**values)


def _decide(
    identity: Identity | None = None,
    policy: FirstLoginPolicy | None = None,
    **facts: Any,
) -> Any:
    return first_login(
        identity or _identity(),
        policy or _policy(),
        link_customer_id=facts.get("link"),
        matches=facts.get("matches", ()),
        new_customer=FIELDS,
        adoption_since=facts.get("since"),
    )


def _code(decision: Any) -> str:
    assert isinstance(decision, Refuse), decision
    return decision.code


ONE = Candidate(7, (1,), NOW - timedelta(days=30))
TWO = (ONE, Candidate(8, (1,), NOW - timedelta(days=20)))


def test_a_linked_subject_uses_its_link_whatever_else_is_true() -> None:
    decision = _decide(_identity(email=None), _policy(create_customers=False), link=3)
    assert decision == UseLink(3)


def test_a_first_login_without_an_email_is_refused() -> None:
    assert _code(_decide(_identity(email=None))) == "email_missing"


@pytest.mark.parametrize(
    ("email", "code"),
    [("\u212aate@example.com", "email_not_ascii"), ("kate example.com", "email_malformed")],
)
def test_an_email_no_rule_can_compare_is_refused_before_any_match_counts(
    email: str, code: str
) -> None:
    decision = _decide(_identity(email=email), _policy(link_by_email=True), matches=(ONE,))
    assert _code(decision) == code
    assert decision.public_message is not None


def test_a_verified_email_links_its_one_customer_when_the_connection_allows() -> None:
    assert _decide(policy=_policy(link_by_email=True), matches=(ONE,)) == LinkByEmail(ONE)


def test_a_connection_vouching_for_emails_links_an_unverified_one() -> None:
    policy = _policy(link_by_email=True, email_verified=True)
    assert _decide(_identity(verified=False), policy, matches=(ONE,)) == LinkByEmail(ONE)


def test_two_customers_with_the_email_are_ambiguous_rather_than_either_linked() -> None:
    assert _code(_decide(policy=_policy(link_by_email=True), matches=TWO)) == "email_ambiguous"


def test_a_customer_linked_to_another_subject_is_not_linked_again() -> None:
    taken = Candidate(7, (1,), linked_elsewhere=True)
    decision = _decide(policy=_policy(link_by_email=True), matches=(taken,))
    assert _code(decision) == "customer_linked_elsewhere"


def test_with_creation_off_an_unlinkable_match_means_no_customer_not_email_in_use() -> None:
    assert _code(_decide(policy=_policy(create_customers=False), matches=(ONE,))) == "no_customer"


def test_an_unverified_email_creates_nothing_even_where_a_customer_holds_it() -> None:
    decision = _decide(_identity(verified=False), matches=(ONE,))
    assert _code(decision) == "email_unverified"
    assert decision.public_message is not None


def test_an_unverified_email_is_not_linked_even_under_link_by_email() -> None:
    decision = _decide(_identity(verified=False), _policy(link_by_email=True), matches=(ONE,))
    assert _code(decision) == "email_unverified"


def test_a_verified_email_nobody_holds_creates_the_customer_with_the_given_fields() -> None:
    assert _decide() == Create(FIELDS)
    assert _decide(policy=_policy(link_by_email=True)) == Create(FIELDS)


def test_a_match_that_may_not_be_linked_is_the_creations_email_in_use() -> None:
    assert _code(_decide(matches=(ONE,))) == "email_in_use"
    assert _code(_decide(matches=TWO)) == "email_in_use"


def test_a_customer_created_after_the_subjects_open_intent_is_adopted() -> None:
    made = Candidate(9, (1,), NOW)
    assert _decide(matches=(made,), since=NOW - timedelta(minutes=1)) == Adopt(made)


def test_adoption_allows_for_whole_seconds_and_clock_skew_but_no_more() -> None:
    made = Candidate(9, (1,), NOW)
    skewed = after_email_in_use(_identity(), _policy(), made, NOW + timedelta(seconds=2))
    assert skewed == Adopt(made)
    later = after_email_in_use(_identity(), _policy(), made, NOW + timedelta(seconds=3))
    assert _code(later) == "email_in_use"


def test_a_customer_older_than_the_intent_or_without_a_date_is_someone_elses() -> None:
    assert _code(_decide(matches=(ONE,), since=NOW)) == "email_in_use"
    undated = Candidate(9, (1,), None)
    assert _code(_decide(matches=(undated,), since=NOW)) == "email_in_use"


def test_an_adoptable_customer_linked_to_another_subject_is_refused() -> None:
    made = Candidate(9, (1,), NOW, linked_elsewhere=True)
    decision = _decide(matches=(made,), since=NOW - timedelta(minutes=1))
    assert _code(decision) == "customer_linked_elsewhere"


def test_after_email_in_use_a_linkable_email_asks_for_the_customers_again() -> None:
    policy = _policy(link_by_email=True)
    assert after_email_in_use(_identity(), policy, ONE, None) is None
    assert link_by_email([ONE]) == LinkByEmail(ONE)
    assert link_by_email([]) is None
    assert _code(link_by_email(list(TWO))) == "email_ambiguous"


def test_without_a_lookup_the_login_decides_create_and_meets_the_same_answer_later() -> None:
    # The login skips the e-mail look-up when no match could be linked; the dry run does not.
    # Both must end with the same decision.
    identity, policy = _identity(), _policy()
    assert not may_link_by_email(identity, policy)
    assert _decide(identity, policy, matches=()) == Create(FIELDS)
    since = NOW - timedelta(minutes=1)
    made = Candidate(9, (1,), NOW)
    assert after_email_in_use(identity, policy, made, since) == _decide(
        identity, policy, matches=(made,), since=since
    )


@pytest.mark.parametrize(
    ("channels", "add", "global_open", "verdict"),
    [
        ((1, 2), False, None, "member"),
        ((2,), False, None, "denied"),
        ((2,), True, None, "add_channel"),
        (None, False, True, "global"),
        ((), True, True, "global"),
        (None, True, False, "denied"),
    ],
)
def test_channel_access_follows_the_customers_channels_and_the_channels_setting(
    channels: tuple[int, ...] | None, add: bool, global_open: bool | None, verdict: str
) -> None:
    assert (
        channel_access(channels, 1, add_channel_to_customer=add, global_logins_allowed=global_open)
        == verdict
    )


def test_a_global_customers_access_cannot_be_judged_without_the_channels_setting() -> None:
    with pytest.raises(ValueError):
        channel_access(None, 1, add_channel_to_customer=False, global_logins_allowed=None)
