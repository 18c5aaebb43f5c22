"""SCIM tokens through the admin API: made for one connection and shown once, listed without
the token, stored only as a hash, revoked; each change audited."""

from __future__ import annotations

import sqlalchemy as sa

from tests.support.world import World

TOKENS = "/stores/acme/connections/okta/scim-tokens"


def test_a_token_is_shown_once_listed_without_itself_and_revoked(world: World) -> None:
    admin = world.admin()
    made = admin.post(TOKENS)
    assert made.status_code == 201, made.text
    body = made.json()
    assert set(body) == {"id", "token", "created_at"}
    token = body["token"]
    assert token.startswith("ssoa_scim_") and len(token) > 40

    listed = admin.get(TOKENS)
    assert listed.status_code == 200
    assert listed.json()["items"] == [
        {"id": body["id"], "created_at": body["created_at"], "last_used_at": None}
    ]
    assert token not in listed.text
    with world.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM scim_tokens")).all()
        events = conn.execute(sa.text("SELECT * FROM audit_events")).all()
    assert len(rows) == 1 and all(token not in str(row) for row in rows)
    assert all(token not in str(event) for event in events)

    assert admin.delete(f"{TOKENS}/{body['id']}").status_code == 204
    assert admin.get(TOKENS).json()["items"] == []
    assert admin.delete(f"{TOKENS}/{body['id']}").status_code == 404
    kinds = [e["kind"] for e in world.events() if e["kind"].startswith("scim_token.")]
    assert kinds == ["scim_token.created", "scim_token.revoked"]


def test_tokens_belong_to_one_connection(world: World) -> None:
    world.put_connection("entra-oidc")
    admin = world.admin()
    made = admin.post(TOKENS).json()
    other = "/stores/acme/connections/entra-oidc/scim-tokens"
    assert admin.get(other).json()["items"] == []
    # Revoked only through its own connection.
    assert admin.delete(f"{other}/{made['id']}").status_code == 404
    assert len(admin.get(TOKENS).json()["items"]) == 1


def test_tokens_of_an_unknown_connection_or_without_the_scope_are_refused(
    world: World,
) -> None:
    admin = world.admin()
    assert admin.post("/stores/acme/connections/nope/scim-tokens").status_code == 404
    assert admin.post("/stores/nope/connections/okta/scim-tokens").status_code == 404
    reader = world.admin(world.create_token("reader", "stores:read"))
    assert reader.post(TOKENS).status_code == 403
    assert reader.get(TOKENS).status_code == 200
    assert world.admin(None).get(TOKENS).status_code == 401


def test_a_connection_deleted_takes_its_tokens_with_it(world: World) -> None:
    admin = world.admin()
    admin.post(TOKENS)
    assert admin.delete("/stores/acme/connections/okta").status_code == 204
    with world.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM scim_tokens")).scalar_one() == 0


def test_the_cli_makes_lists_and_revokes_a_connections_tokens(world: World) -> None:
    from tests.flows.test_cli_config import cli

    where = ("--store", "acme", "--connection", "okta")
    made = cli(world, "scim-token", "create", *where)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("ssoa_scim_") and "shown once" in made.stderr
    listed = cli(world, "scim-token", "list", *where)
    assert listed.returncode == 0 and token not in listed.stdout
    token_id = listed.stdout.split("\t", 1)[0]
    assert world.admin().get(TOKENS).json()["items"][0]["id"] == int(token_id)
    assert cli(world, "scim-token", "revoke", *where, "--id", token_id).returncode == 0
    assert world.admin().get(TOKENS).json()["items"] == []
    unknown = cli(world, "scim-token", "create", "--store", "acme", "--connection", "nope")
    assert unknown.returncode == 2 and "nope" in unknown.stderr
    actors = {e["actor"] for e in world.events() if e["kind"].startswith("scim_token.")}
    assert actors == {"cli:scim-token"}
