"""From subject to customer: existing link, verified e-mail, creation, or a clear refusal."""

from __future__ import annotations

import threading

import httpx

from tests.support.assertions import assert_refused_cleanly
from tests.support.world import Outcome, World


def test_returning_login_uses_the_link_and_creates_nothing(world: World) -> None:
    assert world.login().landed
    calls_before = len(world.shop.api_calls)
    assert world.login().landed
    assert len(world.customers) == 1
    [link] = world.links()
    assert link["login_count"] == 2
    assert len(world.shop.api_calls) == calls_before, (
        "a returning login should not call BigCommerce"
    )


def test_verified_email_links_an_existing_customer_when_allowed(world: World) -> None:
    existing = world.shop.add_customer("acme1", "ADA@Example.com")
    world.put_connection(link_by_email=True)

    assert world.login().landed

    assert list(world.customers) == [existing["id"]]
    [link] = world.links()
    assert link["customer_id"] == existing["id"]
    [event] = world.events(kind="link.created")
    assert event["reason"] == "by_email"


def test_unverified_email_never_links_an_existing_customer(world: World) -> None:
    world.shop.add_customer("acme1", "ada@example.com")
    world.put_connection(link_by_email=True)
    world.op.users["ada"].claims["email_verified"] = False

    outcome = world.login()

    assert outcome.refusal.status_code == 403
    assert world.links() == [] and len(world.customers) == 1
    assert world.events(kind="login", outcome="failure")[0]["reason"] == "email_unverified"


def test_unverified_email_never_creates_a_customer(world: World) -> None:
    world.op.users["ada"].claims["email_verified"] = False
    assert_refused_cleanly(world, world.login(), 403, reason="email_unverified")


def test_connection_vouching_for_its_idps_emails_creates_without_the_claim(world: World) -> None:
    world.op.users["ada"].claims.pop("email_verified")
    world.put_connection(email_verified=True)
    assert world.login().landed
    assert len(world.customers) == 1


def test_email_verified_as_a_string_is_not_verification(world: World) -> None:
    world.shop.add_customer("acme1", "ada@example.com")
    world.put_connection(link_by_email=True)
    world.op.users["ada"].claims["email_verified"] = "true"
    assert world.login().refusal.status_code == 403
    assert world.links() == []


def test_existing_email_without_link_by_email_is_refused_with_a_clear_reason(world: World) -> None:
    world.shop.add_customer("acme1", "ada@example.com")
    outcome = world.login()
    assert outcome.refusal.status_code == 403
    assert "already exists" in outcome.refusal.text
    assert world.links() == []


def test_no_customer_and_creation_off_is_refused_with_403(world: World) -> None:
    world.put_connection(create_customers=False)
    assert_refused_cleanly(world, world.login(), 403, reason="no_customer")


def test_identity_without_email_is_refused_for_a_first_login(world: World) -> None:
    world.op.users["ada"].claims.pop("email")
    assert_refused_cleanly(world, world.login(), 403, reason="email_missing")


def test_customer_linked_to_another_subject_is_not_linked_again_by_email(world: World) -> None:
    world.put_connection(link_by_email=True)
    assert world.login().landed
    world.op.add_user("ada2", "pw", email="ada@example.com", email_verified=True)
    world.op.auto_login = "ada2"
    outcome = world.login()
    assert outcome.refusal.status_code == 403
    assert len(world.links()) == 1


KELVIN_SIGN = "\u212a"  # case-folds, and even NFC-normalises, to the ASCII letter K


def test_kelvin_sign_look_alike_is_not_linked_to_the_ascii_customer(world: World) -> None:
    kate = world.shop.add_customer("acme1", "kate@example.com")
    world.put_connection(link_by_email=True)
    world.op.users["ada"].claims["email"] = f"{KELVIN_SIGN}ate@example.com"

    outcome = world.login()

    assert outcome.refusal.status_code == 403
    assert outcome.storefront is None
    assert world.links() == []
    assert list(world.customers) == [kate["id"]]
    [event] = world.events(kind="login", outcome="failure")
    assert event["reason"] == "email_not_ascii"


def test_long_s_look_alike_neither_links_nor_creates(world: World) -> None:
    world.shop.add_customer("acme1", "rose@example.com")
    world.put_connection(link_by_email=True)
    world.op.users["ada"].claims["email"] = "ro\u017fe@example.com"

    outcome = world.login()

    assert outcome.refusal.status_code == 403
    assert world.links() == [] and len(world.customers) == 1
    assert world.events(kind="login", outcome="failure")[0]["reason"] == "email_not_ascii"


def test_non_ascii_email_creates_no_customer(world: World) -> None:
    world.op.users["ada"].claims["email"] = "jos\u00e9@example.com"
    assert_refused_cleanly(world, world.login(), 403, reason="email_not_ascii")


def test_ascii_email_in_another_letter_case_still_links(world: World) -> None:
    kate = world.shop.add_customer("acme1", "KATE@Example.com")
    world.put_connection(link_by_email=True)
    world.op.users["ada"].claims["email"] = "kate@EXAMPLE.com"

    assert world.login().landed

    [link] = world.links()
    assert link["customer_id"] == kate["id"]


def test_profile_sync_never_writes_a_look_alike_email(world: World) -> None:
    world.put_connection(profile_sync="every_login")
    assert world.login().landed
    world.op.users["ada"].claims["email"] = "\uff41da@example.com"  # fullwidth a
    assert world.login().landed
    assert next(iter(world.customers.values()))["email"] == "ada@example.com"


def test_profile_sync_does_not_rewrite_an_email_that_differs_only_in_ascii_case(
    world: World,
) -> None:
    world.put_connection(profile_sync="every_login")
    assert world.login().landed
    world.op.users["ada"].claims["email"] = "ADA@Example.com"
    writes_before = [c for c in world.shop.api_calls if c[0] == "PUT"]
    assert world.login().landed
    assert next(iter(world.customers.values()))["email"] == "ada@example.com"
    assert [c for c in world.shop.api_calls if c[0] == "PUT"] == writes_before


def test_group_mapping_sets_the_new_customers_group(world: World) -> None:
    world.put_connection(
        groups_claim="groups",
        customer_group_id=3,
        group_mappings=[
            {"group": "sales", "customer_group_id": 5},
            {"group": "engineering", "customer_group_id": 7},
        ],
    )
    assert world.login().landed
    [customer] = world.customers.values()
    assert customer["customer_group_id"] == 7


def test_default_group_applies_when_no_mapping_matches(world: World) -> None:
    world.put_connection(
        customer_group_id=3,
        groups_claim="groups",
        group_mappings=[{"group": "sales", "customer_group_id": 5}],
    )
    assert world.login().landed
    assert next(iter(world.customers.values()))["customer_group_id"] == 3


def test_missing_names_fall_back_to_the_email(world: World) -> None:
    for claim in ("given_name", "family_name"):
        world.op.users["ada"].claims.pop(claim)
    assert world.login().landed
    [customer] = world.customers.values()
    assert customer["first_name"] == "Ada" and customer["last_name"]


def test_profile_sync_every_login_writes_changed_names_back(world: World) -> None:
    world.put_connection(profile_sync="every_login")
    assert world.login().landed
    world.op.users["ada"].claims["family_name"] = "King"
    assert world.login().landed
    assert next(iter(world.customers.values()))["last_name"] == "King"


def test_profile_sync_on_create_leaves_the_customer_alone(world: World) -> None:
    assert world.login().landed
    world.op.users["ada"].claims["family_name"] = "King"
    assert world.login().landed
    assert next(iter(world.customers.values()))["last_name"] == "Lovelace"


def test_custom_subject_claim_is_the_link_subject(world: World) -> None:
    world.op.users["ada"].claims["oid"] = "00000000-0000-0000-0000-00000000ada1"
    world.put_connection(subject_claim="oid")
    assert world.login().landed
    assert world.links()[0]["subject"] == "00000000-0000-0000-0000-00000000ada1"


def test_two_browsers_finishing_the_same_first_login_at_once_make_one_customer(
    world: World,
) -> None:
    # BigCommerce answers customer creation slowly, so both callbacks overlap it.
    world.shop.create_delay = 0.5
    browsers = [world.browser(), world.browser()]
    callbacks = []
    for browser in browsers:
        start = browser.get(f"{world.url}/sso/acme/okta/login")
        callbacks.append(browser.get(start.headers["location"]).headers["location"])
    answers: list[httpx.Response | None] = [None, None]

    def finish(i: int) -> None:
        answers[i] = browsers[i].get(callbacks[i])

    threads = [threading.Thread(target=finish, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(world.customers) == 1
    assert len(world.links()) == 1
    for i in range(2):
        outcome = world.follow_to_storefront(
            Outcome(start=httpx.Response(302), callback=answers[i]), browsers[i]
        )
        assert outcome.landed
    assert len(world.events(kind="customer.created")) == 1
    assert world.used_values() == 0, "the first-login claim was not released"
