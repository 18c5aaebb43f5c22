"""Health, readiness, metrics and logout."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.support.world import World


def test_healthz_and_readyz_answer_ok_on_a_migrated_database(world: World) -> None:
    assert httpx.get(f"{world.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{world.url}/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ok"


@contextmanager
def schema_at(world: World, revision: str, oldest_code_revision: str) -> Iterator[None]:
    """The database as another release left it, for the length of the block."""
    with world.engine.begin() as conn:
        head = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
        kept = conn.exec_driver_sql(
            "SELECT oldest_code_revision FROM schema_compatibility"
        ).scalar_one()
        conn.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{revision}'")
        conn.exec_driver_sql(
            f"UPDATE schema_compatibility SET oldest_code_revision = '{oldest_code_revision}'"
        )
    try:
        yield
    finally:
        with world.engine.begin() as conn:
            conn.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{head}'")
            conn.exec_driver_sql(f"UPDATE schema_compatibility SET oldest_code_revision = '{kept}'")


def test_readyz_is_503_when_the_schema_is_behind(world: World) -> None:
    with schema_at(world, "0004", "0004"):
        answer = httpx.get(f"{world.url}/readyz")
        assert answer.status_code == 503
        assert "run migrate" in answer.json()["reason"]


def test_readyz_stays_200_while_a_newer_release_has_only_expanded_the_schema(
    world: World,
) -> None:
    # A rolling upgrade: the next release's migration ran (a revision this code does not
    # know) and says code as old as 0004 still works on it.
    with schema_at(world, "0099", "0004"):
        answer = httpx.get(f"{world.url}/readyz")
        assert answer.status_code == 200, answer.text
        assert answer.json()["schema"] == "0099"


def test_readyz_is_503_once_a_newer_release_has_contracted_the_schema(world: World) -> None:
    with schema_at(world, "0099", "0099"):
        answer = httpx.get(f"{world.url}/readyz")
        assert answer.status_code == 503
        assert "no longer serves" in answer.json()["reason"]


def test_metrics_count_logins_by_outcome_and_bigcommerce_calls(world: World) -> None:
    assert world.login().landed
    world.login(redirect_to="//evil.example")
    world.login(store="no-such-store")
    text = httpx.get(f"{world.url}/metrics").text
    labels = 'connection="okta",outcome="{}",protocol="oidc",store="acme"'
    assert f"sso_adapter_logins_total{{{labels.format('success')}}} 1.0" in text
    assert f"sso_adapter_logins_total{{{labels.format('failure')}}} 1.0" in text
    assert 'store="no-such-store"' not in text
    assert 'sso_adapter_bigcommerce_calls_total{method="POST",status="200"} 1.0' in text
    assert "sso_adapter_step_seconds_bucket" in text


def test_every_response_carries_a_request_id_and_keeps_a_sane_incoming_one(world: World) -> None:
    assert len(httpx.get(f"{world.url}/healthz").headers["x-request-id"]) == 16
    kept = httpx.get(f"{world.url}/healthz", headers={"X-Request-ID": "proxy-req-12345"})
    assert kept.headers["x-request-id"] == "proxy-req-12345"
    replaced = httpx.get(f"{world.url}/healthz", headers={"X-Request-ID": "bad id\r\n"[:6]})
    assert replaced.headers["x-request-id"] != "bad id"


def test_every_response_says_how_long_the_adapter_took_in_server_timing(world: World) -> None:
    start = world.browser().get(f"{world.url}/sso/acme/okta/login")
    assert start.status_code == 302
    name, _, duration = start.headers["server-timing"].partition(";dur=")
    assert name == "app"
    assert 0 < float(duration) < 10_000


def test_logout_sends_the_shopper_to_the_storefronts_logout(world: World) -> None:
    browser = world.browser()
    outcome = world.login(browser)
    assert outcome.landed
    out = browser.get(f"{world.url}/sso/acme/logout", params={"channel_id": 1})
    assert out.status_code == 302
    assert (
        out.headers["location"]
        == world.shop.storefront_url("acme1", 1) + "/login.php?action=logout"
    )
    page = browser.get(out.headers["location"])
    assert "Not signed in" in page.text


def test_logout_of_an_unknown_store_or_channel_is_refused(world: World) -> None:
    assert world.browser().get(f"{world.url}/sso/nope/logout").status_code == 404
    assert world.browser().get(f"{world.url}/sso/acme/logout?channel_id=7").status_code == 403
