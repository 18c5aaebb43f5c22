"""`sso-adapter token`, `apply` and `rotate-secrets`, run as the operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.world import CLIENT_ID, SECRET_KEY, STORE_HASH, World

SSO_ADAPTER = str(Path(sys.executable).parent / "sso-adapter")


def cli(world: World, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "SSO_ADAPTER_DATABASE_URL": world.database_url,
        "SSO_ADAPTER_SECRET_KEY": SECRET_KEY,
        "SSO_ADAPTER_ALLOW_INSECURE_LOOPBACK": "true",
        **env,
    }
    return subprocess.run(
        [SSO_ADAPTER, *args], capture_output=True, text=True, env=environment, timeout=60
    )


# -- tokens ---------------------------------------------------------------------------------


def test_listing_no_tokens_says_so(world: World) -> None:
    listed = cli(world, "token", "list")
    assert listed.returncode == 0 and listed.stdout == ""
    assert "no admin tokens" in listed.stderr
    scim = cli(world, "scim-token", "list", "--store", "acme", "--connection", "okta")
    assert scim.returncode == 0 and "no SCIM tokens for acme/okta" in scim.stderr


def test_token_create_prints_a_working_token_once(world: World) -> None:
    done = cli(world, "token", "create", "--name", "ci", "--scope", "stores:read", "links:read")
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token.startswith("ssoa_") and len(token) > 40
    assert world.admin(token).get("/stores").status_code == 200
    assert world.admin(token).get("/stores/acme/events").status_code == 403
    listed = cli(world, "token", "list")
    assert "ci\tlinks:read stores:read" in listed.stdout and token not in listed.stdout


def test_token_create_refuses_unknown_scopes_and_taken_names(world: World) -> None:
    bad = cli(world, "token", "create", "--name", "x", "--scope", "root")
    assert (
        bad.returncode == 2 and "unknown scope" in bad.stderr and len(bad.stderr.splitlines()) == 1
    )
    assert cli(world, "token", "create", "--name", "x", "--scope", "events:read").returncode == 0
    again = cli(world, "token", "create", "--name", "x", "--scope", "events:read")
    assert again.returncode == 2 and "exists" in again.stderr


def test_token_revoke_stops_the_token(world: World) -> None:
    token = cli(world, "token", "create", "--name", "old", "--scope", "stores:read").stdout.strip()
    assert cli(world, "token", "revoke", "--name", "old").returncode == 0
    assert world.admin(token).get("/stores").status_code == 401
    assert cli(world, "token", "revoke", "--name", "old").returncode == 2


# -- apply ----------------------------------------------------------------------------------


def apply_yaml(world: World, scopes: str = "[openid, email, profile]", extra: str = "") -> str:
    return f"""
stores:
  shop-eu:
    store_hash: {STORE_HASH}
    client_id: {world.shop_store.client_id}
    client_secret_env: TEST_CLIENT_SECRET
    api_token: {world.shop_store.api_token}
    api_base_url: {world.shop.base_url}
    channels:
      - channel_id: 1
        kind: hosted
        storefront_url: "{world.shop.storefront_url(STORE_HASH, 1)}"
    connections:
      okta:
        protocol: oidc
        issuer: {world.op.issuer}
        client_id: adapter-client
        client_secret: {world.client_secret}
        scopes: {scopes}
        channel_ids: [1]
{extra}"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return str(path)


def config_events(world: World) -> int:
    with world.engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT count(*) FROM audit_events WHERE actor = 'cli:apply'")
        ).scalar_one()


def test_apply_creates_then_a_second_run_changes_nothing(world: World, tmp_path: Path) -> None:
    env = {"TEST_CLIENT_SECRET": world.shop_store.client_secret}
    path = write(tmp_path, apply_yaml(world))
    first = cli(world, "apply", path, **env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "store shop-eu: created",
        "connection shop-eu/okta: created",
    ]
    assert world.admin().get("/stores/shop-eu/connections/okta").status_code == 200
    events = config_events(world)

    second = cli(world, "apply", path, **env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == [
        "store shop-eu: unchanged",
        "connection shop-eu/okta: unchanged",
        "nothing to change",
    ]
    assert config_events(world) == events


def test_apply_on_a_database_sealed_with_another_key_says_which_secret_and_why(
    world: World, tmp_path: Path
) -> None:
    env = {"TEST_CLIENT_SECRET": world.shop_store.client_secret}
    path = write(tmp_path, apply_yaml(world))
    assert cli(world, "apply", path, **env).returncode == 0
    wrong = cli(
        world, "apply", path, SSO_ADAPTER_SECRET_KEY="another-master-key-" + "k" * 20, **env
    )
    assert wrong.returncode != 0
    assert "stored secret store:shop-eu:" in wrong.stderr
    assert "SSO_ADAPTER_SECRET_KEY" in wrong.stderr


def test_apply_dry_run_names_settings_that_cannot_work_together(
    world: World, tmp_path: Path
) -> None:
    env = {"TEST_CLIENT_SECRET": world.shop_store.client_secret}
    with_outlet = apply_yaml(world).replace(
        "    connections:\n",
        "      - channel_id: 2\n        kind: hosted\n"
        f'        storefront_url: "{world.shop.storefront_url(STORE_HASH, 2)}"\n'
        "    connections:\n",
    )
    dry = cli(world, "apply", "--dry-run", write(tmp_path, with_outlet), **env)
    assert dry.returncode == 0, dry.stderr
    [warning] = [line for line in dry.stdout.splitlines() if line.startswith("warning:")]
    assert warning.startswith("warning: stores.shop-eu.channels[2]: No connection lists channel 2")


def test_apply_dry_run_prints_the_differences_and_writes_nothing(
    world: World, tmp_path: Path
) -> None:
    env = {"TEST_CLIENT_SECRET": world.shop_store.client_secret}
    assert cli(world, "apply", write(tmp_path, apply_yaml(world)), **env).returncode == 0
    events = config_events(world)
    changed = write(tmp_path, apply_yaml(world, scopes="[openid, email]"))
    dry = cli(world, "apply", "--dry-run", changed, **env)
    assert dry.returncode == 0, dry.stderr
    assert "connection shop-eu/okta: would change scopes" in dry.stdout
    # Old and new values, as the file writes them.
    assert '["openid", "email", "profile"] → ["openid", "email"]' in dry.stdout
    assert world.admin().get("/stores/shop-eu/connections/okta").json()["scopes"] == [
        "openid",
        "email",
        "profile",
    ]
    assert config_events(world) == events
    real = cli(world, "apply", changed, **env)
    assert "connection shop-eu/okta: updated scopes" in real.stdout


def test_apply_sets_and_updates_a_connections_trusted_audiences(
    world: World, tmp_path: Path
) -> None:
    env = {"TEST_CLIENT_SECRET": world.shop_store.client_secret}
    connection = "        channel_ids: [1]\n"
    trusting = apply_yaml(world).replace(
        connection, connection + "        trusted_audiences: [reporting-api]\n"
    )
    assert cli(world, "apply", write(tmp_path, trusting), **env).returncode == 0
    settings = world.admin().get("/stores/shop-eu/connections/okta").json()
    assert settings["trusted_audiences"] == ["reporting-api"]

    again = cli(world, "apply", write(tmp_path, apply_yaml(world)), **env)
    assert "connection shop-eu/okta: updated trusted_audiences" in again.stdout
    settings = world.admin().get("/stores/shop-eu/connections/okta").json()
    assert settings["trusted_audiences"] == []


def test_apply_reports_a_changed_secret_without_printing_it(world: World, tmp_path: Path) -> None:
    path = write(tmp_path, apply_yaml(world))
    assert cli(world, "apply", path, TEST_CLIENT_SECRET="first-secret-value").returncode == 0
    done = cli(world, "apply", path, TEST_CLIENT_SECRET="second-secret-value")
    assert "store shop-eu: updated client_secret" in done.stdout
    assert "second-secret-value" not in done.stdout + done.stderr


def test_apply_sets_b2b_edition_with_its_token_from_the_environment(
    world: World, tmp_path: Path
) -> None:
    env = {"TEST_CLIENT_SECRET": world.shop_store.client_secret, "TEST_B2B_TOKEN": "b2b-token-1"}
    store_b2b = (
        f"    api_base_url: {world.shop.base_url}\n"
        "    b2b:\n"
        "      enabled: true\n"
        f"      api_base_url: {world.shop.base_url}/b2b\n"
        "      api_token_env: TEST_B2B_TOKEN\n"
    )
    connection_b2b = (
        "        channel_ids: [1]\n"
        "        b2b:\n"
        "          companies: [{key: example.com, company_id: 12}]\n"
        "          default_role: ROLE\n"
    )
    text = apply_yaml(world).replace(f"    api_base_url: {world.shop.base_url}\n", store_b2b)
    first = text.replace(
        "        channel_ids: [1]\n", connection_b2b.replace("ROLE", "junior_buyer")
    )
    path = write(tmp_path, first)
    done = cli(world, "apply", path, **env)
    assert done.returncode == 0, done.stderr
    store = world.admin().get("/stores/shop-eu").json()
    assert store["b2b"] == {
        "enabled": True,
        "api_base_url": f"{world.shop.base_url}/b2b",
        "has_own_api_token": True,
    }
    again = cli(world, "apply", path, **env)
    assert again.stdout.splitlines()[-1] == "nothing to change", again.stdout
    changed = text.replace("        channel_ids: [1]\n", connection_b2b.replace("ROLE", "admin"))
    updated = cli(world, "apply", write(tmp_path, changed), **env)
    assert "connection shop-eu/okta: updated b2b" in updated.stdout, updated.stdout
    assert "b2b-token-1" not in updated.stdout + updated.stderr + done.stdout


BAD_FILES = {
    "not_yaml": ("stores: [unclosed", "not valid YAML"),
    "no_stores_key": ("shops: {}", "exactly one key, 'stores'"),
    "bad_slug": ("stores:\n  Bad_Slug: {}", "stores.Bad_Slug: not a valid slug"),
    "missing_field": ("stores:\n  s1: {client_id: x}", "stores.s1.store_hash"),
    "unknown_env": (
        "stores:\n  s1: {store_hash: a, client_id: b, client_secret_env: NOPE_NOT_SET,"
        " api_token: t, channels: [{channel_id: 1, kind: hosted, storefront_url: 'https://x.example'}]}",
        "stores.s1.client_secret_env: environment variable 'NOPE_NOT_SET' is not set",
    ),
    "http_url": (
        "stores:\n  s1: {store_hash: a, client_id: b, client_secret: c, api_token: t,"
        " api_base_url: 'http://api.example.com',"
        " channels: [{channel_id: 1, kind: hosted, storefront_url: 'https://x.example'}]}",
        "stores.s1.api_base_url: must use https://",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_apply_refuses_a_bad_file_with_exit_2_and_one_line_naming_the_entry(
    world: World, tmp_path: Path, case: str
) -> None:
    text, expected = BAD_FILES[case]
    done = cli(world, "apply", write(tmp_path, text))
    assert done.returncode == 2, done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert expected in done.stderr
    assert world.admin().get("/stores").json()["items"][0]["slug"] == "acme"
    assert len(world.admin().get("/stores").json()["items"]) == 1


def test_apply_refuses_a_connection_whose_issuer_cannot_be_discovered(
    world: World, tmp_path: Path
) -> None:
    text = apply_yaml(world).replace(world.op.issuer, "http://127.0.0.1:9")
    done = cli(world, "apply", write(tmp_path, text), TEST_CLIENT_SECRET="s" * 20)
    assert done.returncode == 2
    assert "stores.shop-eu.connections.okta.issuer:" in done.stderr
    assert world.admin().get("/stores/shop-eu").status_code == 404, "nothing may be written"


def test_apply_refuses_a_connection_on_a_channel_the_store_lacks(
    world: World, tmp_path: Path
) -> None:
    text = apply_yaml(world).replace("channel_ids: [1]", "channel_ids: [1, 5]")
    done = cli(world, "apply", write(tmp_path, text), TEST_CLIENT_SECRET="s" * 20)
    assert done.returncode == 2 and "stores.shop-eu.connections.okta.channel_ids" in done.stderr


def test_missing_file_is_exit_2(world: World, tmp_path: Path) -> None:
    done = cli(world, "apply", str(tmp_path / "nope.yaml"))
    assert done.returncode == 2 and "No such file" in done.stderr


# -- secret key rotation --------------------------------------------------------------------


def test_rotating_the_master_key_keeps_logins_working(world: World) -> None:
    new_key = "a-brand-new-master-key-" + "n" * 20
    assert world.login().landed
    done = cli(
        world,
        "rotate-secrets",
        SSO_ADAPTER_SECRET_KEY=new_key,
        SSO_ADAPTER_OLD_SECRET_KEYS=SECRET_KEY,
    )
    assert done.returncode == 0, done.stderr
    assert "re-sealed 3 secret(s)" in done.stdout
    world.secret_key = new_key
    world.start_adapter()
    # The new server listens elsewhere: tell the OP its callback (configuration untouched).
    world.op.add_client(
        CLIENT_ID, world.client_secret, [f"{world.url}/sso/acme/okta/oidc/callback"]
    )
    assert world.login().landed, "the adapter must open every secret with the new key alone"
    again = cli(world, "rotate-secrets", SSO_ADAPTER_SECRET_KEY=new_key)
    assert "re-sealed 0 secret(s)" in again.stdout


def test_serve_refuses_a_short_master_key(world: World) -> None:
    done = cli(world, "serve", "--port", "1", SSO_ADAPTER_SECRET_KEY="short")
    assert done.returncode == 2 and "at least 32 characters" in done.stderr


def test_repeated_scope_flags_add_up(world: World) -> None:
    token = cli(
        world, "token", "create", "--name", "two", "--scope", "stores:read", "--scope", "links:read"
    ).stdout.strip()
    assert world.admin(token).get("/stores").status_code == 200
    assert world.admin(token).get("/stores/acme/links").status_code == 200


def test_reserved_actor_names_cannot_be_token_names(world: World) -> None:
    done = cli(world, "token", "create", "--name", "cli:apply", "--scope", "stores:read")
    assert done.returncode == 2 and "reserved" in done.stderr


def test_apply_writes_all_or_nothing(world: World, tmp_path: Path) -> None:
    second = """
  shop-us:
    store_hash: other1
    client_id: x
    api_token: t
    channels:
      - {channel_id: 1, kind: hosted, storefront_url: "https://us.example.com"}
"""
    text = apply_yaml(world) + second
    done = cli(world, "apply", write(tmp_path, text), TEST_CLIENT_SECRET="s" * 20)
    assert done.returncode == 2 and "stores.shop-us.client_secret" in done.stderr
    assert world.admin().get("/stores/shop-eu").status_code == 404, "the good store was written"


def test_apply_refuses_a_file_that_is_not_utf8(world: World, tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"stores:\n  caf\xe9: {}\n")
    done = cli(world, "apply", str(path))
    assert done.returncode == 2 and "not UTF-8" in done.stderr


def test_apply_never_echoes_a_secret_pasted_as_an_env_name(world: World, tmp_path: Path) -> None:
    text = apply_yaml(world).replace(
        "client_secret_env: TEST_CLIENT_SECRET", "client_secret_env: 'sk live/ABC+secret'"
    )
    done = cli(world, "apply", write(tmp_path, text))
    assert done.returncode == 2
    assert (
        "sk live/ABC+secret" not in done.stderr
        and "not an environment variable name" in done.stderr
    )
