"""Minting the `customer_login` JWT that BigCommerce's Customer Login API accepts.

BigCommerce accepts the token at `{storefront}/login/token/{jwt}` for a short time after its
`iat`, once per `jti`; so it is minted at redirect time, never stored, never logged.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import jwt

from adapter.clock import Clock


@dataclass(frozen=True)
class CustomerLogin:
    store_hash: str
    customer_id: int
    channel_id: int
    redirect_to: str
    request_ip: str | None = None


def mint_customer_login_jwt(
    login: CustomerLogin, *, client_id: str, client_secret: str, clock: Clock
) -> str:
    claims: dict[str, object] = {
        "iss": client_id,
        "iat": int(clock.now()),
        "jti": str(uuid.uuid4()),
        "operation": "customer_login",
        "store_hash": login.store_hash,
        "customer_id": int(login.customer_id),
        "channel_id": int(login.channel_id),
        "redirect_to": login.redirect_to,
    }
    if login.request_ip is not None:
        claims["request_ip"] = login.request_ip
    return jwt.encode(claims, client_secret, algorithm="HS256", headers={"typ": "JWT"})
