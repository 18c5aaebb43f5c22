"""Headless channels: the JWT handed to the storefront's route, or a customer access token
obtained by the adapter and handed over through a one-time code."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from adapter.clock import FrozenClock
from tests.support.world import STORE_HASH, Outcome, World

EXCHANGE_SECRET = "exchange-secret-of-channel-2-" + "e" * 16
RETURN_URL = "https://b2b.example.com/auth/sso?from=adapter"


def headless_channels(world: World, store: dict[str, Any] | None = None, **channel_2: Any) -> None:
    """Channel 2 headless with access_token delivery (overrides in `channel_2`), the store's
    other fields overridden by `store`."""
    world.put_store(
        **(store or {}),
        channels=[
            {
                "channel_id": 1,
                "kind": "hosted",
                "storefront_url": world.shop.storefront_url(STORE_HASH, 1),
            },
            {
                "channel_id": 2,
                "kind": "headless",
                "storefront_url": world.shop.storefront_url(STORE_HASH, 2),
                "delivery": "access_token",
                "graphql_url": world.shop.graphql_url(STORE_HASH, 2),
                "storefront_token": world.shop_store.storefront_tokens[2],
                "return_url": RETURN_URL,
                "exchange_secret": EXCHANGE_SECRET,
                **channel_2,
            },
        ],
    )
    world.put_connection(channel_ids=[1, 2])


def code_of(outcome: Outcome) -> str:
    location = outcome.callback.headers["location"]
    assert location.startswith("https://b2b.example.com/auth/sso?from=adapter&code="), location
    return parse_qs(urlsplit(location).query)["code"][0]


def exchange(world: World, code: str, secret: str | None = EXCHANGE_SECRET) -> httpx.Response:
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    return httpx.post(f"{world.url}/sso/token", json={"code": code}, headers=headers)


# -- delivery: jwt ----------------------------------------------------------------------------


def test_headless_jwt_delivery_uses_the_default_catalyst_route(world: World) -> None:
    world.put_store(
        channels=[
            {
                "channel_id": 1,
                "kind": "headless",
                "delivery": "jwt",
                "storefront_url": world.shop.storefront_url(STORE_HASH, 1),
            },
        ]
    )
    outcome = world.login()
    assert outcome.callback.headers["location"].startswith(
        world.shop.storefront_url(STORE_HASH, 1) + "/login/token/"
    )
    assert outcome.landed


def test_headless_jwt_delivery_honours_a_custom_login_token_path(world: World) -> None:
    world.put_store(
        channels=[
            {
                "channel_id": 1,
                "kind": "headless",
                "login_token_path": "/api/sso/jwt/",
                "storefront_url": "https://shop.example.com",
            },
        ]
    )
    outcome = world.login()
    assert outcome.callback.status_code == 302
    assert outcome.callback.headers["location"].startswith(
        "https://shop.example.com/api/sso/jwt/ey"
    )


# -- delivery: access_token -------------------------------------------------------------------


def test_access_token_is_handed_over_once_through_a_code(world: World) -> None:
    headless_channels(world)
    outcome = world.login(channel_id=2)
    code = code_of(outcome)
    answer = exchange(world, code)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {
        "customer_id",
        "email",
        "channel_id",
        "customer_access_token",
        "expires_at",
    }
    assert body["channel_id"] == 2 and body["email"] == "ada@example.com"
    assert world.shop_store.access_tokens[body["customer_access_token"]] == body["customer_id"]
    assert world.shop.acceptances[-1].channel_id == 2
    again = exchange(world, code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_code"


def test_unknown_code_is_400_and_wrong_or_missing_secret_is_401(world: World) -> None:
    headless_channels(world)
    code = code_of(world.login(channel_id=2))
    assert exchange(world, "no-such-code").status_code == 400
    assert exchange(world, code, secret="wrong").status_code == 401
    assert exchange(world, code, secret=None).status_code == 401
    # A wrong secret does not burn the code for the rightful backend.
    assert exchange(world, code).status_code == 200


def test_code_expires_after_sixty_seconds(world: World) -> None:
    clock = FrozenClock()
    world.clock = clock
    world.start_adapter()
    headless_channels(world)
    code = code_of(world.login(channel_id=2))
    clock.advance(61)
    answer = exchange(world, code)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_code"


def test_code_is_stored_only_as_a_hash_and_the_token_never_logged(world: World, capsys) -> None:
    headless_channels(world)
    code = code_of(world.login(channel_id=2))
    token = exchange(world, code).json()["customer_access_token"]
    with world.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT * FROM exchange_codes").all()
    assert rows == []  # redeemed codes are gone
    captured = capsys.readouterr()
    assert token not in captured.out + captured.err and code not in captured.out + captured.err


@pytest.mark.parametrize(
    ("break_it", "reason"),
    [
        (lambda w: w.shop_store.not_live.add(2), "graphql_error"),
        (
            lambda w: w.shop_store.tokens_without_customer_scope.add(
                w.shop_store.storefront_tokens[2]
            ),
            "graphql_error",
        ),
        (
            lambda w: w.shop_store.storefront_tokens.__setitem__(2, "rotated"),
            "storefront_token_refused",
        ),
    ],
    ids=["channel_not_live", "token_without_customer_scope", "storefront_token_refused"],
)
def test_graphql_failures_give_a_clean_502_and_no_code(world: World, break_it, reason: str) -> None:  # type: ignore[no-untyped-def]
    headless_channels(world)
    break_it(world)
    outcome = world.login(channel_id=2)
    assert outcome.callback.status_code == 502
    event = world.events(kind="login", outcome="failure")[-1]
    assert event["reason"] == reason
    with world.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM exchange_codes").scalar_one() == 0


def test_a_jwt_bigcommerce_refuses_is_never_retried(world: World) -> None:
    headless_channels(world)
    world.shop_store.client_secret = "BigCommerce-knows-another-secret"  # every JWT now invalid
    outcome = world.login(channel_id=2)
    assert outcome.callback.status_code == 502
    graphql_calls = [r for r in world.shop.rejections if r.reason.startswith("signature")]
    assert len(graphql_calls) == 1


# -- which customers may use which channel ----------------------------------------------------


def test_customer_restricted_to_another_channel_is_refused(world: World) -> None:
    world.put_connection(channel_ids=[1, 2], link_by_email=True)
    world.shop.add_customer(STORE_HASH, "ada@example.com", channel_ids=[1])
    assert_refused_cleanly_keeping_customer(world, world.login(channel_id=2))


def assert_refused_cleanly_keeping_customer(world: World, outcome: Outcome) -> None:
    assert outcome.refusal.status_code == 403
    assert world.events(kind="login", outcome="failure")[-1]["reason"] == "channel_denied"


def test_connection_may_add_the_channel_to_the_customer(world: World) -> None:
    world.put_connection(channel_ids=[1, 2], link_by_email=True, add_channel_to_customer=True)
    customer = world.shop.add_customer(STORE_HASH, "ada@example.com", channel_ids=[1])
    assert world.login(channel_id=2).landed
    assert sorted(customer["channel_ids"]) == [1, 2]


def test_global_customer_on_a_channel_closed_to_global_logins_is_refused(world: World) -> None:
    world.put_connection(channel_ids=[1, 2], link_by_email=True, add_channel_to_customer=True)
    world.shop.add_customer(STORE_HASH, "ada@example.com")  # no channel_ids: global
    world.shop_store.global_logins[2] = False
    assert_refused_cleanly_keeping_customer(world, world.login(channel_id=2))
    assert world.login(channel_id=1).landed


def test_new_customer_is_created_on_the_requested_channel(world: World) -> None:
    headless_channels(world)
    exchange(world, code_of(world.login(channel_id=2)))
    [customer] = world.customers.values()
    assert customer["origin_channel_id"] == 2 and customer["channel_ids"] == [2]


# -- logout -----------------------------------------------------------------------------------


def test_headless_logout_goes_to_the_storefronts_logout_path(world: World) -> None:
    headless_channels(world, logout_path="/api/logout?next=/")
    out = world.browser().get(f"{world.url}/sso/acme/logout", params={"channel_id": 2})
    assert (
        out.headers["location"] == world.shop.storefront_url(STORE_HASH, 2) + "/api/logout?next=/"
    )
    world.put_store(
        channels=[
            {"channel_id": 1, "kind": "headless", "storefront_url": "https://cat.example.com"}
        ]
    )
    out = world.browser().get(f"{world.url}/sso/acme/logout")
    assert out.headers["location"] == "https://cat.example.com/logout"


def test_failed_exchange_answers_json_with_a_reference(world: World) -> None:
    answer = httpx.post(f"{world.url}/sso/token", content=b"not json")
    assert answer.status_code == 400
    assert set(answer.json()) == {"error", "message", "reference"}
