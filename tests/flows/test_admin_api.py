"""The admin API: every endpoint, scope and error, over HTTP against the live service."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.support.world import STORE_HASH, World

ENDPOINTS = [
    ("GET", "/stores", "stores:read"),
    ("PUT", "/stores/acme", "stores:write"),
    ("GET", "/stores/acme", "stores:read"),
    ("DELETE", "/stores/acme", "stores:write"),
    ("POST", "/stores/acme/check-credentials", "stores:read"),
    ("GET", "/stores/acme/connections", "stores:read"),
    ("PUT", "/stores/acme/connections/okta", "stores:write"),
    ("GET", "/stores/acme/connections/okta", "stores:read"),
    ("DELETE", "/stores/acme/connections/okta", "stores:write"),
    ("POST", "/stores/acme/connections/okta/test-login", "stores:read"),
    ("GET", "/stores/acme/links", "links:read"),
    ("POST", "/stores/acme/links", "links:write"),
    ("GET", "/stores/acme/links/1", "links:read"),
    ("PATCH", "/stores/acme/links/1", "links:write"),
    ("DELETE", "/stores/acme/links/1", "links:write"),
    ("GET", "/stores/acme/events", "events:read"),
]
ALL_SCOPES = {"stores:read", "stores:write", "links:read", "links:write", "events:read"}


def store_body(world: World, **overrides: object) -> dict[str, object]:
    return {
        "store_hash": STORE_HASH,
        "client_id": world.shop_store.client_id,
        "client_secret": world.shop_store.client_secret,
        "api_token": world.shop_store.api_token,
        "api_base_url": world.shop.base_url,
        "default_channel_id": 1,
        "channels": [
            {
                "channel_id": 1,
                "kind": "hosted",
                "storefront_url": world.shop.storefront_url(STORE_HASH, 1),
            }
        ],
        **overrides,
    }


def connection_body(world: World, **overrides: object) -> dict[str, object]:
    return {
        "protocol": "oidc",
        "issuer": world.op.issuer,
        "client_id": "adapter-client",
        "client_secret": world.client_secret,
        "channel_ids": [1],
        **overrides,
    }


# -- authentication and scopes --------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
def test_every_endpoint_refuses_a_missing_or_unknown_token_with_401(
    world: World, method: str, path: str, scope: str
) -> None:
    for client in (world.admin(None), world.admin("ssoa_not-a-token")):
        answer = client.request(method, path, json={})
        assert answer.status_code == 401
        assert answer.json()["error"] == "unauthenticated"


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
def test_every_endpoint_refuses_a_token_without_its_scope_with_403(
    world: World, method: str, path: str, scope: str
) -> None:
    token = world.create_token("narrow", *(ALL_SCOPES - {scope}))
    answer = world.admin(token).request(method, path, json={})
    assert answer.status_code == 403
    assert answer.json()["error"] == "forbidden"


def test_a_created_token_is_stored_only_as_a_hash_and_works_with_its_scope(world: World) -> None:
    token = world.create_token("reader", "stores:read")
    assert world.admin(token).get("/stores").status_code == 200
    with world.engine.connect() as conn:
        stored = " ".join(
            str(v) for row in conn.execute(sa.text("SELECT * FROM admin_tokens")) for v in row
        )
    assert token not in stored


# -- stores ---------------------------------------------------------------------------------


def test_store_lifecycle_create_replace_read_list_delete(world: World) -> None:
    admin = world.admin()
    created = admin.put("/stores/shop-two", json=store_body(world))
    assert created.status_code == 201
    view = created.json()
    assert view["slug"] == "shop-two" and view["channels"][0]["kind"] == "hosted"
    assert "client_secret" not in view and "api_token" not in view

    replaced = admin.put("/stores/shop-two", json=store_body(world, bind_request_ip=True))
    assert replaced.status_code == 200 and replaced.json()["bind_request_ip"] is True
    assert admin.get("/stores/shop-two").json()["bind_request_ip"] is True
    assert {s["slug"] for s in admin.get("/stores").json()["items"]} == {"acme", "shop-two"}

    assert admin.delete("/stores/shop-two").status_code == 204
    assert admin.get("/stores/shop-two").status_code == 404
    with world.engine.connect() as conn:
        kinds = (
            conn.execute(
                sa.text("SELECT kind FROM audit_events WHERE store_slug = 'shop-two' ORDER BY id")
            )
            .scalars()
            .all()
        )
    assert kinds == ["store.created", "store.updated", "store.deleted"]  # the trail outlives it


def test_a_recreated_store_does_not_show_its_namesakes_events_or_earlier_attempts(
    world: World,
) -> None:
    admin = world.admin()
    world.login(store="later-shop")  # an attempt before the store exists
    assert admin.put("/stores/later-shop", json=store_body(world)).status_code == 201
    assert admin.delete("/stores/later-shop").status_code == 204
    assert admin.put("/stores/later-shop", json=store_body(world)).status_code == 201
    events = admin.get("/stores/later-shop/events").json()["items"]
    assert [e["kind"] for e in events] == ["store.created"]


@pytest.mark.parametrize("body", [b"{not json", b'{"a": "\xff"}'], ids=["json", "utf8"])
def test_malformed_body_without_a_token_gets_401_not_a_diagnosis(world: World, body: bytes) -> None:
    answer = world.admin(None).put(
        "/stores/acme", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 401
    assert answer.json()["error"] == "unauthenticated"


def test_test_login_needs_links_read_as_it_reveals_links(world: World) -> None:
    token = world.create_token("config-reader", "stores:read")
    answer = world.admin(token).post(
        "/stores/acme/connections/okta/test-login", json={"claims": {"sub": "x"}}
    )
    assert answer.status_code == 403


def test_concurrent_manual_links_of_one_subject_give_one_201_and_409s(world: World) -> None:
    import threading

    answers: list[int] = []

    def post(i: int) -> None:
        body = {"connection": "okta", "subject": "raced", "customer_id": 500 + i}
        answers.append(world.admin().post("/stores/acme/links", json=body).status_code)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers)[0] == 201 and answers.count(201) == 1
    assert set(answers) == {201, 409}


def test_channel_fields_of_access_token_delivery_are_refused_elsewhere(world: World) -> None:
    channel = {
        "channel_id": 1,
        "kind": "hosted",
        "storefront_url": world.shop.storefront_url(STORE_HASH, 1),
        "storefront_token": "stray",
    }
    answer = world.admin().put("/stores/acme", json=store_body(world, channels=[channel]))
    assert (
        answer.status_code == 422
        and "only go with delivery access_token" in answer.json()["message"]
    )


def test_replacing_a_store_without_secrets_keeps_them(world: World) -> None:
    body = store_body(world)
    del body["client_secret"], body["api_token"]
    assert world.admin().put("/stores/acme", json=body).status_code == 200
    assert world.login().landed


def test_creating_a_store_without_its_secrets_is_refused_naming_the_field(world: World) -> None:
    body = store_body(world)
    del body["client_secret"]
    answer = world.admin().put("/stores/new-shop", json=body)
    assert answer.status_code == 422
    assert answer.json()["field"] == "client_secret"
    assert world.admin().get("/stores/new-shop").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"store_hash": "Not A Hash!"}, "store_hash"),
        ({"api_base_url": "http://api.example.com"}, "api_base_url"),
        ({"default_channel_id": 9}, None),
        ({"channels": []}, "channels"),
        ({"unknown_field": 1}, "unknown_field"),
        ({"channels": [{"channel_id": 1, "kind": "hosted", "storefront_url": "ftp://x"}]}, None),
    ],
)
def test_invalid_store_bodies_are_refused_with_422_and_nothing_written(
    world: World, change: dict[str, object], field: str | None
) -> None:
    answer = world.admin().put("/stores/bad-shop", json=store_body(world, **change))
    assert answer.status_code == 422
    body = answer.json()
    assert body["error"] and body["message"]
    if field:
        assert body["field"].startswith(field)
    assert world.admin().get("/stores/bad-shop").status_code == 404


def test_invalid_slug_is_refused(world: World) -> None:
    assert world.admin().put("/stores/Bad_Slug", json=store_body(world)).status_code == 422


def test_store_credentials_can_be_checked_on_demand(world: World) -> None:
    assert world.admin().post("/stores/acme/check-credentials").json() == {
        "ok": True,
        "message": "the API token can read customers",
    }
    world.put_store(api_token="wrong")
    check = world.admin().post("/stores/acme/check-credentials").json()
    assert check["ok"] is False and "401" in check["message"]


def test_unknown_store_is_404_everywhere(world: World) -> None:
    admin = world.admin()
    for method, path in [
        ("GET", "/stores/nope"),
        ("DELETE", "/stores/nope"),
        ("GET", "/stores/nope/connections"),
        ("GET", "/stores/nope/links"),
        ("GET", "/stores/nope/events"),
    ]:
        answer = admin.request(method, path)
        assert answer.status_code == 404, (method, path)
        assert answer.json()["error"] == "store_not_found"


def test_deleting_a_store_deletes_its_connections_and_links(world: World) -> None:
    assert world.login().landed
    assert world.admin().delete("/stores/acme").status_code == 204
    assert world.links() == []
    with world.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM connections")).scalar_one() == 0


# -- connections ----------------------------------------------------------------------------


def test_connection_lifecycle(world: World) -> None:
    admin = world.admin()
    created = admin.put(
        "/stores/acme/connections/entra", json=connection_body(world, scopes=["openid", "email"])
    )
    assert created.status_code == 201, created.text
    assert created.json()["scopes"] == ["openid", "email"]
    assert "client_secret" not in created.json()
    assert created.json()["has_client_secret"] is True
    assert (
        admin.put("/stores/acme/connections/entra", json=connection_body(world)).status_code == 200
    )
    assert {c["slug"] for c in admin.get("/stores/acme/connections").json()["items"]} == {
        "okta",
        "entra",
    }
    assert admin.get("/stores/acme/connections/entra").json()["protocol"] == "oidc"
    assert admin.delete("/stores/acme/connections/entra").status_code == 204
    assert admin.get("/stores/acme/connections/entra").status_code == 404


def test_connection_whose_issuer_has_no_usable_discovery_is_refused(world: World) -> None:
    answer = world.admin().put(
        "/stores/acme/connections/broken", json=connection_body(world, issuer="http://127.0.0.1:9")
    )
    assert answer.status_code == 422
    assert answer.json()["field"] == "issuer"
    world.op.hooks.discovery = lambda d: {**d, "issuer": "https://elsewhere.example"}
    answer = world.admin().put("/stores/acme/connections/broken", json=connection_body(world))
    assert answer.status_code == 422 and "issuer" in answer.json()["message"]


@pytest.mark.parametrize(
    ("change", "field", "error"),
    [
        ({"channel_ids": [7]}, None, "unknown_channel"),
        (
            {"group_mappings": [{"group": "x", "customer_group_id": "seven"}]},
            "group_mappings",
            None,
        ),
        ({"scopes": ["email"]}, "scopes", None),
        ({"issuer": "http://idp.example.com"}, "issuer", "invalid_url"),
        ({"protocol": "ldap"}, None, None),
    ],
)
def test_invalid_connection_bodies_are_refused(
    world: World, change: dict[str, object], field: str | None, error: str | None
) -> None:
    answer = world.admin().put(
        "/stores/acme/connections/bad", json=connection_body(world, **change)
    )
    assert answer.status_code == 422, answer.text
    if field:
        assert answer.json()["field"].startswith(field)
    if error:
        assert answer.json()["error"] == error
    assert world.admin().get("/stores/acme/connections/bad").status_code == 404


def test_connection_trusted_audiences_round_trip_and_default_to_none(world: World) -> None:
    admin = world.admin()
    body = connection_body(world, trusted_audiences=["reporting-api", "urn:example:audit"])
    assert admin.put("/stores/acme/connections/entra", json=body).status_code == 201
    read = admin.get("/stores/acme/connections/entra").json()
    assert read["trusted_audiences"] == ["reporting-api", "urn:example:audit"]

    assert admin.put("/stores/acme/connections/entra", json=connection_body(world)).status_code
    assert admin.get("/stores/acme/connections/entra").json()["trusted_audiences"] == []


@pytest.mark.parametrize(
    "audiences",
    [["api", "api"], ["api "], [" api"], [""], ["api\u200b"], ["adapter-client"], "api"],
    ids=[
        "repeated",
        "trailing-space",
        "leading-space",
        "empty",
        "zero-width-space",
        "the-client-itself",
        "not-a-list",
    ],
)
def test_connection_with_unusable_trusted_audiences_is_refused(
    world: World, audiences: object
) -> None:
    answer = world.admin().put(
        "/stores/acme/connections/bad", json=connection_body(world, trusted_audiences=audiences)
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"].startswith("trusted_audiences")
    assert world.admin().get("/stores/acme/connections/bad").status_code == 404


def test_connection_without_secret_on_create_is_refused(world: World) -> None:
    body = connection_body(world)
    del body["client_secret"]
    answer = world.admin().put("/stores/acme/connections/new", json=body)
    assert answer.status_code == 422 and answer.json()["field"] == "client_secret"


# -- links ----------------------------------------------------------------------------------


def test_links_list_filters_and_pages(world: World) -> None:
    assert world.login().landed
    admin = world.admin()
    for i in range(3):
        assert (
            admin.post(
                "/stores/acme/links",
                json={"connection": "okta", "subject": f"s{i}", "customer_id": 100 + i},
            ).status_code
            == 201
        )
    page = admin.get("/stores/acme/links", params={"limit": 2}).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = admin.get(
        "/stores/acme/links", params={"limit": 2, "cursor": page["next_cursor"]}
    ).json()
    assert len(rest["items"]) == 2 and rest["next_cursor"] is None
    assert {i["subject"] for i in page["items"] + rest["items"]} == {"sub-ada", "s0", "s1", "s2"}
    assert [
        i["subject"]
        for i in admin.get("/stores/acme/links", params={"subject": "s1"}).json()["items"]
    ] == ["s1"]
    assert [
        i["subject"]
        for i in admin.get("/stores/acme/links", params={"customer_id": 102}).json()["items"]
    ] == ["s2"]
    assert [
        i["subject"]
        for i in admin.get("/stores/acme/links", params={"email": "ada@example.com"}).json()[
            "items"
        ]
    ] == ["sub-ada"]
    assert len(admin.get("/stores/acme/links", params={"connection": "okta"}).json()["items"]) == 4
    assert admin.get("/stores/acme/links", params={"connection": "other"}).json()["items"] == []
    link = page["items"][0]
    assert set(link) == {
        "id",
        "connection",
        "subject",
        "customer_id",
        "email",
        "created_at",
        "last_login_at",
        "login_count",
    }


def test_bad_cursor_and_limit_are_refused(world: World) -> None:
    admin = world.admin()
    assert admin.get("/stores/acme/links", params={"cursor": "garbage!"}).status_code == 400
    assert admin.get("/stores/acme/links", params={"limit": 501}).status_code == 422
    assert admin.get("/stores/acme/links", params={"limit": 0}).status_code == 422


def test_manual_link_then_login_lands_on_that_customer(world: World) -> None:
    existing = world.shop.add_customer(STORE_HASH, "someone.else@example.com")
    answer = world.admin().post(
        "/stores/acme/links",
        json={"connection": "okta", "subject": "sub-ada", "customer_id": existing["id"]},
    )
    assert answer.status_code == 201
    assert world.login().landed
    assert world.shop.acceptances[-1].customer_id == existing["id"]
    assert len(world.customers) == 1


def test_linking_an_already_linked_subject_is_409(world: World) -> None:
    assert world.login().landed
    answer = world.admin().post(
        "/stores/acme/links", json={"connection": "okta", "subject": "sub-ada", "customer_id": 5}
    )
    assert answer.status_code == 409 and answer.json()["error"] == "link_exists"


def test_link_to_unknown_connection_is_404(world: World) -> None:
    answer = world.admin().post(
        "/stores/acme/links", json={"connection": "nope", "subject": "x", "customer_id": 5}
    )
    assert answer.status_code == 404


def test_repoint_and_unlink(world: World) -> None:
    assert world.login().landed
    other = world.shop.add_customer(STORE_HASH, "second@example.com")
    admin = world.admin()
    [link] = admin.get("/stores/acme/links").json()["items"]
    repointed = admin.patch(f"/stores/acme/links/{link['id']}", json={"customer_id": other["id"]})
    assert repointed.status_code == 200 and repointed.json()["customer_id"] == other["id"]
    assert world.login().landed
    assert world.shop.acceptances[-1].customer_id == other["id"]
    assert admin.delete(f"/stores/acme/links/{link['id']}").status_code == 204
    assert admin.get(f"/stores/acme/links/{link['id']}").status_code == 404
    assert world.links() == []


def test_a_link_of_another_store_is_not_found_through_this_store(world: World) -> None:
    assert world.login().landed
    admin = world.admin()
    assert admin.put("/stores/other-shop", json=store_body(world)).status_code == 201
    [link] = admin.get("/stores/acme/links").json()["items"]
    assert admin.get(f"/stores/other-shop/links/{link['id']}").status_code == 404
    assert admin.delete(f"/stores/other-shop/links/{link['id']}").status_code == 404
    assert len(world.links()) == 1


# -- events ---------------------------------------------------------------------------------


def test_events_record_logins_and_changes_with_the_actor(world: World) -> None:
    token = world.create_token("ops-bot", "stores:write", "events:read", "links:write")
    admin = world.admin(token)
    changed = connection_body(world, profile_sync="every_login")
    assert admin.put("/stores/acme/connections/okta", json=changed).status_code == 200
    assert world.login().landed
    assert (
        admin.post(
            "/stores/acme/links", json={"connection": "okta", "subject": "x", "customer_id": 9}
        ).status_code
        == 201
    )
    events = admin.get("/stores/acme/events").json()["items"]
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "link.created" and "login" in kinds and "connection.updated" in kinds
    assert {
        e["actor"]
        for e in events
        if e["kind"] in ("connection.updated", "link.created") and e["reason"] != "by_created"
    } >= {"ops-bot"}
    only_logins = admin.get("/stores/acme/events", params={"kind": "login"}).json()["items"]
    assert [e["outcome"] for e in only_logins] == ["success"]
    page = admin.get("/stores/acme/events", params={"limit": 1}).json()
    second = admin.get(
        "/stores/acme/events", params={"limit": 1, "cursor": page["next_cursor"]}
    ).json()
    assert page["items"][0]["id"] > second["items"][0]["id"]


def test_failed_logins_are_in_the_events_with_their_reference(world: World) -> None:
    world.login(redirect_to="//evil.example")
    [event] = (
        world.admin().get("/stores/acme/events", params={"outcome": "failure"}).json()["items"]
    )
    assert event["reason"] == "redirect_to_invalid" and len(event["reference"]) == 12


# -- dry-run test login ---------------------------------------------------------------------


def _test_login(world: World, **claims: object) -> dict[str, object]:
    base = {"sub": "sub-new", "email": "new@example.com", "email_verified": True}
    answer = world.admin().post(
        "/stores/acme/connections/okta/test-login", json={"claims": {**base, **claims}}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_test_login_names_settings_that_cannot_work_together(world: World) -> None:
    # An Entra ID-like SAML connection: creates customers, vouches for no e-mail, and its IdP
    # sends e-mail NameIDs while logins are keyed on a persistent one.
    from tests.support.certificates import idp_metadata

    metadata = idp_metadata().replace(
        "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
        "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    )
    body = {"protocol": "saml", "idp_metadata_xml": metadata, "channel_ids": [1]}
    assert world.admin().put("/stores/acme/connections/corp", json=body).status_code == 201
    answer = world.admin().post(
        "/stores/acme/connections/corp/test-login",
        json={"claims": {"name_id": "a@b.example", "attributes": {}}},
    )
    assert answer.status_code == 200, answer.text
    codes = {w["code"]: w for w in answer.json()["warnings"]}
    assert set(codes) == {
        "saml_email_never_verified",
        "saml_nameid_not_persistent",
        "channel_unreachable",
    }
    assert codes["saml_nameid_not_persistent"]["field"] == "subject_attribute"
    assert "every login will be refused" in codes["saml_nameid_not_persistent"]["message"]


def test_test_login_for_a_new_person_would_create_the_customer_and_writes_nothing(
    world: World,
) -> None:
    result = _test_login(world, given_name="Nia", family_name="Okafor")
    assert result["outcome"] == "login" and result["action"] == "create_customer"
    assert result["customer_to_create"]["first_name"] == "Nia"
    assert result["customer_to_create"]["channel_ids"] == [1]
    assert result["jwt_claims"]["operation"] == "customer_login"
    assert world.customers == {} and world.links() == [] and world.events() == []


def test_test_login_for_a_linked_subject_uses_the_link(world: World) -> None:
    assert world.login().landed
    result = _test_login(world, sub="sub-ada", email="ada@example.com")
    assert result["action"] == "use_link" and result["customer_id"] == 1
    assert result["jwt_claims"]["customer_id"] == 1


def test_test_login_shows_the_email_rules(world: World) -> None:
    existing = world.shop.add_customer(STORE_HASH, "new@example.com")
    assert _test_login(world)["reason"] == "email_in_use"
    world.put_connection(link_by_email=True)
    result = _test_login(world)
    assert result["action"] == "link_by_email" and result["customer_id"] == existing["id"]
    # As the login answers: an unverified e-mail links nothing and creates nothing.
    assert _test_login(world, email_verified=False)["reason"] == "email_unverified"


def test_test_login_refuses_a_look_alike_email_as_the_real_login_does(world: World) -> None:
    world.shop.add_customer(STORE_HASH, "kate@example.com")
    world.put_connection(link_by_email=True)
    result = _test_login(world, email="\u212aate@example.com")  # Kelvin sign
    assert result["outcome"] == "refused" and result["reason"] == "email_not_ascii"
    assert world.links() == []


def test_test_login_names_several_customers_with_the_email_as_ambiguous(world: World) -> None:
    world.shop.add_customer(STORE_HASH, "new@example.com")
    world.shop.add_customer(STORE_HASH, "NEW@example.com")
    world.put_connection(link_by_email=True)
    assert _test_login(world)["reason"] == "email_ambiguous"


def test_test_login_refuses_claims_without_the_subject(world: World) -> None:
    answer = world.admin().post(
        "/stores/acme/connections/okta/test-login", json={"claims": {"email": "x@example.com"}}
    )
    assert answer.json()["outcome"] == "refused" and answer.json()["reason"] == "subject_missing"


def test_test_login_refuses_a_channel_the_connection_does_not_open(world: World) -> None:
    answer = world.admin().post(
        "/stores/acme/connections/okta/test-login", json={"claims": {"sub": "a"}, "channel_id": 2}
    )
    assert answer.json()["reason"] == "channel_not_allowed"


# -- secrets --------------------------------------------------------------------------------


def test_no_secret_appears_in_any_answer_log_line_or_audit_event(world: World, capsys) -> None:
    secrets = {
        "client_secret": "store-client-secret-" + "s" * 20,
        "api_token": world.shop_store.api_token,
        "app_client_secret": "app-secret-" + "a" * 20,
        "connection_secret": world.client_secret,
    }
    admin = world.admin()
    answers = [
        admin.put(
            "/stores/acme",
            json=store_body(
                world,
                client_secret=secrets["client_secret"],
                app_client_id="app",
                app_client_secret=secrets["app_client_secret"],
            ),
        ),
        admin.put("/stores/acme/connections/okta", json=connection_body(world)),
        admin.get("/stores"),
        admin.get("/stores/acme"),
        admin.get("/stores/acme/connections"),
        admin.get("/stores/acme/connections/okta"),
        admin.post("/stores/acme/check-credentials"),
        admin.get("/stores/acme/events"),
        admin.put(
            "/stores/acme",
            json=store_body(world, store_hash="BAD", client_secret=secrets["client_secret"]),
        ),
    ]
    text = " ".join(a.text for a in answers)
    captured = capsys.readouterr()
    logs = captured.out + captured.err
    with world.engine.connect() as conn:
        audit = " ".join(
            str(v) for row in conn.execute(sa.text("SELECT * FROM audit_events")) for v in row
        )
    for name, secret in secrets.items():
        assert secret not in text, name
        assert secret not in logs, name
        assert secret not in audit, name


def test_openapi_document_is_served(world: World) -> None:
    document = world.admin(None).get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert "/stores/{store}/links/{link_id}" in document["paths"]
    oidc = document["components"]["schemas"]["OidcConnectionBody"]["properties"]
    assert oidc["trusted_audiences"]["type"] == "array"
    assert oidc["trusted_audiences"]["items"]["type"] == "string"
    assert "required when the connection is created" in oidc["client_secret"]["description"]
    # Every operation says what it does and which scope it needs, matching ENDPOINTS.
    operations = [
        (method.upper(), path, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]
    assert len(operations) == 19
    for method, path, operation in operations:
        assert operation["description"], (method, path)
        assert operation["security"] == [{"HTTPBearer": [operation["x-required-scope"]]}]
    scopes = {(m, p): o["x-required-scope"] for m, p, o in operations}
    for method, path, scope in ENDPOINTS:
        templated = next(p for (m, p) in scopes if m == method and _matches(p, path))
        assert scopes[(method, templated)] == scope, (method, path)
    # A connection is answered in its typed, flat shape.
    got = document["paths"]["/stores/{store}/connections/{connection}"]["get"]
    assert "oneOf" in str(got["responses"]["200"]) or "OidcConnectionView" in str(got)


def _matches(template: str, path: str) -> bool:
    parts, concrete = template.split("/"), path.split("/")
    return len(parts) == len(concrete) and all(
        t == c or (t.startswith("{") and t.endswith("}"))
        for t, c in zip(parts, concrete, strict=True)
    )


def test_saml_connection_with_unparseable_metadata_is_refused_with_the_reason(world: World) -> None:
    body = {"protocol": "saml", "idp_metadata_xml": "<not-metadata", "channel_ids": [1]}
    answer = world.admin().put("/stores/acme/connections/entra", json=body)
    assert answer.status_code == 422
    assert answer.json()["field"] == "idp_metadata_xml"
    assert "does not parse" in answer.json()["message"]


def test_saml_connection_with_valid_metadata_is_saved_with_its_sp_keys(world: World) -> None:
    from tests.support.certificates import idp_metadata

    body = {"protocol": "saml", "idp_metadata_xml": idp_metadata(), "channel_ids": [1]}
    answer = world.admin().put("/stores/acme/connections/entra", json=body)
    assert answer.status_code == 201, answer.text
    assert answer.json()["allow_idp_initiated"] is False
    with world.engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT sp_private_key_sealed, sp_certificate FROM connections WHERE slug='entra'"
            )
        ).one()
    assert row[0].startswith("v1.") and "PRIVATE KEY" not in row[0]
    assert "BEGIN CERTIFICATE" in row[1]


@pytest.mark.parametrize(
    "body", [b"{not json", b'{"slug": "acme",}', b'{"a": "\xff\xfe"}'], ids=repr
)
def test_a_body_that_is_not_utf8_json_is_400_invalid_json_naming_no_field(
    world: World, body: bytes
) -> None:
    answer = world.admin().put(
        "/stores/acme", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_json"
    assert answer.json()["message"].startswith("the body is not valid JSON")
    assert "field" not in answer.json()
