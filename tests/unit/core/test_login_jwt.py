"""The `customer_login` JWT as BigCommerce's Customer Login API reads it."""

from __future__ import annotations

import jwt
import pytest

from adapter.clock import FrozenClock
from adapter.core.login_jwt import CustomerLogin, mint_customer_login_jwt

CLIENT_ID = "bc-app-client-id"
CLIENT_SECRET = "bc-app-client-secret-0123456789abcdef"
NOW = 1_700_000_000.75


def decode(token: str) -> dict[str, object]:
    return jwt.decode(token, CLIENT_SECRET, algorithms=["HS256"])


def mint(login: CustomerLogin, clock: FrozenClock | None = None) -> str:
    return mint_customer_login_jwt(
        login, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, clock=clock or FrozenClock(NOW)
    )


LOGIN = CustomerLogin(store_hash="abc123", customer_id=42, channel_id=1, redirect_to="/cart.php")


def test_minted_token_carries_exactly_the_customer_login_claims() -> None:
    claims = decode(mint(LOGIN))
    assert set(claims) == {
        "iss",
        "iat",
        "jti",
        "operation",
        "store_hash",
        "customer_id",
        "channel_id",
        "redirect_to",
    }
    assert claims["iss"] == CLIENT_ID
    assert claims["operation"] == "customer_login"
    assert claims["store_hash"] == "abc123"
    assert claims["customer_id"] == 42
    assert claims["channel_id"] == 1
    assert claims["redirect_to"] == "/cart.php"


def test_request_ip_is_claimed_only_when_given() -> None:
    bound = CustomerLogin(
        store_hash="abc123", customer_id=42, channel_id=1, redirect_to="/", request_ip="203.0.113.9"
    )
    assert decode(mint(bound))["request_ip"] == "203.0.113.9"
    assert "request_ip" not in decode(mint(LOGIN))


def test_header_is_hs256_jwt() -> None:
    assert jwt.get_unverified_header(mint(LOGIN)) == {"alg": "HS256", "typ": "JWT"}


def test_token_signed_with_another_secret_does_not_verify() -> None:
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(mint(LOGIN), "another-secret-0123456789abcdef0123", algorithms=["HS256"])


def test_each_token_has_a_fresh_jti() -> None:
    jtis = {decode(mint(LOGIN))["jti"] for _ in range(5)}
    assert len(jtis) == 5


def test_iat_is_the_injected_clock_in_whole_seconds() -> None:
    clock = FrozenClock(NOW)
    assert decode(mint(LOGIN, clock))["iat"] == 1_700_000_000
    clock.advance(30)
    assert decode(mint(LOGIN, clock))["iat"] == 1_700_000_030
