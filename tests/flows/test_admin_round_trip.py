"""GET answers the flat shape PUT takes: a store or connection read, one field edited and put
back changes that field alone and keeps every secret, for stores with headless channels and
B2B Edition and for connections of both protocols."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from adapter.db.models import Channel, Connection, Store
from tests.flows.test_admin_api import connection_body
from tests.flows.test_headless import headless_channels
from tests.support.saml_world import saml_world
from tests.support.servers import ServerThread
from tests.support.world import Dispatcher, World


def sealed(world: World) -> list[Any]:
    with world.engine.connect() as conn:
        return [
            *conn.execute(
                sa.select(
                    Store.client_secret_sealed, Store.api_token_sealed, Store.b2b_api_token_sealed
                )
            ).all(),
            *conn.execute(
                sa.select(Channel.storefront_token_sealed, Channel.exchange_secret_sealed)
            ).all(),
            *conn.execute(
                sa.select(Connection.client_secret_sealed, Connection.sp_private_key_sealed)
            ).all(),
        ]


def round_trip(admin: httpx.Client, path: str, edit: dict[str, Any]) -> dict[str, Any]:
    before = admin.get(path).json()
    put = admin.put(path, json={**before, **edit})
    assert put.status_code == 200, put.text
    after = admin.get(path).json()
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert changed == {*edit, "updated_at"} or changed == set(edit), changed
    return after


def test_a_store_round_trips_with_its_secrets_kept(world: World) -> None:
    headless_channels(world)
    world.shop.b2b.enable(world.shop_store.store_hash)
    admin = world.admin()
    admin.put(
        "/stores/acme",
        json={
            **admin.get("/stores/acme").json(),
            "b2b": {
                "enabled": True,
                "api_base_url": f"{world.shop.base_url}/b2b",
                "api_token": "b2b-token-x",
            },
        },
    )
    secrets_before = sealed(world)
    after = round_trip(admin, "/stores/acme", {"bind_request_ip": True})
    assert after["bind_request_ip"] is True
    assert after["b2b"]["has_own_api_token"] is True
    assert "storefront_token" not in str(after) and "exchange_secret" not in str(after)
    assert sealed(world) == secrets_before
    # The headless channel still exchanges codes: its secrets survived the round trip.
    assert world.login(channel_id="2").callback.status_code == 302


def test_an_oidc_connection_round_trips_with_its_client_secret_kept(world: World) -> None:
    admin = world.admin()
    read = admin.get("/stores/acme/connections/okta").json()
    assert "settings" not in read and read["issuer"] == world.op.issuer
    assert read["has_client_secret"] is True and "client_secret" not in read
    secrets_before = sealed(world)
    after = round_trip(admin, "/stores/acme/connections/okta", {"profile_sync": "every_login"})
    assert after["profile_sync"] == "every_login"
    assert sealed(world) == secrets_before
    assert world.login().landed  # the kept client secret still redeems codes


def test_a_saml_connection_round_trips(
    world: World, idp_server: tuple[ServerThread, Dispatcher]
) -> None:
    saml = saml_world(world, idp_server)
    admin = world.admin()
    secrets_before = sealed(world)
    after = round_trip(admin, "/stores/acme/connections/entra", {"allow_idp_initiated": True})
    assert after["protocol"] == "saml" and after["allow_idp_initiated"] is True
    assert sealed(world) == secrets_before  # the SP key pair too
    assert saml.login().landed


def test_a_body_read_from_one_resource_is_not_put_to_another(world: World) -> None:
    admin = world.admin()
    read = admin.get("/stores/acme/connections/okta").json()
    answer = admin.put("/stores/acme/connections/other", json={**read, **connection_body(world)})
    assert answer.status_code == 422
    assert answer.json()["field"] == "slug"


def config_events(world: World) -> list[dict[str, Any]]:
    return [
        e["details"]
        for e in world.admin().get("/stores/acme/events").json()["items"]
        if e["kind"] in ("store.updated", "connection.updated")
    ]


def test_a_put_that_changes_nothing_is_no_event_and_a_change_says_what(world: World) -> None:
    admin = world.admin()
    path = "/stores/acme/connections/okta"
    before = config_events(world)
    same = admin.get(path).json()
    assert admin.put(path, json=same).status_code == 200
    assert admin.put("/stores/acme", json=admin.get("/stores/acme").json()).status_code == 200
    assert config_events(world) == before
    assert admin.get(path).json()["updated_at"] == same["updated_at"]

    admin.put(path, json={**same, "scopes": ["openid", "email"], "client_secret": "a-new-one"})
    [latest, *_] = config_events(world)
    assert latest["changed"] == {
        "scopes": {"from": ["openid", "email", "profile"], "to": ["openid", "email"]}
    }
    assert latest["secrets_replaced"] == ["client_secret"]
    assert "a-new-one" not in str(latest)

    store = admin.get("/stores/acme").json()
    admin.put("/stores/acme", json={**store, "bind_request_ip": True, "api_token": "tok-new"})
    [latest, *_] = config_events(world)
    assert latest["changed"] == {"bind_request_ip": {"from": False, "to": True}}
    assert latest["secrets_replaced"] == ["api_token"]


def test_the_events_of_a_deleted_store_stay_readable(world: World) -> None:
    admin = world.admin()
    assert world.login().landed
    assert admin.delete("/stores/acme").status_code == 204
    events = admin.get("/stores/acme/events")
    assert events.status_code == 200, events.text
    kinds = [e["kind"] for e in events.json()["items"]]
    assert kinds[0] == "store.deleted" and "login" in kinds
    assert admin.get("/stores/never-was/events").status_code == 404
