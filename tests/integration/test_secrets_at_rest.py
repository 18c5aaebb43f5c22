"""Secrets are sealed before they reach a row; a row copied elsewhere does not open."""

from __future__ import annotations

import sqlalchemy as sa

from tests.support.world import World


def test_store_and_connection_secrets_are_not_stored_in_clear(world: World) -> None:
    secrets = [world.shop_store.client_secret, world.shop_store.api_token, world.client_secret]
    with world.engine.connect() as conn:
        dump = " ".join(
            str(value)
            for table in ("stores", "channels", "connections")
            for row in conn.execute(sa.text(f"SELECT * FROM {table}")).all()
            for value in row
        )
    for secret in secrets:
        assert secret not in dump
    assert "v1." in dump


def test_secrets_never_reach_the_log_during_a_login(world: World, capsys) -> None:
    outcome = world.login()
    assert outcome.landed
    world.op.hooks.sign = "none"
    assert world.login().refusal.status_code == 401
    captured = capsys.readouterr()
    log = captured.out + captured.err
    token = outcome.callback.headers["location"].rsplit("/", 1)[1]
    for secret in (
        world.shop_store.client_secret,
        world.shop_store.api_token,
        world.client_secret,
        token,
    ):
        assert secret not in log
    assert "login_succeeded" in log and "login_failed" in log
