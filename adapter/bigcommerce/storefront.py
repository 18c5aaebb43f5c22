"""The GraphQL Storefront API call that turns a customer_login JWT into a customer access
token, for headless channels with `delivery: "access_token"`.

Never retried: BigCommerce may block a client IP after repeated invalid login JWTs, and a
JWT it refused will not become valid by asking again.

Not sent through the REST transport (adapter.bigcommerce.transport), on purpose. That transport
sends a request again after a 429, and this one must go out once, 429 or not. Its failures mean
other things: a 401 or 403 refuses the channel's storefront token (`storefront_token_refused`),
not the store's API token (`bigcommerce_auth`), and GraphQL reports its errors inside a 200
answer (`graphql_error`). And its URL comes from a channel's configuration, so its answer is
read like any other administrator-named destination, by `adapter.outbound.read_capped`, which
also bounds the whole read by a deadline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from adapter.core.destinations import default_graphql_url
from adapter.errors import UpstreamFailed
from adapter.outbound import read_capped

__all__ = [
    "CustomerAccessToken",
    "default_graphql_url",
    "end_customer_session",
    "login_with_customer_login_jwt",
]

MAX_RESPONSE_BYTES = 256 * 1024
LOGIN_MUTATION = """
mutation LoginWithCustomerLoginJwt($jwt: String!) {
  loginWithCustomerLoginJwt(jwt: $jwt) {
    customer { entityId email }
    customerAccessToken { value expiresAt }
  }
}
""".strip()


@dataclass(frozen=True)
class CustomerAccessToken:
    customer_id: int
    email: str | None
    value: str
    expires_at: str | None


async def _post(
    http: httpx.AsyncClient,
    graphql_url: str,
    storefront_token: str,
    body: dict[str, Any],
    *,
    what: str,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """One GraphQL request, answered as (status, JSON document). A refused storefront token
    and an answer that is not a JSON object are errors here."""
    # Capped: graphql_url is configured by an administrator, and its answer is small.
    response = await read_capped(
        http,
        "POST",
        graphql_url,
        what=what,
        max_bytes=MAX_RESPONSE_BYTES,
        unreachable_code="bigcommerce_unavailable",
        too_large_code="graphql_error",
        json=body,
        headers={
            "Authorization": f"Bearer {storefront_token}",
            "Accept": "application/json",
            **(headers or {}),
        },
    )
    if response.status_code in (401, 403):
        raise UpstreamFailed(
            f"{what} refused the storefront token: HTTP {response.status_code}",
            code="storefront_token_refused",
        )
    try:
        document: Any = json.loads(response.content)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise UpstreamFailed(f"{what}: HTTP {response.status_code}, not JSON", code="graphql_error")
    return response.status_code, document


async def login_with_customer_login_jwt(
    http: httpx.AsyncClient, *, graphql_url: str, storefront_token: str, jwt: str
) -> CustomerAccessToken:
    _, document = await _post(
        http,
        graphql_url,
        storefront_token,
        {"query": LOGIN_MUTATION, "variables": {"jwt": jwt}},
        what="storefront GraphQL",
    )
    errors = document.get("errors")
    if errors:
        first = errors[0] if isinstance(errors, list) and errors else {}
        message = str(first.get("message", "")) if isinstance(first, dict) else ""
        # The message is BigCommerce's, about our request: safe to log, never shown.
        raise UpstreamFailed(f"storefront GraphQL error: {message[:200]}", code="graphql_error")
    login = (document.get("data") or {}).get("loginWithCustomerLoginJwt") or {}
    token = login.get("customerAccessToken") or {}
    customer = login.get("customer") or {}
    if not isinstance(token.get("value"), str) or not token["value"]:
        raise UpstreamFailed("storefront GraphQL: no customer access token", code="graphql_error")
    return CustomerAccessToken(
        customer_id=int(customer.get("entityId") or 0),
        email=customer.get("email"),
        value=token["value"],
        expires_at=token.get("expiresAt"),
    )


LOGOUT_MUTATION = "mutation Logout { logout { result } }"


async def end_customer_session(
    http: httpx.AsyncClient, *, graphql_url: str, storefront_token: str, customer_access_token: str
) -> bool:
    """Invalidate a customer access token (GraphQL `logout` with the token in
    X-Bc-Customer-Access-Token). True when it was ended, False when BigCommerce no longer
    knew it (expired or ended before): either way it signs nobody in any more."""
    status, document = await _post(
        http,
        graphql_url,
        storefront_token,
        {"query": LOGOUT_MUTATION},
        what="storefront GraphQL logout",
        headers={"X-Bc-Customer-Access-Token": customer_access_token},
    )
    errors = document.get("errors")
    if errors:
        text = json.dumps(errors)[:300]
        if (
            "INVALID_CUSTOMER_ACCESS_TOKEN" in text
            or "invalid customer access token" in text.lower()
        ):
            return False
        raise UpstreamFailed(f"storefront GraphQL logout error: {text}", code="graphql_error")
    if status != 200:
        raise UpstreamFailed(f"storefront GraphQL logout: HTTP {status}", code="graphql_error")
    result = ((document.get("data") or {}).get("logout") or {}).get("result")
    return isinstance(result, str)
