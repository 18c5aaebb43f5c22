"""SCIM provisioning as Microsoft Entra ID drives it, against the BigCommerce emulator.

The requests are Entra's, as "Tutorial: Develop and plan provisioning for a SCIM endpoint in
Microsoft Entra ID" (learn.microsoft.com, section "Request and response examples") writes
them: the test-connection probe with a made-up userName, the create with the enterprise
extension and `meta`, capitalised PATCH ops (`Replace` on `emails[type eq "work"].value`,
`active` as a string when the app is not on the 2020 behaviour), groups looked up by
displayName with `excludedAttributes=members`, members added and removed with a `value`
array, and the DELETE that follows a hard delete in the directory.
"""

from __future__ import annotations

import json
from typing import Any

from tests.flows.test_scim_okta import PATCH, scim_client
from tests.support.world import World

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
OBJECT_ID = "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"


def entra_world(world: World, **scim: Any) -> None:
    # Entra's OIDC `sub` is pairwise per app; the connection keys on `oid`, the object id the
    # provisioning maps to externalId.
    world.op.add_user(
        "alan",
        "pw",
        sub="pairwise-subject-of-alan",
        oid=OBJECT_ID,
        email="alan.turing@contoso.example",
        given_name="Alan",
        family_name="Turing",
    )
    world.put_connection(
        "entra",
        subject_claim="oid",
        email_verified=True,
        link_by_email=True,
        group_mappings=[{"group": "Gold partners", "customer_group_id": 11}],
        scim={
            "subject_attribute": "externalId",
            "provision_customers": True,
            "on_deactivate": ["block", "customer_group", "remove_channels"],
            "deactivated_customer_group_id": 9,
            **scim,
        },
    )


def entra_user(user_name: str, email: str) -> dict[str, Any]:
    return {
        "schemas": [USER, ENTERPRISE],
        "externalId": OBJECT_ID,
        "userName": user_name,
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": email}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Alan Turing", "familyName": "Turing", "givenName": "Alan"},
        "roles": [],
        ENTERPRISE: {"department": "Research", "employeeNumber": "42"},
    }


def test_entra_provisions_updates_a_group_disables_enables_and_deletes(world: World) -> None:
    entra_world(world)
    entra = scim_client(world, "entra")

    # "Test connection": a filter on a user name nobody has.
    probe = entra.get(
        "/Users", params={"filter": 'userName eq "5b50f1e4-1b4c-4c2d-8ab6-3c5cbd5b3a5e"'}
    )
    assert probe.status_code == 200, probe.text
    assert probe.json()["totalResults"] == 0

    upn = "alan.turing@contoso.example"
    assert entra.get("/Users", params={"filter": f'userName eq "{upn}"'}).json()["Resources"] == []
    created = entra.post(
        "/Users",
        content=json.dumps(entra_user(upn, upn)),
        headers={"Content-Type": "application/scim+json"},
    )
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    assert created.json()[ENTERPRISE]["department"] == "Research"
    [link] = world.links()
    assert link["subject"] == OBJECT_ID
    customer_id = link["customer_id"]
    assert world.customers[customer_id]["email"] == upn
    # Entra also looks users up by externalId.
    by_external = entra.get("/Users", params={"filter": f'externalId eq "{OBJECT_ID}"'})
    assert [u["id"] for u in by_external.json()["Resources"]] == [user_id]

    # Capitalised ops, a filtered path, a new family name.
    updated = entra.patch(
        f"/Users/{user_id}",
        json={
            "schemas": [PATCH],
            "Operations": [
                {
                    "op": "Replace",
                    "path": 'emails[type eq "work"].value',
                    "value": "alan@contoso.example",
                },
                {"op": "Replace", "path": "name.familyName", "value": "Mathison Turing"},
            ],
        },
    )
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert body["emails"] == [{"value": "alan@contoso.example", "type": "work", "primary": True}]
    assert body["name"]["familyName"] == "Mathison Turing"

    # A group, found by name without its members, then a member added and removed.
    group = entra.post(
        "/Groups",
        json={
            "schemas": [GROUP],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "Gold partners",
            "meta": {"resourceType": "Group"},
        },
    )
    assert group.status_code == 201, group.text
    group_id = group.json()["id"]
    looked_up = entra.get(
        "/Groups",
        params={"excludedAttributes": "members", "filter": 'displayName eq "Gold partners"'},
    )
    [found] = looked_up.json()["Resources"]
    assert found["id"] == group_id and "members" not in found
    add = {"op": "Add", "path": "members", "value": [{"$ref": None, "value": user_id}]}
    assert entra.patch(
        f"/Groups/{group_id}", json={"schemas": [PATCH], "Operations": [add]}
    ).status_code in (200, 204)
    assert world.customers[customer_id]["customer_group_id"] == 11
    remove = {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": user_id}]}
    assert entra.patch(
        f"/Groups/{group_id}", json={"schemas": [PATCH], "Operations": [remove]}
    ).status_code in (200, 204)
    assert entra.get(f"/Groups/{group_id}").json().get("members") in (None, [])
    assert entra.patch(
        f"/Groups/{group_id}", json={"schemas": [PATCH], "Operations": [add]}
    ).status_code in (200, 204)

    # Disabled in the directory: `active` as the string "False".
    disabled = entra.patch(
        f"/Users/{user_id}",
        json={
            "schemas": [PATCH],
            "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
        },
    )
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["active"] is False
    customer = world.customers[customer_id]
    assert customer["customer_group_id"] == 9
    # The customer's only channel is the connection's: BigCommerce keeps every customer on at
    # least one channel, so it stays, and the audit event says so.
    assert customer["channel_ids"] == [1]
    [deprovisioned] = world.events("scim.user.deprovisioned")
    assert deprovisioned["details"]["channel_kept"] == [1]
    refused = world.login(connection="entra", login_hint="alan").refusal
    assert refused.status_code == 403

    enabled = entra.patch(
        f"/Users/{user_id}",
        json={
            "schemas": [PATCH],
            "Operations": [{"op": "Replace", "path": "active", "value": "True"}],
        },
    )
    assert enabled.status_code == 200, enabled.text
    customer = world.customers[customer_id]
    assert customer["customer_group_id"] == 11 and customer["channel_ids"] == [1]
    assert world.login(connection="entra", login_hint="alan").landed

    # Hard-deleted in Entra: the DELETE blocks the subject for good.
    assert entra.delete(f"/Users/{user_id}").status_code == 204
    assert entra.get(f"/Users/{user_id}").status_code == 404
    assert world.login(connection="entra", login_hint="alan").refusal.status_code == 403
    kinds = [e["kind"] for e in world.events() if e["kind"].startswith("scim.user.")]
    assert kinds == [
        "scim.user.created",
        "scim.user.provisioned",
        "scim.user.patched",
        "scim.user.patched",
        "scim.user.deprovisioned",
        "scim.user.patched",
        "scim.user.reactivated",
        "scim.user.deleted",
        "scim.user.deprovisioned",
    ]
    assert {e["actor"] for e in world.events() if e["kind"].startswith("scim.")} == {"scim:1"}
