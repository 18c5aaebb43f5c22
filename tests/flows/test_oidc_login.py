"""A hosted-storefront login through the sample OpenID provider, end to end over HTTP."""

from __future__ import annotations

from tests.support.world import World


def test_first_login_creates_customer_links_subject_and_lands_signed_in(world: World) -> None:
    outcome = world.login(channel_id=1, redirect_to="/account.php")

    assert outcome.landed, outcome.final.text
    assert "ada@example.com" in outcome.page.text
    [customer] = world.customers.values()
    assert customer["email"] == "ada@example.com"
    assert (customer["first_name"], customer["last_name"]) == ("Ada", "Lovelace")
    assert customer["origin_channel_id"] == 1 and customer["channel_ids"] == [1]
    [link] = world.links()
    assert (link["subject"], link["customer_id"]) == ("sub-ada", customer["id"])
    assert link["login_count"] == 1
    assert [e["kind"] for e in world.events()] == [
        "customer.create_intent",
        "customer.created",
        "link.created",
        "login",
    ]
