"""B2B Edition's server-to-server API, emulated beside the BigCommerce emulator (whose
customers it shares), as bigcommerce/docs describes it (docs/b2b-edition/specs/api-v3/
company/company.yaml, user/user.yaml, authentication.yaml):

- every call names its store with `X-Store-Hash` and carries a token with the B2B Edition
  scope in `X-Auth-Token`; answers use the envelope `{"code", "data", "meta": {"message"}}`;
- a company is created with its first user, its admin (`adminEmail`): the BigCommerce
  customer of that e-mail when there is one, else a new customer;
- an e-mail is the user of one company at most (422 "Email already exists"); a user created
  for an e-mail with a BigCommerce customer is that customer;
- the storefront token is issued for a customer and channel against a customer access token
  BigCommerce's GraphQL login gave that customer.

Served under `/b2b` of the emulator's base URL: a store's B2B `api_base_url` is
`{emulator}/b2b`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from adapter.sandbox.bigcommerce import BigCommerceEmulator, EmulatedStore

ROLES = (0, 1, 2)  # admin, senior buyer, junior buyer
REQUIRED_COMPANY = (
    "companyName",
    "companyPhone",
    "companyEmail",
    "country",
    "adminFirstName",
    "adminLastName",
    "adminEmail",
)
REQUIRED_USER = ("firstName", "lastName", "email", "companyId", "role", "channelIds")


@dataclass
class B2bFault:
    status: int
    method: str | None = None
    resets_after: str | None = None


@dataclass
class B2bStore:
    """One store's B2B Edition: its companies, users, custom roles and issued tokens."""

    token: str | None = None  # a token of its own; else the store's API token serves
    companies: dict[int, dict[str, Any]] = field(default_factory=dict)
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    custom_roles: dict[int, str] = field(default_factory=dict)
    storefront_tokens: dict[str, tuple[int, int]] = field(default_factory=dict)


def _envelope(code: int, data: Any, message: str = "SUCCESS") -> JSONResponse:
    return JSONResponse({"code": code, "data": data, "meta": {"message": message}}, code)


def _refusal(code: int, message: str, detail: str | None = None) -> JSONResponse:
    data: dict[str, Any] = {} if detail is None else {"errMsg": detail}
    return _envelope(code, data, message)


class B2bEditionEmulator:
    def __init__(self, bigcommerce: BigCommerceEmulator):
        self._bc = bigcommerce
        self.stores: dict[str, B2bStore] = {}
        self.faults: list[B2bFault] = []
        self.calls: list[tuple[str, str, int]] = []
        self._next_id = 1000

    # -- set-up ------------------------------------------------------------------------------

    def enable(self, store_hash: str, *, own_token: bool = False) -> B2bStore:
        b2b = B2bStore(token=secrets.token_urlsafe(24) if own_token else None)
        self.stores[store_hash] = b2b
        return b2b

    def add_company(self, store_hash: str, name: str) -> int:
        company_id = self._new_id()
        self.stores[store_hash].companies[company_id] = {"companyId": company_id, "name": name}
        return company_id

    def add_custom_role(self, store_hash: str, name: str) -> int:
        role_id = self._new_id()
        self.stores[store_hash].custom_roles[role_id] = name
        return role_id

    def add_user(
        self, store_hash: str, company_id: int, customer: dict[str, Any], role: int
    ) -> int:
        return self._make_user(self.stores[store_hash], company_id, customer, role, None)

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        method: str | None = None,
        resets_after: str | None = None,
    ) -> None:
        self.faults.extend(B2bFault(status, method, resets_after) for _ in range(times))

    def user_of(self, store_hash: str, customer_id: int) -> dict[str, Any] | None:
        users = self.stores[store_hash].users.values()
        return next((u for u in users if u["customerId"] == customer_id), None)

    def describe_user(self, store_hash: str, customer_id: int) -> str | None:
        """What the Buyer Portal would show of a customer: company and role; None if no user."""
        b2b = self.stores.get(store_hash)
        user = self.user_of(store_hash, customer_id) if b2b is not None else None
        if b2b is None or user is None:
            return None
        company = b2b.companies.get(user["companyId"], {}).get("name", "?")
        role = user["companyRoleName"] or ("admin", "senior buyer", "junior buyer")[user["role"]]
        return f"B2B buyer of {company}, role {role}"

    def storefront_token_holder(self, store_hash: str, token: str) -> tuple[int, int] | None:
        """(customer id, channel id) the storefront token was issued for; None if never."""
        return self.stores[store_hash].storefront_tokens.get(token)

    # -- helpers -----------------------------------------------------------------------------

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _customer_for(
        self, store: EmulatedStore, email: str, first: str, last: str, channel_id: int | None
    ) -> dict[str, Any]:
        folded = email.strip().lower()
        found = next(
            (c for c in store.customers.values() if c["email"].strip().lower() == folded), None
        )
        if found is not None:
            return found
        return self._bc.add_customer(
            store.store_hash,
            email,
            first_name=first,
            last_name=last,
            origin_channel_id=channel_id or 1,
            channel_ids=[channel_id] if channel_id else None,
        )

    def _make_user(
        self,
        b2b: B2bStore,
        company_id: int,
        customer: dict[str, Any],
        role: int,
        company_role_id: int | None,
    ) -> int:
        user_id = self._new_id()
        b2b.users[user_id] = {
            "id": user_id,
            "companyId": company_id,
            "customerId": customer["id"],
            "email": customer["email"],
            "firstName": customer["first_name"],
            "lastName": customer["last_name"],
            "role": role,
            "companyRoleId": company_role_id,
            "companyRoleName": b2b.custom_roles.get(company_role_id or 0, ""),
        }
        return user_id

    def _email_taken(self, b2b: B2bStore, email: str) -> bool:
        folded = email.strip().lower()
        return any(u["email"].strip().lower() == folded for u in b2b.users.values())

    # -- the API -----------------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        store_hash = request.headers.get("x-store-hash", "")
        store = self._bc.stores.get(store_hash)
        b2b = self.stores.get(store_hash)
        method, path = request.method, request.url.path
        token = request.headers.get("x-auth-token", "")
        wanted = (b2b.token if b2b is not None else None) or (store.api_token if store else "")
        if store is None or b2b is None or not wanted or not secrets.compare_digest(token, wanted):
            self.calls.append((method, path, 401))
            return _refusal(401, "Unauthorized")
        fault = next((f for f in self.faults if f.method in (None, method)), None)
        if fault is not None:
            self.faults.remove(fault)
            self.calls.append((method, path, fault.status))
            headers = {}
            if fault.resets_after is not None:
                headers = {
                    "X-Request-Window-Resets-After": fault.resets_after,
                    "X-Requests-Remaining": "0 times",
                }
            answer = _refusal(fault.status, "Emulated fault")
            answer.headers.update(headers)
            return answer
        try:
            body = await request.json() if method in ("POST", "PUT") else None
        except ValueError:
            body = None
        if method in ("POST", "PUT") and not isinstance(body, dict):
            response: Response = _refusal(422, "Parameter Error", "The body is not an object.")
        else:
            response = await self._route(store, b2b, request, body)
        self.calls.append((method, path, response.status_code))
        return response

    async def _route(
        self, store: EmulatedStore, b2b: B2bStore, request: Request, body: Any
    ) -> Response:
        method, rest = request.method, request.path_params["rest"]
        parts = rest.strip("/").split("/")
        if parts == ["api", "v3", "io", "companies"]:
            if method == "POST":
                return self._create_company(store, b2b, body)
            return self._search_companies(b2b, request.query_params.get("q", ""))
        if parts[:4] == ["api", "v3", "io", "companies"] and len(parts) == 5 and method == "GET":
            company = b2b.companies.get(int(parts[4]) if parts[4].isdigit() else -1)
            if company is None:
                return _refusal(404, "This resource is not found.")
            return _envelope(200, self._company_view(company))
        if parts == ["api", "v3", "io", "users"] and method == "POST":
            return self._create_user(store, b2b, body)
        if parts[:5] == ["api", "v3", "io", "users", "customer"] and len(parts) == 6:
            customer_id = int(parts[5]) if parts[5].isdigit() else -1
            user = next((u for u in b2b.users.values() if u["customerId"] == customer_id), None)
            if user is None:
                return _refusal(404, "Not Found Error", "User matching query does not exist.")
            return _envelope(200, user, "Success")
        if parts[:4] == ["api", "v3", "io", "users"] and len(parts) == 5 and method == "PUT":
            return self._update_user(b2b, parts[4], body)
        if parts[:4] == ["api", "v3", "io", "users"] and len(parts) == 5 and method == "DELETE":
            return self._delete_user(b2b, parts[4])
        if parts == ["api", "io", "auth", "customers", "storefront"] and method == "POST":
            return self._storefront_token(store, b2b, body)
        return _refusal(404, "This resource is not found.")

    @staticmethod
    def _company_view(company: dict[str, Any]) -> dict[str, Any]:
        return {
            "companyId": str(company["companyId"]),
            "companyName": company["name"],
            "companyEmail": company.get("email", ""),
            "bcGroupId": company.get("customerGroupId", 0),
            "companyStatus": "1",
        }

    def _search_companies(self, b2b: B2bStore, q: str) -> Response:
        found = [
            self._company_view(c) for c in b2b.companies.values() if q.lower() in c["name"].lower()
        ]
        return JSONResponse(
            {
                "code": 200,
                "data": found,
                "meta": {
                    "message": "SUCCESS",
                    "pagination": {"totalCount": len(found), "limit": 250, "offset": 0},
                },
            }
        )

    def _create_company(
        self, store: EmulatedStore, b2b: B2bStore, body: dict[str, Any]
    ) -> Response:
        missing = [k for k in REQUIRED_COMPANY if not isinstance(body.get(k), str) or not body[k]]
        if missing:
            return _refusal(422, f"The {missing[0]} is required.")
        if len(body["companyName"]) > 200 or len(body["companyEmail"]) > 200:
            return _refusal(422, "Parameter Error", "A field is too long.")
        group = body.get("customerGroupId")
        if group is not None and not isinstance(group, int):
            return _refusal(422, "Parameter Error", "customerGroupId must be an integer.")
        channels = body.get("channelIds") or []
        if not isinstance(channels, list) or any(c not in store.channels for c in channels):
            return _refusal(422, "Parameter Error", "Unknown channel.")
        if self._email_taken(b2b, body["adminEmail"]):
            return _refusal(
                422,
                "Processing data contains logical errors",
                f"Email already exists. ['{body['adminEmail']}']",
            )
        company_id = self._new_id()
        b2b.companies[company_id] = {
            "companyId": company_id,
            "name": body["companyName"],
            "email": body["companyEmail"],
            "customerGroupId": group or 0,
        }
        admin = self._customer_for(
            store,
            body["adminEmail"],
            body["adminFirstName"],
            body["adminLastName"],
            channels[0] if channels else None,
        )
        self._make_user(b2b, company_id, admin, 0, None)
        data = {"companyId": company_id, "customerId": admin["id"], "customerGroupId": group or 0}
        return _envelope(200, data)

    def _create_user(self, store: EmulatedStore, b2b: B2bStore, body: dict[str, Any]) -> Response:
        missing = [k for k in REQUIRED_USER if body.get(k) in (None, "", [])]
        if missing:
            return _refusal(
                422, "Parameter Error", f"{{'{missing[0]}': ['This field may not be null.']}}"
            )
        custom = body.get("companyRoleId")
        if custom is not None and custom not in b2b.custom_roles:
            return _refusal(422, "Parameter Error", "Company role does not exist.")
        if custom is None and body["role"] not in ROLES:
            return _refusal(422, "Parameter Error", "User must have a role.")
        if body["companyId"] not in b2b.companies:
            return _refusal(422, "Parameter Error", "Company does not exist.")
        channels = body["channelIds"]
        if not isinstance(channels, list) or any(c not in store.channels for c in channels):
            return _refusal(
                422,
                "Parameter Error",
                "At least one B2B storefront needs to be enabled for a Company user.",
            )
        if self._email_taken(b2b, str(body["email"])):
            return _refusal(
                422,
                "Processing data contains logical errors",
                f"Email already exists. ['{body['email']}']",
            )
        customer = self._customer_for(
            store, str(body["email"]), body["firstName"], body["lastName"], channels[0]
        )
        role = 2 if custom is not None else int(body["role"])
        user_id = self._make_user(b2b, body["companyId"], customer, role, custom)
        return _envelope(200, {"userId": user_id, "bcId": customer["id"]}, "Success")

    def _delete_user(self, b2b: B2bStore, user_id: str) -> Response:
        """user.yaml: the user leaves the company (the BigCommerce customer stays); a
        company's last user cannot be deleted (422)."""
        user = b2b.users.get(int(user_id) if user_id.isdigit() else -1)
        if user is None:
            return _refusal(404, "Not Found Error", "User matching query does not exist.")
        others = [u for u in b2b.users.values() if u["companyId"] == user["companyId"]]
        if len(others) == 1:
            return _refusal(422, "The last user of a company cannot be deleted.")
        del b2b.users[user["id"]]
        return _envelope(200, {}, "Success")

    def _update_user(self, b2b: B2bStore, user_id: str, body: dict[str, Any]) -> Response:
        user = b2b.users.get(int(user_id) if user_id.isdigit() else -1)
        if user is None:
            return _refusal(404, "Not Found Error", "User matching query does not exist.")
        if "companyId" in body and body["companyId"] != user["companyId"]:
            return _refusal(422, "Parameter Error", "companyId is read-only.")
        custom = body.get("companyRoleId")
        if custom is not None:
            if custom not in b2b.custom_roles:
                return _refusal(422, "Parameter Error", "Company role does not exist.")
            user["companyRoleId"], user["role"] = custom, 2
            user["companyRoleName"] = b2b.custom_roles[custom]
        elif "role" in body:
            if body["role"] not in ROLES:
                return _refusal(422, "Parameter Error", "User must have a role.")
            user["role"], user["companyRoleId"], user["companyRoleName"] = body["role"], None, ""
        return _envelope(200, user, "Success")

    def _storefront_token(
        self, store: EmulatedStore, b2b: B2bStore, body: dict[str, Any]
    ) -> Response:
        customer_id = body.get("customerId")
        channel_id = body.get("channelId", 1)
        access = body.get("customerAccessToken")
        if not isinstance(customer_id, int) or customer_id not in store.customers:
            return _refusal(400, "Calling BC API failed", "Customer auth failed")
        if channel_id not in store.channels:
            return _refusal(400, "Calling BC API failed", "Unknown channel")
        if access is not None:
            value = access.get("value") if isinstance(access, dict) else None
            if not isinstance(value, str) or store.access_tokens.get(value) != customer_id:
                return _refusal(400, "Calling BC API failed", "Customer auth failed")
        token = secrets.token_urlsafe(32)
        b2b.storefront_tokens[token] = (customer_id, channel_id)
        return _envelope(200, {"token": [token]})

    def routes(self) -> list[Route]:
        return [Route("/b2b/{rest:path}", self.handle, methods=["GET", "POST", "PUT", "DELETE"])]
