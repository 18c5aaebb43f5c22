"""B2B Edition's server-to-server API: companies, company users, the storefront token.

Follows B2B Edition's API reference (bigcommerce/docs: docs/b2b-edition/specs/api-v3/
company/company.yaml, user/user.yaml and authentication.yaml): requests to
`{api_base_url}/api/v3/io/…` with `X-Auth-Token` and `X-Store-Hash`, answers in the envelope
`{"code": …, "data": …, "meta": {"message": …}}`. A user is found by its BigCommerce
customer id (`GET /users/customer/{customerId}`, 404 when the customer is no company's user);
an e-mail can be the user of one company only, and creating a user for an e-mail that already
has a BigCommerce customer makes that customer the user.

Requests go through the shared `BigCommerceTransport`: B2B Edition's 429 is waited out by its
`X-Request-Window-Resets-After`, a write that timed out or answered 5xx is not sent again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapter.bigcommerce.transport import Answer, BigCommerceTransport
from adapter.core.b2b import Role
from adapter.errors import UpstreamFailed

# B2B Edition demands a phone and a country for a company; a sign-in knows neither.
UNKNOWN = "-"


@dataclass(frozen=True)
class CompanyUser:
    user_id: int
    company_id: int
    customer_id: int
    role: Role


@dataclass(frozen=True)
class CreatedCompany:
    company_id: int
    # The company's first user, its admin: the BigCommerce customer of the admin e-mail.
    customer_id: int


class EmailTaken(Exception):
    """B2B Edition refused a user: the e-mail already belongs to a user of some company."""


def _data(answer: Answer, what: str) -> Any:
    body = answer.json()
    if not isinstance(body, dict) or "data" not in body:
        raise UpstreamFailed(f"B2B Edition {what}: answer without data", code="bigcommerce_error")
    return body["data"]


def _int(value: Any, what: str) -> int:
    # B2B Edition writes some ids as strings ("companyId": "123").
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UpstreamFailed(f"B2B Edition {what}: not an id", code="bigcommerce_error") from None


def _user(data: Any) -> CompanyUser:
    if not isinstance(data, dict):
        raise UpstreamFailed("B2B Edition user: not an object", code="bigcommerce_error")
    custom = data.get("companyRoleId")
    return CompanyUser(
        user_id=_int(data.get("id"), "user id"),
        company_id=_int(data.get("companyId"), "user company"),
        customer_id=_int(data.get("customerId"), "user customer"),
        role=Role(
            role=_int(data.get("role"), "user role"),
            company_role_id=int(custom) if isinstance(custom, int) and custom > 0 else None,
        ),
    )


class B2bEditionApi:
    def __init__(self, transport: BigCommerceTransport, *, api_base_url: str):
        self._transport = transport
        self._io = f"{api_base_url.rstrip('/')}/api/v3/io"
        self._auth = f"{api_base_url.rstrip('/')}/api/io/auth"

    async def user_of_customer(self, customer_id: int) -> CompanyUser | None:
        answer = await self._transport.request("GET", f"{self._io}/users/customer/{customer_id}")
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise answer.failure("user lookup")
        return _user(_data(answer, "user lookup"))

    async def create_user(
        self,
        *,
        company_id: int,
        role: Role,
        channel_id: int,
        email: str,
        first_name: str,
        last_name: str,
    ) -> int:
        """The new user's id. B2B Edition makes the BigCommerce customer of that e-mail the
        user (it creates one when there is none)."""
        body: dict[str, Any] = {
            "companyId": company_id,
            "email": email,
            "firstName": first_name,
            "lastName": last_name,
            "role": role.role,
            "channelIds": [channel_id],
            "originChannelId": channel_id,
        }
        if role.company_role_id is not None:
            body["companyRoleId"] = role.company_role_id
        answer = await self._transport.request("POST", f"{self._io}/users", json=body)
        if answer.status == 422 and "already exists" in answer.content.decode("utf-8", "replace"):
            raise EmailTaken(email)
        if answer.status not in (200, 201):
            raise answer.failure("user creation")
        return _int(_data(answer, "user creation").get("userId"), "user creation")

    async def set_role(self, user_id: int, role: Role) -> None:
        body: dict[str, Any] = {"role": role.role}
        if role.company_role_id is not None:
            body["companyRoleId"] = role.company_role_id
        answer = await self._transport.request("PUT", f"{self._io}/users/{user_id}", json=body)
        if answer.status != 200:
            raise answer.failure("role change")

    async def delete_user(self, user_id: int) -> bool:
        """Take the user out of their company (B2B Edition has no inactive user). False when
        B2B Edition keeps them: a company's last user cannot be deleted."""
        answer = await self._transport.request("DELETE", f"{self._io}/users/{user_id}")
        if answer.status in (200, 204, 404):
            return True
        if answer.status == 422:
            return False
        raise answer.failure("user deletion")

    async def company_named(self, name: str) -> int | None:
        """The company whose name is exactly `name` (B2B Edition's `q` matches partially)."""
        answer = await self._transport.request(
            "GET", f"{self._io}/companies", params={"q": name, "limit": 250}
        )
        if answer.status != 200:
            raise answer.failure("company search")
        found = [
            c
            for c in _data(answer, "company search") or []
            if isinstance(c, dict) and c.get("companyName") == name
        ]
        return _int(found[0].get("companyId"), "company search") if found else None

    async def create_company(
        self,
        *,
        name: str,
        admin_email: str,
        admin_first_name: str,
        admin_last_name: str,
        customer_group_id: int | None,
        channel_id: int,
    ) -> CreatedCompany:
        body: dict[str, Any] = {
            "companyName": name,
            "companyEmail": admin_email,
            "companyPhone": UNKNOWN,
            "country": UNKNOWN,
            "adminFirstName": admin_first_name,
            "adminLastName": admin_last_name,
            "adminEmail": admin_email,
            "channelIds": [channel_id],
            "originChannelId": channel_id,
        }
        if customer_group_id is not None:
            body["customerGroupId"] = customer_group_id
        answer = await self._transport.request("POST", f"{self._io}/companies", json=body)
        if answer.status not in (200, 201):
            raise answer.failure("company creation")
        data = _data(answer, "company creation")
        return CreatedCompany(
            company_id=_int(data.get("companyId"), "company creation"),
            customer_id=_int(data.get("customerId"), "company creation"),
        )

    async def storefront_token(
        self, *, customer_id: int, channel_id: int, access_token: str, expires_at: str | None
    ) -> str:
        """The B2B storefront token for a customer signed in with this customer access token."""
        answer = await self._transport.request(
            "POST",
            f"{self._auth}/customers/storefront",
            json={
                "customerId": customer_id,
                "channelId": channel_id,
                "customerAccessToken": {"value": access_token, "expiresAt": expires_at},
            },
        )
        if answer.status not in (200, 201):
            raise answer.failure("storefront token")
        token = _data(answer, "storefront token").get("token")
        # Documented as a list holding the token; accepted as a plain string too.
        if isinstance(token, list) and len(token) == 1:
            token = token[0]
        if not isinstance(token, str) or not token:
            raise UpstreamFailed("B2B Edition storefront token: none", code="bigcommerce_error")
        return token
