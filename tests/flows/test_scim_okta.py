"""SCIM provisioning as Okta drives it, against the BigCommerce emulator.

The requests below are Okta's, as its SCIM 2.0 documentation ("SCIM 2.0 protocol with Okta",
developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20) writes them down: a user looked
up by userName before it is created, the create with `password` and `groups` Okta fills in,
profile changes as a whole-resource PUT, Group Push (create, member add and remove, rename
with the group's own id in the value), deactivation by PATCH `{"op": "replace", "value":
{"active": false}}` and reactivation the same way. Okta never deletes a user.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.world import World

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def scim_client(world: World, connection: str = "okta") -> httpx.Client:
    token = world.admin().post(f"/stores/acme/connections/{connection}/scim-tokens").json()["token"]
    return httpx.Client(
        base_url=f"{world.url}/scim/v2/acme/{connection}",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/scim+json"},
        timeout=30,
    )


def okta_user(user_name: str, external_id: str, *, given: str, family: str) -> dict[str, Any]:
    return {
        "schemas": [USER],
        "userName": user_name,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"primary": True, "value": user_name, "type": "work"}],
        "displayName": f"{given} {family}",
        "locale": "en-US",
        "externalId": external_id,
        "groups": [],
        "password": "1mz050nq",
        "active": True,
    }


def scim_world(world: World, **scim: Any) -> None:
    world.op.add_user(
        "grace",
        "pw",
        sub="00u1grace",
        email="grace@example.com",
        email_verified=True,
        given_name="Grace",
        family_name="Hopper",
        groups=[],
    )
    world.put_connection(
        "okta",
        link_by_email=True,
        # SCIM e-mails are the directory's word: trusted only as far as the operator vouches.
        email_verified=True,
        group_mappings=[{"group": "Wholesale", "customer_group_id": 7}],
        scim={
            "subject_attribute": "externalId",
            "provision_customers": True,
            "on_deactivate": ["block", "customer_group"],
            "deactivated_customer_group_id": 9,
            **scim,
        },
    )


def test_okta_provisions_pushes_a_group_deactivates_and_reactivates(world: World) -> None:
    scim_world(world)
    okta = scim_client(world)

    # Okta first asks whether the user exists.
    found = okta.get(
        "/Users",
        params={"filter": 'userName eq "grace@example.com"', "startIndex": 1, "count": 100},
    )
    assert found.status_code == 200, found.text
    assert found.headers["content-type"].startswith("application/scim+json")
    assert found.json()["totalResults"] == 0 and found.json()["Resources"] == []

    created = okta.post(
        "/Users",
        json=okta_user("grace@example.com", "00u1grace", given="Grace", family="Hopper"),
    )
    assert created.status_code == 201, created.text
    user = created.json()
    user_id = user["id"]
    assert user["userName"] == "grace@example.com" and user["active"] is True
    assert "password" not in user
    assert created.headers["location"].endswith(f"/Users/{user_id}")
    # Provisioned ahead of the first visit: the customer exists and is linked.
    [link] = world.links()
    assert link["subject"] == "00u1grace"
    customer = world.customers[link["customer_id"]]
    assert customer["email"] == "grace@example.com"
    assert customer["first_name"] == "Grace"

    # A profile change comes as a whole-resource PUT.
    changed = okta_user("grace@example.com", "00u1grace", given="Grace", family="Murray Hopper")
    put = okta.put(f"/Users/{user_id}", json={**changed, "id": user_id})
    assert put.status_code == 200, put.text
    assert put.json()["name"]["familyName"] == "Murray Hopper"

    # Group Push: the group, then its member; the customer joins the mapped customer group.
    group = okta.post(
        "/Groups", json={"schemas": [GROUP], "displayName": "Wholesale", "members": []}
    )
    assert group.status_code == 201, group.text
    group_id = group.json()["id"]
    added = okta.patch(
        f"/Groups/{group_id}",
        json={
            "schemas": [PATCH],
            "Operations": [
                {
                    "op": "add",
                    "path": "members",
                    "value": [{"value": user_id, "display": "grace@example.com"}],
                }
            ],
        },
    )
    assert added.status_code in (200, 204), added.text
    assert world.customers[link["customer_id"]]["customer_group_id"] == 7
    assert okta.get(f"/Users/{user_id}").json()["groups"] == [
        {"value": group_id, "display": "Wholesale"}
    ]

    # Deactivation.
    off = okta.patch(
        f"/Users/{user_id}",
        json={"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]},
    )
    assert off.status_code == 200, off.text
    assert off.json()["active"] is False
    assert world.customers[link["customer_id"]]["customer_group_id"] == 9
    refused = world.login(login_hint="grace").refusal
    assert refused.status_code == 403
    assert world.events("login", outcome="failure")[-1]["reason"] == "deprovisioned"
    [deprovisioned] = world.events("scim.user.deprovisioned")
    assert deprovisioned["actor"].startswith("scim:")
    # The operator's dry run says why.
    dry_run = world.admin().post(
        "/stores/acme/connections/okta/test-login", json={"claims": {"sub": "00u1grace"}}
    )
    assert dry_run.json()["outcome"] == "refused"
    assert dry_run.json()["reason"] == "deprovisioned"

    # Reactivation lifts the block and puts the customer group back.
    on = okta.patch(
        f"/Users/{user_id}",
        json={"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": True}}]},
    )
    assert on.status_code == 200, on.text
    assert world.customers[link["customer_id"]]["customer_group_id"] == 7
    assert world.login(login_hint="grace").landed
