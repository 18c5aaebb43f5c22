"""What a deprovisioning does beyond the block: headless sessions ended, pending codes
refused, channels taken away, the customer deleted; a BigCommerce failure half-way finished
by the IdP's retry; and the SCIM endpoint's answers to strangers and to bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import sqlalchemy as sa

from adapter.db.models import BlockedSubject, ScimGroup, ScimUser
from tests.flows.test_headless import code_of, exchange, headless_channels
from tests.flows.test_scim_okta import PATCH, USER, scim_client
from tests.support.saml_world import saml_world
from tests.support.servers import ServerThread
from tests.support.world import STORE_HASH, Dispatcher, World

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def ada(**fields: Any) -> dict[str, Any]:
    return {
        "schemas": [USER],
        "userName": "ada@example.com",
        "externalId": "sub-ada",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"primary": True, "value": "ada@example.com", "type": "work"}],
        "active": True,
        **fields,
    }


def set_active(client: httpx.Client, user_id: str, active: bool) -> httpx.Response:
    return client.patch(
        f"/Users/{user_id}",
        json={"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": active}}]},
    )


def count(world: World, model: Any) -> int:
    with world.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def test_headless_sessions_end_and_pending_codes_are_refused(world: World) -> None:
    headless_channels(world)
    world.put_connection(
        channel_ids=[1, 2], email_verified=True, scim={"provision_customers": False}
    )
    first = world.login(channel_id="2")
    redeemed = exchange(world, code_of(first))
    assert redeemed.status_code == 200, redeemed.text
    session_token = redeemed.json()["customer_access_token"]
    pending = code_of(world.login(channel_id="2"))
    assert session_token in world.shop_store.access_tokens
    handed_out = set(world.shop_store.access_tokens)

    okta = scim_client(world)
    user_id = okta.post("/Users", json=ada()).json()["id"]
    assert set_active(okta, user_id, False).status_code == 200

    # Every customer access token the adapter obtained for this customer is ended.
    assert set(world.shop.logouts) == handed_out
    assert world.shop_store.access_tokens == {}
    # The code made before the deactivation is worthless now.
    assert exchange(world, pending).status_code in (400, 403)
    assert world.login(channel_id="2").refusal.status_code == 403


def test_a_code_made_just_before_another_replica_blocked_is_refused(world: World) -> None:
    headless_channels(world)
    code = code_of(world.login(channel_id="2"))
    [link] = world.links()
    # Another replica's block, committed after this code was made (its code purge missed it).
    with world.engine.begin() as conn:
        conn.execute(
            sa.insert(BlockedSubject).values(
                connection_id=link["connection_id"],
                subject=link["subject"],
                store_id=link["store_id"],
                customer_id=link["customer_id"],
                undo={},
                settled=True,
                created_at=datetime.now(UTC),
            )
        )
    refused = exchange(world, code)
    assert refused.status_code == 403
    assert refused.json()["error"] == "deprovisioned"


def test_remove_channels_keeps_the_others_and_reactivation_gives_them_back(
    world: World,
) -> None:
    existing = world.shop.add_customer(STORE_HASH, "ada@example.com", channel_ids=[1, 2])
    world.put_connection(
        link_by_email=True,
        email_verified=True,
        scim={"provision_customers": True, "on_deactivate": ["block", "remove_channels"]},
    )
    okta = scim_client(world)
    user_id = okta.post("/Users", json=ada()).json()["id"]
    [link] = world.links()
    assert link["customer_id"] == existing["id"]

    assert set_active(okta, user_id, False).status_code == 200
    assert world.customers[existing["id"]]["channel_ids"] == [2]
    assert set_active(okta, user_id, True).status_code == 200
    assert world.customers[existing["id"]]["channel_ids"] == [1, 2]
    assert world.login().landed


def test_delete_customer_and_a_rehire_gets_a_new_one(world: World) -> None:
    world.put_connection(
        email_verified=True,
        scim={"provision_customers": True, "on_deactivate": ["block", "delete_customer"]},
    )
    okta = scim_client(world)
    user_id = okta.post("/Users", json=ada()).json()["id"]
    [link] = world.links()
    first_customer = link["customer_id"]

    assert set_active(okta, user_id, False).status_code == 200
    assert first_customer not in world.customers
    assert world.links() == []
    assert world.login().refusal.status_code == 403

    assert set_active(okta, user_id, True).status_code == 200
    [relinked] = world.links()
    assert relinked["customer_id"] != first_customer
    assert world.customers[relinked["customer_id"]]["email"] == "ada@example.com"
    assert world.login().landed


def test_a_bigcommerce_failure_half_way_is_finished_by_the_retry(world: World) -> None:
    world.put_connection(
        email_verified=True,
        scim={
            "provision_customers": True,
            "on_deactivate": ["block", "customer_group"],
            "deactivated_customer_group_id": 9,
        },
    )
    okta = scim_client(world)
    user_id = okta.post("/Users", json=ada()).json()["id"]
    [link] = world.links()

    world.shop.fail_next(500, times=5, method="PUT")
    failed = set_active(okta, user_id, False)
    assert failed.status_code in (502, 503), failed.text
    error = failed.json()
    assert error["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert "reference" in error["detail"]
    # The block does not wait for BigCommerce.
    assert world.login().refusal.status_code == 403
    assert world.events("scim.user.deprovisioned") == []
    world.shop.faults.clear()

    retried = set_active(okta, user_id, False)
    assert retried.status_code == 200, retried.text
    assert world.customers[link["customer_id"]]["customer_group_id"] == 9
    [done] = world.events("scim.user.deprovisioned")
    assert done["details"]["customer"] == {"customer_group_id": 9}


def test_a_failed_creation_is_taken_back_so_the_retry_creates_again(world: World) -> None:
    world.put_connection(email_verified=True, scim={"provision_customers": True})
    okta = scim_client(world)
    world.shop.fail_next(500, times=5, method="POST")
    failed = okta.post("/Users", json=ada())
    assert failed.status_code in (502, 503), failed.text
    assert count(world, ScimUser) == 0
    world.shop.faults.clear()
    assert okta.post("/Users", json=ada()).status_code == 201
    assert len(world.links()) == 1


def test_group_changes_reach_every_member_in_bounded_steps(world: World) -> None:
    world.put_connection(
        email_verified=True,
        group_mappings=[{"group": "Wholesale", "customer_group_id": 7}],
        scim={"provision_customers": True},
    )
    okta = scim_client(world)
    ids = [
        okta.post(
            "/Users",
            json=ada(
                userName=f"buyer{n}@example.com",
                externalId=f"sub-buyer{n}",
                emails=[{"primary": True, "value": f"buyer{n}@example.com", "type": "work"}],
            ),
        ).json()["id"]
        for n in range(105)
    ]
    group = okta.post("/Groups", json={"schemas": [GROUP], "displayName": "Wholesale"}).json()
    added = okta.patch(
        f"/Groups/{group['id']}",
        json={
            "schemas": [PATCH],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": i} for i in ids]}],
        },
    )
    assert added.status_code in (200, 204), added.text
    assert {c["customer_group_id"] for c in world.customers.values()} == {7}
    progress = [e["details"] for e in world.events("scim.group.applied")]
    assert progress == [
        {"id": group["id"], "done": 100, "of": 105, "failed": 0},
        {"id": group["id"], "done": 105, "of": 105, "failed": 0},
    ]


def test_strangers_and_other_connections_tokens_get_401(world: World) -> None:
    world.put_connection("entra-oidc")
    okta = scim_client(world)
    entra = scim_client(world, "entra-oidc")
    base = f"{world.url}/scim/v2/acme"

    bare = httpx.get(f"{base}/okta/Users")
    assert bare.status_code == 401
    assert bare.headers["www-authenticate"].startswith("Bearer")
    assert bare.json()["status"] == "401"
    # A token of one connection is no token on another.
    other = httpx.get(
        f"{base}/okta/Users", headers={"Authorization": entra.headers["authorization"]}
    )
    assert other.status_code == 401
    # The same answer for a connection that does not exist.
    nowhere = httpx.get(
        f"{base}/nope/Users", headers={"Authorization": okta.headers["authorization"]}
    )
    assert nowhere.status_code == 401
    # Okta's "HTTP header" mode may send the bare token.
    raw = okta.headers["authorization"].removeprefix("Bearer ")
    assert httpx.get(f"{base}/okta/Users", headers={"Authorization": raw}).status_code == 200
    token_id = world.admin().get("/stores/acme/connections/okta/scim-tokens").json()["items"][0]
    world.admin().delete(f"/stores/acme/connections/okta/scim-tokens/{token_id['id']}")
    assert okta.get("/Users").status_code == 401


def test_bad_input_gets_a_scim_error_and_writes_nothing(world: World) -> None:
    world.put_connection(scim={"provision_customers": False})
    okta = scim_client(world)

    def refused(answer: httpx.Response, status: int, scim_type: str | None = None) -> None:
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"].startswith("application/scim+json")
        body = answer.json()
        assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
        assert body["status"] == str(status)
        assert "reference" in body["detail"]
        if scim_type is not None:
            assert body["scimType"] == scim_type

    refused(okta.post("/Users", content=b"{not json"), 400, "invalidSyntax")
    refused(okta.post("/Users", content=b"\xff\xfe"), 400, "invalidSyntax")
    refused(okta.post("/Users", json=["a list"]), 400, "invalidSyntax")
    refused(okta.post("/Users", json={"schemas": [USER], "active": True}), 400)
    refused(okta.post("/Users", json=ada(userName="   ")), 400)
    refused(
        okta.get("/Users", params={"filter": 'userName eq "unterminated'}), 400, "invalidFilter"
    )
    refused(okta.get("/Users", params={"filter": 'nosuchattribute eq "x"'}), 400)
    refused(okta.get("/Users/no-such-id"), 404)
    refused(okta.patch("/Users/no-such-id", json={"schemas": [PATCH], "Operations": []}), 404)
    refused(okta.get("/Nothing"), 404)
    refused(okta.post("/Users", content=b"x" * (1024 * 1024 + 1)), 413)
    assert count(world, ScimUser) == 0

    user_id = okta.post("/Users", json=ada()).json()["id"]
    # userName is unique per connection, compared case-insensitively.
    refused(
        okta.post("/Users", json=ada(userName="ADA@example.com", externalId="sub-other")),
        409,
        "uniqueness",
    )
    # So is the subject: two SCIM users cannot be one login.
    refused(okta.post("/Users", json=ada(userName="other@example.com")), 409, "uniqueness")
    refused(okta.patch(f"/Users/{user_id}", json={"schemas": [PATCH], "Operations": []}), 400)
    refused(
        okta.patch(
            f"/Users/{user_id}",
            json={
                "schemas": [PATCH],
                "Operations": [{"op": "replace", "path": "nope[", "value": 1}],
            },
        ),
        400,
    )
    refused(
        okta.patch(
            f"/Users/{user_id}",
            json={
                "schemas": [PATCH],
                "Operations": [{"op": "replace", "path": "id", "value": "x"}],
            },
        ),
        400,
    )
    refused(
        okta.post(
            "/Groups",
            json={"schemas": [GROUP], "displayName": "G", "members": [{"value": "not-a-user"}]},
        ),
        400,
        "invalidValue",
    )
    assert count(world, ScimUser) == 1 and count(world, ScimGroup) == 0
    assert okta.get(f"/Users/{user_id}").json()["userName"] == "ada@example.com"


def test_b2b_buyers_get_their_company_and_role_and_leave_it_when_deprovisioned(
    world: World,
) -> None:
    world.shop.b2b.enable(STORE_HASH)
    contoso = world.shop.b2b.add_company(STORE_HASH, "Contoso")
    world.put_store(b2b={"enabled": True, "api_base_url": f"{world.shop.base_url}/b2b"})
    world.put_connection(
        groups_claim="groups",
        email_verified=True,
        b2b={
            "companies": [{"key": "example.com", "company_id": contoso}],
            "role_mappings": [{"group": "Senior buyers", "role": "senior_buyer"}],
        },
        scim={"provision_customers": True, "on_deactivate": ["block", "b2b_deactivate"]},
    )
    okta = scim_client(world)
    ada_id = okta.post("/Users", json=ada()).json()["id"]
    okta.post(
        "/Users",
        json=ada(
            userName="bob@example.com",
            externalId="sub-bob",
            emails=[{"primary": True, "value": "bob@example.com", "type": "work"}],
        ),
    )
    ada_customer = next(
        link["customer_id"] for link in world.links() if link["subject"] == "sub-ada"
    )
    # Provisioned straight into the company, with the default role.
    user = world.shop.b2b.user_of(STORE_HASH, ada_customer)
    assert user is not None and (user["companyId"], user["role"]) == (contoso, 2)

    group = okta.post(
        "/Groups",
        json={"schemas": [GROUP], "displayName": "Senior buyers", "members": [{"value": ada_id}]},
    )
    assert group.status_code == 201, group.text
    user = world.shop.b2b.user_of(STORE_HASH, ada_customer)
    assert user is not None and user["role"] == 1

    assert set_active(okta, ada_id, False).status_code == 200
    assert world.shop.b2b.user_of(STORE_HASH, ada_customer) is None
    assert set_active(okta, ada_id, True).status_code == 200
    user = world.shop.b2b.user_of(STORE_HASH, ada_customer)
    assert user is not None and (user["companyId"], user["role"]) == (contoso, 1)


def test_a_saml_connection_keyed_on_the_nameid_meets_its_scim_users(
    world: World, idp_server: tuple[ServerThread, Dispatcher]
) -> None:
    saml = saml_world(world, idp_server)
    # Logins are keyed on the persistent NameID, qualified by the IdP: so is the SCIM user
    # whose userName carries it.
    saml.configure(scim={"subject_attribute": "userName", "provision_customers": True})
    entra = scim_client(world, "entra")
    user = ada(userName=saml.idp.name_id, externalId=None)
    created = entra.post("/Users", json=user)
    assert created.status_code == 201, created.text
    [link] = world.links()
    assert link["subject"] == f"{saml.idp.entity_id}!{saml.idp.name_id}"
    assert saml.login().landed
    assert len(world.links()) == 1

    assert set_active(entra, created.json()["id"], False).status_code == 200
    refused = saml.login()
    assert refused.refusal.status_code == 403


def test_a_login_in_flight_when_the_person_is_deactivated_is_refused(world: World) -> None:
    world.put_connection(email_verified=True, scim={"provision_customers": True})
    okta = scim_client(world)
    user_id = okta.post("/Users", json=ada()).json()["id"]
    browser = world.browser()
    start = browser.get(f"{world.url}/sso/acme/okta/login")
    at_idp = browser.get(start.headers["location"])
    assert at_idp.status_code == 302
    # Deactivated while the person is at the IdP.
    assert set_active(okta, user_id, False).status_code == 200
    callback = browser.get(at_idp.headers["location"])
    assert callback.status_code == 403
    assert world.events("login", outcome="failure")[-1]["reason"] == "deprovisioned"
