"""Verifying a Current Customer JWT: BigCommerce's word on who is signed in on a storefront.

A storefront script fetches `/customer/current.jwt?app_client_id=…`; BigCommerce signs it
with the app's client secret (HS256): `iss` "bc/apps", `aud` the app client id, `operation`
"current_customer", `store_hash` (and `sub`) the store, `customer {id, email, group_id}`,
valid 15 minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

import jwt

from adapter.clock import Clock
from adapter.core.hs256 import shape_problem
from adapter.errors import NotVerified

MAX_LIFETIME_SECONDS = 15 * 60


@dataclass(frozen=True)
class CurrentCustomer:
    customer_id: int
    email: str | None
    group_id: int | None


def _refuse(rule: str) -> NotVerified:
    return NotVerified(f"current customer jwt: {rule}", code="current_customer_invalid")


def verify_current_customer(
    token: str,
    *,
    app_client_id: str,
    app_client_secret: str,
    store_hash: str,
    clock: Clock,
    leeway_seconds: int,
) -> CurrentCustomer:
    problem = shape_problem(token)
    if problem is not None:
        raise _refuse(problem)
    try:
        claims = jwt.decode(
            token,
            app_client_secret,
            algorithms=["HS256"],
            audience=app_client_id,
            issuer="bc/apps",
            leeway=leeway_seconds,
            options={"require": ["exp", "iat", "aud", "iss", "operation", "customer"]},
        )
    except jwt.ExpiredSignatureError:
        raise _refuse("expired") from None
    except jwt.PyJWTError as exc:
        raise _refuse(type(exc).__name__) from None
    # PyJWT takes a list that names this app among others; BigCommerce names only the app, and
    # a token also meant for someone else is not ours to trust.
    if claims.get("aud") not in (app_client_id, [app_client_id]):
        raise _refuse("aud names another audience besides the app")
    # PyJWT checks exp against the real clock; ours may be a test's.
    now = clock.now()
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int | float) or iat > now + leeway_seconds:
        raise _refuse("iat in the future")
    if not isinstance(exp, int | float) or exp <= now - leeway_seconds:
        raise _refuse("expired")
    if exp - iat > MAX_LIFETIME_SECONDS + leeway_seconds:
        raise _refuse("lifetime longer than BigCommerce issues")
    if claims.get("operation") != "current_customer":
        raise _refuse("operation is not current_customer")
    token_store = claims.get("store_hash", claims.get("sub"))
    if token_store != store_hash:
        raise _refuse("issued for another store")
    customer = claims.get("customer")
    if not isinstance(customer, dict) or not isinstance(customer.get("id"), int):
        raise _refuse("no customer")
    group = customer.get("group_id")
    email = customer.get("email")
    return CurrentCustomer(
        customer_id=customer["id"],
        email=email if isinstance(email, str) else None,
        group_id=int(group) if isinstance(group, int | str) and str(group).isdigit() else None,
    )
