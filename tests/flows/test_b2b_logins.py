"""B2B Edition: people signing in through a connection with a `b2b` section land as users of
the right company with the right role, against the B2B Edition emulator over real HTTP
(adapter/sandbox/b2b.py validates every call as B2B Edition's API reference describes it)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.support.saml_idp import ENTRA_EMAIL
from tests.support.saml_world import saml_world
from tests.support.servers import ServerThread
from tests.support.world import STORE_HASH, Dispatcher, Outcome, World

JUNIOR, SENIOR, ADMIN = 2, 1, 0


def _enable_b2b(world: World, **b2b: Any) -> int:
    """B2B Edition on the store, a company `Contoso` for example.com, and the connection's
    `b2b` section (overrides in `b2b`). Returns Contoso's id."""
    if STORE_HASH not in world.shop.b2b.stores:
        world.shop.b2b.enable(STORE_HASH)
    contoso = world.shop.b2b.add_company(STORE_HASH, "Contoso")
    world.put_store(b2b={"enabled": True, "api_base_url": f"{world.shop.base_url}/b2b"})
    world.put_connection(
        groups_claim="groups",
        b2b={"companies": [{"key": "example.com", "company_id": contoso}], **b2b},
    )
    return contoso


def _user(world: World, outcome: Outcome) -> dict[str, Any] | None:
    assert outcome.landed, outcome.final.text[:400]
    customer_id = world.links()[-1].customer_id
    return world.shop.b2b.user_of(STORE_HASH, customer_id)


def _refusal_reason(world: World) -> str:
    failures = world.events(kind="login", outcome="failure")
    assert failures, "the refusal is audited"
    return str(failures[-1]["reason"])


def test_a_first_login_lands_in_the_mapped_company_with_the_default_role(world: World) -> None:
    contoso = _enable_b2b(world)
    user = _user(world, world.login())
    assert user is not None
    assert (user["companyId"], user["role"], user["companyRoleId"]) == (contoso, JUNIOR, None)
    created = world.events(kind="b2b.user_created")
    assert len(created) == 1 and created[0]["details"]["company_id"] == contoso
    # Every call carried the store hash and a token B2B Edition accepts.
    assert world.shop.b2b.calls and all(status != 401 for _, _, status in world.shop.b2b.calls)
    # A returning login finds the user and writes nothing more.
    assert world.login().landed
    assert len(world.events(kind="b2b.user_created")) == 1


def test_the_first_matching_group_gives_a_built_in_role(world: World) -> None:
    _enable_b2b(
        world,
        role_mappings=[
            {"group": "finance", "role": "admin"},
            {"group": "engineering", "role": "senior_buyer"},
        ],
    )
    user = _user(world, world.login())
    assert user is not None and user["role"] == SENIOR


def test_a_group_can_give_a_custom_company_role(world: World) -> None:
    world.shop.b2b.enable(STORE_HASH)
    approvers = world.shop.b2b.add_custom_role(STORE_HASH, "Approvers")
    _enable_b2b(world, role_mappings=[{"group": "engineering", "company_role_id": approvers}])
    user = _user(world, world.login())
    assert user is not None and user["companyRoleId"] == approvers


def test_an_unknown_company_is_refused_and_nothing_is_written(world: World) -> None:
    _enable_b2b(world)
    world.put_connection(b2b={"companies": [{"key": "fabrikam.com", "company_id": 1}]})
    outcome = world.login()
    assert outcome.refusal.status_code == 403
    assert _refusal_reason(world) == "b2b_company_unknown"
    assert world.customers == {} and world.links() == []
    assert world.shop.b2b.calls == []


def test_a_user_of_another_company_is_refused_and_not_moved(world: World) -> None:
    contoso = _enable_b2b(world)
    assert world.login().landed
    fabrikam = world.shop.b2b.add_company(STORE_HASH, "Fabrikam")
    world.put_connection(b2b={"companies": [{"key": "example.com", "company_id": fabrikam}]})
    outcome = world.login()
    assert outcome.refusal.status_code == 403
    assert _refusal_reason(world) == "b2b_company_mismatch"
    user = world.shop.b2b.user_of(STORE_HASH, world.links()[-1].customer_id)
    assert user is not None and user["companyId"] == contoso


@pytest.mark.parametrize("sync", ["on_create", "every_login"])
def test_a_changed_role_is_written_back_only_under_every_login(world: World, sync: str) -> None:
    contoso = _enable_b2b(world)
    assert world.login().landed
    world.put_connection(
        profile_sync=sync,
        groups_claim="groups",
        b2b={
            "companies": [{"key": "example.com", "company_id": contoso}],
            "role_mappings": [{"group": "engineering", "role": "senior_buyer"}],
        },
    )
    user = _user(world, world.login())
    assert user is not None
    changes = world.events(kind="b2b.role_changed")
    if sync == "every_login":
        assert user["role"] == SENIOR
        assert len(changes) == 1 and changes[0]["details"]["to"] == "senior_buyer"
    else:
        assert user["role"] == JUNIOR and changes == []


def test_a_company_is_created_once_for_people_signing_in_at_the_same_moment(
    world: World,
) -> None:
    world.shop.b2b.enable(STORE_HASH)
    world.put_store(b2b={"enabled": True, "api_base_url": f"{world.shop.base_url}/b2b"})
    world.put_connection(b2b={"create_companies": True, "company_customer_group_id": 3})
    people = ["ada", *(f"person{i}" for i in range(4))]
    for name in people[1:]:
        world.op.add_user(name, "pw", email=f"{name}@example.com", email_verified=True, groups=[])
    outcomes: dict[str, Outcome] = {}

    def sign_in(name: str) -> None:
        outcomes[name] = world.login(login_hint=name)

    threads = [threading.Thread(target=sign_in, args=(name,)) for name in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(o.landed for o in outcomes.values()), {
        n: o.final.status_code for n, o in outcomes.items()
    }
    companies = world.shop.b2b.stores[STORE_HASH].companies
    assert [c["name"] for c in companies.values()] == ["example.com"]
    (company,) = companies.values()
    assert company["customerGroupId"] == 3
    users = world.shop.b2b.stores[STORE_HASH].users.values()
    assert sorted(u["email"] for u in users) == sorted(f"{n}@example.com" for n in people)
    # The creator was made the admin with the company; then it got the default role.
    assert {u["role"] for u in users} == {JUNIOR}
    assert len(world.events(kind="b2b.company_created")) == 1


def test_a_store_without_b2b_never_calls_b2b_edition(world: World) -> None:
    world.shop.b2b.enable(STORE_HASH)
    world.put_connection(b2b={"create_companies": True})
    assert world.login().landed
    assert world.shop.b2b.calls == []


def test_b2b_editions_rate_limit_is_waited_out(world: World) -> None:
    contoso = _enable_b2b(world)
    world.shop.b2b.fail_next(429, method="POST", resets_after="0.2 s")
    user = _user(world, world.login())
    assert user is not None and user["companyId"] == contoso
    assert [s for m, _, s in world.shop.b2b.calls if m == "POST"] == [429, 200]


def test_a_b2b_edition_failure_is_a_502_and_a_retry_completes_the_login(world: World) -> None:
    contoso = _enable_b2b(world)
    world.shop.b2b.fail_next(500, method="POST")
    outcome = world.login()
    assert outcome.refusal.status_code == 502
    assert world.shop.b2b.stores[STORE_HASH].users == {}
    user = _user(world, world.login())
    assert user is not None and user["companyId"] == contoso


def test_the_b2b_token_never_shows_in_answers_events_or_logs(
    world: World, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    world.shop.b2b.enable(STORE_HASH, own_token=True)
    token = world.shop.b2b.stores[STORE_HASH].token
    assert token
    world.put_store(
        b2b={"enabled": True, "api_base_url": f"{world.shop.base_url}/b2b", "api_token": token}
    )
    answer = world.admin().get(f"{world.url}/admin/v1/stores/acme")
    assert answer.status_code == 200
    assert token not in answer.text and answer.json()["b2b"]["has_own_api_token"] is True
    contoso = world.shop.b2b.add_company(STORE_HASH, "Contoso")
    world.put_connection(b2b={"companies": [{"key": "example.com", "company_id": contoso}]})
    assert _user(world, world.login()) is not None
    assert all(token not in str(dict(e)) for e in world.events())
    written = capsys.readouterr()
    assert written.out and token not in written.out + written.err
    assert token not in caplog.text


def test_headless_access_token_delivery_hands_over_the_b2b_storefront_token(
    world: World,
) -> None:
    from tests.flows.test_headless import code_of, exchange, headless_channels

    world.shop.b2b.enable(STORE_HASH)
    contoso = world.shop.b2b.add_company(STORE_HASH, "Contoso")
    b2b = {"enabled": True, "api_base_url": f"{world.shop.base_url}/b2b"}
    headless_channels(world, store={"b2b": b2b})
    world.put_connection(
        channel_ids=[1, 2], b2b={"companies": [{"key": "example.com", "company_id": contoso}]}
    )
    answer = exchange(world, code_of(world.login(channel_id=2)))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    # Issued by B2B Edition for this customer and channel, against the access token the
    # adapter got from BigCommerce's GraphQL login for that customer.
    holder = world.shop.b2b.storefront_token_holder(STORE_HASH, body["b2b_token"])
    assert holder == (body["customer_id"], 2)
    user = world.shop.b2b.user_of(STORE_HASH, body["customer_id"])
    assert user is not None and user["companyId"] == contoso
    with world.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT * FROM exchange_codes").all()
    assert all(body["b2b_token"] not in str(row) for row in stored)


def test_the_dry_run_shows_the_company_and_role_without_writing(world: World) -> None:
    contoso = _enable_b2b(world, role_mappings=[{"group": "engineering", "role": "admin"}])
    test_login = f"{world.url}/admin/v1/stores/acme/connections/okta/test-login"
    claims = {
        "iss": world.op.issuer,
        "sub": "sub-grace",
        "email": "grace@example.com",
        "email_verified": True,
        "groups": ["engineering"],
    }
    answer = world.admin().post(test_login, json={"claims": claims})
    assert answer.status_code == 200, answer.text
    assert answer.json()["b2b"] == {
        "company_key": "example.com",
        "company_id": contoso,
        "create_company": False,
        "role": "admin",
        "already_a_user": False,
    }
    refused = world.admin().post(
        test_login, json={"claims": {**claims, "email": "grace@fabrikam.com"}}
    )
    assert refused.json()["outcome"] == "refused"
    assert refused.json()["reason"] == "b2b_company_unknown"
    assert world.shop.b2b.stores[STORE_HASH].users == {} and world.customers == {}


def test_a_new_b2b_url_needs_the_token_it_will_get_given_again(world: World) -> None:
    _enable_b2b(world)
    admin = world.admin()
    store = f"{world.url}/admin/v1/stores/acme"
    body = {
        "store_hash": STORE_HASH,
        "client_id": world.shop_store.client_id,
        "default_channel_id": 1,
        "channels": [
            {
                "channel_id": 1,
                "kind": "hosted",
                "storefront_url": world.shop.storefront_url(STORE_HASH, 1),
            }
        ],
        "api_base_url": world.shop.base_url,
    }
    moved = {**body, "b2b": {"enabled": True, "api_base_url": "https://b2b.attacker.example"}}
    answer = admin.put(store, json=moved)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "api_token"
    same = {**body, "b2b": {"enabled": True, "api_base_url": f"{world.shop.base_url}/b2b"}}
    assert admin.put(store, json=same).status_code == 200


def test_a_saml_login_lands_in_its_company_with_the_role_of_its_group_attribute(
    world: World, idp_server: tuple[ServerThread, Dispatcher]
) -> None:
    saml = saml_world(world, idp_server)
    groups = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
    saml.idp.attributes[groups] = ["purchasing-leads"]
    world.shop.b2b.enable(STORE_HASH)
    contoso = world.shop.b2b.add_company(STORE_HASH, "Contoso")
    world.put_store(b2b={"enabled": True, "api_base_url": f"{world.shop.base_url}/b2b"})
    saml.configure(
        groups_attribute=groups,
        b2b={
            "companies": [{"key": "example.com", "company_id": contoso}],
            "role_mappings": [{"group": "purchasing-leads", "role": "senior_buyer"}],
        },
    )
    outcome = saml.login()
    assert outcome.landed, outcome.final.text[:400]
    user = world.shop.b2b.user_of(STORE_HASH, world.links()[-1].customer_id)
    assert user is not None and (user["companyId"], user["role"]) == (contoso, SENIOR)
    # Someone of another domain: refused before anything is written for them.
    saml.idp.attributes[ENTRA_EMAIL] = ["grace@fabrikam.com"]
    saml.idp.name_id = "grace-persistent-0002"
    refused = saml.login()
    assert refused.refusal.status_code == 403
    assert _refusal_reason(world) == "b2b_company_unknown"
    assert len(world.links()) == 1
