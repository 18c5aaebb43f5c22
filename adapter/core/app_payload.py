"""Verifying BigCommerce's `signed_payload_jwt`: its word, on the app's load, uninstall and
remove-user callbacks, on which store and which control-panel user a request is for.

HS256 with the app's client secret (bigcommerce/docs callbacks.mdx); `iss` "bc", `aud` the
app's client id (alone), `sub` "stores/{hash}", `iat`/`nbf`/`exp` (a day after `nbf`), `user`
and `owner` with their ids. Every claim the docs promise is required.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import jwt

from adapter.clock import Clock
from adapter.core.hs256 import shape_problem
from adapter.errors import NotVerified

MAX_LIFETIME_SECONDS = 24 * 3600
SUBJECT = re.compile(r"^stores/([a-z0-9]{1,64})$")


@dataclass(frozen=True)
class SignedPayload:
    store_hash: str
    user_id: int
    user_email: str | None
    owner_id: int
    channel_id: int | None

    @property
    def by_owner(self) -> bool:
        return self.user_id == self.owner_id


def _refuse(rule: str) -> NotVerified:
    return NotVerified(f"signed payload: {rule}", code="signed_payload_invalid")


def _person(value: object, what: str) -> tuple[int, str | None]:
    if not isinstance(value, dict) or not isinstance(value.get("id"), int):
        raise _refuse(f"no {what} id")
    email = value.get("email")
    return value["id"], email if isinstance(email, str) else None


def verify_signed_payload(
    token: str, *, client_id: str, client_secret: str, clock: Clock, leeway_seconds: int
) -> SignedPayload:
    problem = shape_problem(token)
    if problem is not None:
        raise _refuse(problem)
    try:
        claims = jwt.decode(
            token,
            client_secret,
            algorithms=["HS256"],
            audience=client_id,
            issuer="bc",
            # Times are checked below against our clock (PyJWT uses the real one).
            options={
                "require": ["aud", "iss", "iat", "nbf", "exp", "sub", "user", "owner"],
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise _refuse(type(exc).__name__) from None
    if claims.get("aud") not in (client_id, [client_id]):
        raise _refuse("aud names another audience besides the app")
    now = clock.now()
    iat, nbf, exp = claims.get("iat"), claims.get("nbf"), claims.get("exp")
    if not all(isinstance(t, int | float) for t in (iat, nbf, exp)):
        raise _refuse("times are not numbers")
    assert isinstance(iat, int | float) and isinstance(nbf, int | float)
    assert isinstance(exp, int | float)
    if nbf > now + leeway_seconds or iat > now + leeway_seconds:
        raise _refuse("not yet valid")
    if exp <= now - leeway_seconds:
        raise _refuse("expired")
    if exp - min(iat, nbf) > MAX_LIFETIME_SECONDS + leeway_seconds:
        raise _refuse("lifetime longer than BigCommerce issues")
    match = SUBJECT.match(str(claims.get("sub", "")))
    if match is None:
        raise _refuse("sub is not stores/{hash}")
    user_id, user_email = _person(claims.get("user"), "user")
    owner_id, _ = _person(claims.get("owner"), "owner")
    channel = claims.get("channel_id")
    return SignedPayload(
        store_hash=match.group(1),
        user_id=user_id,
        user_email=user_email,
        owner_id=owner_id,
        channel_id=channel if isinstance(channel, int) else None,
    )
