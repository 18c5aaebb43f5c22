"""Bearer tokens and scopes for the admin API."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from adapter.db.tokens import SCOPES, Principal, TokenRepository
from adapter.errors import AdapterError
from adapter.services.runtime import Runtime

BOOTSTRAP_NAME = "bootstrap"
bearer = HTTPBearer(auto_error=False, description="An admin API token")


class Unauthenticated(AdapterError):
    status = 401
    code = "unauthenticated"
    public_message = "A valid admin token is required."


class Forbidden(AdapterError):
    status = 403
    code = "forbidden"
    public_message = "This token lacks the scope this operation needs."


def _is_bootstrap(runtime: Runtime, token: str) -> bool:
    configured = runtime.settings.admin_token
    if configured is None or not configured.get_secret_value():
        return False
    # Digests of equal length, compared in constant time.
    given = hashlib.sha256(token.encode()).digest()
    expected = hashlib.sha256(configured.get_secret_value().encode()).digest()
    return hmac.compare_digest(given, expected)


async def authenticate(request: Request) -> Principal:
    credentials: HTTPAuthorizationCredentials | None = await bearer(request)
    if credentials is None or not credentials.credentials:
        raise Unauthenticated("no bearer token")
    runtime: Runtime = request.app.state.runtime
    token = credentials.credentials
    if _is_bootstrap(runtime, token):
        return Principal(name=BOOTSTRAP_NAME, scopes=frozenset(SCOPES))
    async with runtime.sessions() as session:
        principal = await TokenRepository(session, runtime.clock).find(token)
    if principal is None:
        raise Unauthenticated("unknown token")
    return principal


def require(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    assert scope in SCOPES, scope

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        if scope not in principal.scopes:
            raise Forbidden(f"token {principal.name!r} lacks scope {scope}")
        return principal

    return dependency
