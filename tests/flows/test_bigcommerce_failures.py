"""BigCommerce answering 429 and 5xx, or not at all: waited out, retried, or a clean 502."""

from __future__ import annotations

from tests.support.assertions import assert_refused_cleanly
from tests.support.world import World


def test_rate_limited_creation_is_waited_out_by_the_reset_header(world: World) -> None:
    world.shop.fail_next(429, times=2, method="POST", reset_ms=150)
    assert world.login().landed
    statuses = [status for method, _, status in world.shop.api_calls if method == "POST"]
    assert statuses == [429, 429, 200]


def test_rate_limit_longer_than_the_budget_gives_502_and_writes_nothing(world: World) -> None:
    world.start_adapter(rate_limit_max_wait_seconds=1)
    world.put_connection()
    world.shop.fail_next(429, method="POST", reset_ms=30_000)
    assert_refused_cleanly(world, world.login(), 502, reason="bigcommerce_rate_limited")


def test_server_error_on_a_read_is_retried(world: World) -> None:
    world.put_connection(link_by_email=True)
    world.shop.add_customer("acme1", "ada@example.com")
    world.shop.fail_next(500, times=2, method="GET")
    assert world.login().landed
    # The e-mail search met two 500s and succeeded on the third try.
    assert [s for m, _, s in world.shop.api_calls if m == "GET"][:3] == [500, 500, 200]


def test_server_error_on_creation_is_not_retried_and_gives_502(world: World) -> None:
    world.shop.fail_next(500, method="POST")
    assert_refused_cleanly(world, world.login(), 502, reason="bigcommerce_error")
    assert [s for m, _, s in world.shop.api_calls if m == "POST"] == [500]
    assert world.used_values() == 0


def test_bigcommerce_down_gives_502_and_writes_nothing(world: World) -> None:
    world.put_store(api_base_url="http://127.0.0.1:9")  # nothing listens on the discard port
    assert_refused_cleanly(world, world.login(), 502, reason="bigcommerce_unavailable")


def test_wrong_api_token_gives_502(world: World) -> None:
    world.put_store(api_token="not-the-token")
    assert_refused_cleanly(world, world.login(), 502, reason="bigcommerce_auth")


def test_after_a_failure_the_next_login_succeeds(world: World) -> None:
    world.shop.fail_next(500, method="POST")
    assert world.login().refusal.status_code == 502
    assert world.login().landed
    assert len(world.customers) == 1 and len(world.links()) == 1
