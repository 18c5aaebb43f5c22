"""The GraphQL Storefront API call that turns a customer_login JWT into a customer access
token, for headless channels with `delivery: "access_token"`.

Never retried: BigCommerce may block a client IP after repeated invalid login JWTs, and a
JWT it refused will not become valid by asking again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from adapter.core.destinations import default_graphql_url
from adapter.errors import UpstreamFailed

__all__ = ["CustomerAccessToken", "default_graphql_url", "login_with_customer_login_jwt"]

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


async def login_with_customer_login_jwt(
    http: httpx.AsyncClient, *, graphql_url: str, storefront_token: str, jwt: str
) -> CustomerAccessToken:
    try:
        response = await http.post(
            graphql_url,
            json={"query": LOGIN_MUTATION, "variables": {"jwt": jwt}},
            headers={
                "Authorization": f"Bearer {storefront_token}",
                "Accept": "application/json",
            },
        )
    except httpx.HTTPError as exc:
        raise UpstreamFailed(
            f"storefront GraphQL: {type(exc).__name__}", code="bigcommerce_unavailable"
        ) from None
    if response.status_code in (401, 403):
        raise UpstreamFailed(
            f"storefront GraphQL refused the storefront token: HTTP {response.status_code}",
            code="storefront_token_refused",
        )
    try:
        document: Any = response.json()
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise UpstreamFailed(
            f"storefront GraphQL: HTTP {response.status_code}, not JSON", code="graphql_error"
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
