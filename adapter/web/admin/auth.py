"""Bearer tokens and scopes for the admin API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from adapter.errors import AdapterError
from adapter.services.admin_tokens import SCOPES, Principal, principal_for
from adapter.services.runtime import Runtime

bearer = HTTPBearer(auto_error=False, description="An admin API token")


class Unauthenticated(AdapterError):
    status = 401
    code = "unauthenticated"
    public_message = "A valid admin token is required."


class Forbidden(AdapterError):
    status = 403
    code = "forbidden"
    public_message = "This token lacks the scope this operation needs."


async def authenticate(request: Request) -> Principal:
    credentials: HTTPAuthorizationCredentials | None = await bearer(request)
    if credentials is None or not credentials.credentials:
        raise Unauthenticated("no bearer token")
    runtime: Runtime = request.app.state.runtime
    principal = await principal_for(runtime, credentials.credentials)
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

    # Read by the OpenAPI document (adapter.web.admin.openapi) to name the scope.
    dependency.scope = scope  # type: ignore[attr-defined]
    return dependency
