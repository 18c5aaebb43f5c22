"""A BigCommerce emulator: the Customers v3 API and a storefront's Customer Login route.

The storefront checks every `customer_login` JWT the way BigCommerce documents it: HS256
signed with the store's API client secret, `iss` the client id, `iat` within 30 seconds of
now, a `jti` never seen before, `operation` customer_login, this store's hash, an existing
customer, this storefront's channel, a relative `redirect_to`, and `request_ip` (when
present) equal to the browser's address. It refuses anything else with the reason recorded,
and redirects to /login.php as BigCommerce does.

Faults (429 with reset headers, 5xx) can be queued for the API to answer, or drawn at random
for a share of calls (load tests). Such a fault is answered before the call has any effect.
A lost answer is the other kind: the call takes effect (the customer is created), then the
client gets a 500, or nothing until its timeout, as when a connection drops after the write.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import quote

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from adapter.sandbox.b2b import B2bEditionEmulator
from adapter.sandbox.bigcommerce_app import AppMarketplace

TOKEN_WINDOW_SECONDS = 30
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _fold(email: str) -> str:
    # BigCommerce finds and keeps e-mails unique ignoring the case of ASCII letters only;
    # str.lower() would also fold the Kelvin sign into "k" and hide look-alike bugs.
    return email.translate(_ASCII_LOWER)


KNOWN_CLAIMS = {
    "iss",
    "iat",
    "jti",
    "operation",
    "store_hash",
    "customer_id",
    "channel_id",
    "redirect_to",
    "request_ip",
    "enable_persistent_cart",
}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Fault:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    method: str | None = None  # only calls of this method, or any
    # The call takes effect first; then this answer replaces its own, after `delay` seconds.
    after_write: bool = False
    delay: float = 0.0


@dataclass
class EmulatedStore:
    store_hash: str
    client_id: str
    client_secret: str
    api_token: str
    channels: dict[int, str] = field(default_factory=dict)  # channel id -> name
    customers: dict[int, dict[str, Any]] = field(default_factory=dict)
    used_jti: set[str] = field(default_factory=set)
    # Headless: each channel's storefront token, which channels are live, which tokens lack
    # the Customer scope, and the per-channel allow_global_logins setting.
    storefront_tokens: dict[int, str] = field(default_factory=dict)
    not_live: set[int] = field(default_factory=set)
    tokens_without_customer_scope: set[str] = field(default_factory=set)
    global_logins: dict[int, bool] = field(default_factory=dict)
    access_tokens: dict[str, int] = field(default_factory=dict)
    # Apps installed on the store: their client id -> client secret (which signs their login
    # JWTs), and the access tokens their installs were granted.
    installed_apps: dict[str, str] = field(default_factory=dict)
    app_tokens: set[str] = field(default_factory=set)

    def accepts(self, api_token: str) -> bool:
        """Whether an X-Auth-Token is the store's API token or an installed app's."""
        return secrets.compare_digest(api_token, self.api_token) or api_token in self.app_tokens


@dataclass
class Rejection:
    store_hash: str
    reason: str


@dataclass
class Acceptance:
    store_hash: str
    customer_id: int
    channel_id: int
    redirect_to: str
    claims: dict[str, Any]


class BigCommerceEmulator:
    def __init__(self, base_url: str = "", *, clock: Callable[[], float] = time.time):
        self.base_url = base_url
        self.clock = clock
        self.stores: dict[str, EmulatedStore] = {}
        self.faults: list[Fault] = []
        self._random_faults: list[tuple[float, Fault]] = []
        self._random = random.Random()  # noqa: S311 (which calls fail, not a secret)
        self.api_calls: list[tuple[str, str, int]] = []
        # Calls that took effect but whose answer was replaced by a fault: (method, path, the
        # status the call really had).
        self.lost_answers: list[tuple[str, str, int]] = []
        self.rejections: list[Rejection] = []
        # Customer access tokens ended by the GraphQL logout mutation.
        self.logouts: list[str] = []
        self.acceptances: list[Acceptance] = []
        self.create_delay: float = 0.0
        # Create calls received and not yet answered (a load test kills a replica meanwhile).
        self.creations_in_flight = 0
        self._sessions: dict[str, tuple[str, int]] = {}
        # "Sign in with ..." links each storefront page shows (the demo sets them).
        self.sign_in_links: dict[tuple[str, int], list[tuple[str, str]]] = {}
        self._next_id = 1
        # B2B Edition, for the stores that enable it (`b2b.enable(store_hash)`).
        self.b2b = B2bEditionEmulator(self)
        # The app side: OAuth installs, signed payloads, the Channels and Sites APIs.
        self.app_market = AppMarketplace(self)

    # -- set-up ------------------------------------------------------------------------------

    def add_store(
        self, store_hash: str, *, channels: dict[int, str] | None = None
    ) -> EmulatedStore:
        store = EmulatedStore(
            store_hash=store_hash,
            client_id=f"client-{store_hash}",
            client_secret=secrets.token_urlsafe(24),
            api_token=secrets.token_urlsafe(24),
            channels=channels or {1: "Storefront"},
        )
        store.storefront_tokens = {c: secrets.token_urlsafe(16) for c in store.channels}
        self.stores[store_hash] = store
        return store

    def storefront_url(self, store_hash: str, channel_id: int) -> str:
        return f"{self.base_url}/s/{store_hash}/{channel_id}"

    def add_customer(self, store_hash: str, email: str, **fields: Any) -> dict[str, Any]:
        customer = {
            "id": self._next_id,
            "email": email,
            "first_name": fields.get("first_name", "Existing"),
            "last_name": fields.get("last_name", "Customer"),
            "customer_group_id": fields.get("customer_group_id", 0),
            "origin_channel_id": fields.get("origin_channel_id", 1),
            "channel_ids": fields.get("channel_ids"),
            # As BigCommerce writes it: UTC, to the second.
            "date_created": fields.get("date_created") or _iso(self.clock()),
        }
        customer["date_modified"] = customer["date_created"]
        self._next_id += 1
        self.stores[store_hash].customers[customer["id"]] = customer
        return customer

    def fail_next(
        self, status: int, *, times: int = 1, method: str | None = None, reset_ms: int | None = None
    ) -> None:
        headers = {}
        if reset_ms is not None:
            headers = {
                "X-Rate-Limit-Time-Reset-Ms": str(reset_ms),
                "X-Rate-Limit-Time-Window-Ms": "30000",
                "X-Rate-Limit-Requests-Left": "0",
                "X-Rate-Limit-Requests-Quota": "150",
            }
        self.faults.extend(Fault(status, headers, method) for _ in range(times))

    def lose_next_answer(
        self, *, status: int = 500, delay: float = 0.0, method: str = "POST"
    ) -> None:
        """The next call of `method` takes effect, and its answer is lost: `status` instead,
        after `delay` seconds (longer than the client's timeout: no answer at all)."""
        self.faults.append(Fault(status, {}, method, after_write=True, delay=delay))

    def slow_down_creations(self, seconds: float) -> None:
        """Every create call takes this long before it has its effect (0: at once)."""
        self.create_delay = seconds

    def fail_at_random(
        self,
        *,
        share_429: float,
        share_500: float,
        share_lost: float = 0.0,
        reset_ms: int = 250,
        seed: int = 0,
    ) -> None:
        """From now on answer a share of Customers API calls with 429 (and reset headers) and
        another share with 500, drawn at random (seeded, so a run can be repeated); and lose
        the answer of a share of creations (the customer is made, the answer is a 500)."""
        limited = Fault(429, {"X-Rate-Limit-Time-Reset-Ms": str(reset_ms)})
        self._random_faults = [
            (share_429, limited),
            (share_500, Fault(500)),
            (share_lost, Fault(500, method="POST", after_write=True)),
        ]
        self._random = random.Random(seed)  # noqa: S311 (which calls fail, not a secret)

    # -- Customers v3 ------------------------------------------------------------------------

    def _take_fault(self, method: str) -> Fault | None:
        for i, fault in enumerate(self.faults):
            if fault.method in (None, method):
                return self.faults.pop(i)
        draw = self._random.random()
        for share, fault in self._random_faults:
            if draw < share:
                return fault if fault.method in (None, method) else None
            draw -= share
        return None

    async def customers(self, request: Request) -> Response:
        store = self.stores.get(request.path_params["store_hash"])
        method = request.method
        if store is None or not store.accepts(request.headers.get("x-auth-token", "")):
            self.api_calls.append((method, request.url.path, 401))
            return JSONResponse({"status": 401, "title": "Unauthorized"}, status_code=401)
        fault = self._take_fault(method)
        if fault is not None and not fault.after_write:
            self.api_calls.append((method, request.url.path, fault.status))
            return JSONResponse(
                {"status": fault.status, "title": "Emulated fault"},
                status_code=fault.status,
                headers=fault.headers,
            )
        handler = {
            "GET": self._list,
            "POST": self._create,
            "PUT": self._update,
            "DELETE": self._delete,
        }[method]
        self.creations_in_flight += method == "POST"
        try:
            response = await handler(store, request)
        finally:
            self.creations_in_flight -= method == "POST"
        if fault is not None:  # done, and the answer is lost on its way back
            self.lost_answers.append((method, request.url.path, response.status_code))
            if fault.delay:
                await asyncio.sleep(fault.delay)
            self.api_calls.append((method, request.url.path, fault.status))
            return JSONResponse(
                {"status": fault.status, "title": "Emulated fault"}, status_code=fault.status
            )
        self.api_calls.append((method, request.url.path, response.status_code))
        return response

    async def _list(self, store: EmulatedStore, request: Request) -> Response:
        found = list(store.customers.values())
        if "email:in" in request.query_params:
            wanted = {_fold(e.strip()) for e in request.query_params["email:in"].split(",")}
            found = [c for c in found if _fold(c["email"]) in wanted]
        if "id:in" in request.query_params:
            ids = {int(i) for i in request.query_params["id:in"].split(",") if i.isdigit()}
            found = [c for c in found if c["id"] in ids]
        return JSONResponse({"data": found, "meta": {"pagination": {"total": len(found)}}})

    async def _create(self, store: EmulatedStore, request: Request) -> Response:
        body = await request.json()
        if not isinstance(body, list) or not body or len(body) > 10:
            return JSONResponse({"status": 422, "title": "Invalid body"}, status_code=422)
        if self.create_delay:
            await asyncio.sleep(self.create_delay)
        created = []
        for item in body:
            email = str(item.get("email", ""))
            password = str(item.get("authentication", {}).get("new_password", ""))
            if not item.get("first_name") or not item.get("last_name") or "@" not in email:
                return JSONResponse(
                    {
                        "status": 422,
                        "title": "Create customers failed.",
                        "errors": {".customer_create": "Error creating customers"},
                    },
                    422,
                )
            if len(password) < 7 or password.isalpha() or password.isdigit():
                return JSONResponse({"status": 422, "title": "Password too weak"}, 422)
            if any(_fold(c["email"]) == _fold(email) for c in store.customers.values()):
                return JSONResponse(
                    {
                        "status": 422,
                        "title": "Create customers failed.",
                        "errors": {".customer_create": "Error creating customers"},
                    },
                    422,
                )
            customer = self.add_customer(
                store.store_hash,
                email,
                first_name=item["first_name"],
                last_name=item["last_name"],
                customer_group_id=item.get("customer_group_id", 0),
                origin_channel_id=item.get("origin_channel_id", 1),
                channel_ids=item.get("channel_ids"),
            )
            created.append(customer)
        return JSONResponse({"data": created, "meta": {}})

    async def _update(self, store: EmulatedStore, request: Request) -> Response:
        body = await request.json()
        updated = []
        for item in body:
            customer = store.customers.get(int(item.get("id", 0)))
            if customer is None:
                return JSONResponse({"status": 422, "title": "Unknown customer"}, 422)
            email = item.get("email")
            if isinstance(email, str) and any(
                _fold(c["email"]) == _fold(email) and c["id"] != customer["id"]
                for c in store.customers.values()
            ):
                return JSONResponse({"status": 422, "title": "Email already in use"}, 422)
            if item.get("channel_ids") == []:
                # customers.v3.yml: "This array cannot be empty."
                return JSONResponse({"status": 422, "title": "channel_ids cannot be empty"}, 422)
            for key in ("email", "first_name", "last_name", "customer_group_id", "channel_ids"):
                if key in item:
                    customer[key] = item[key]
            updated.append(customer)
        return JSONResponse({"data": updated, "meta": {}})

    async def _delete(self, store: EmulatedStore, request: Request) -> Response:
        """customers.v3.yml: `id:in` names the customers; 204 whether or not they existed."""
        raw = request.query_params.get("id:in")
        if raw is None:
            return Response(status_code=204)
        ids = [i for i in raw.split(",") if i]
        if not ids or not all(i.isdigit() for i in ids):
            return JSONResponse({"status": 422, "title": "Invalid id:in"}, 422)
        for customer_id in ids:
            store.customers.pop(int(customer_id), None)
            for token, holder in list(store.access_tokens.items()):
                if holder == int(customer_id):
                    del store.access_tokens[token]
        return Response(status_code=204)

    async def channel_settings(self, request: Request) -> Response:
        store = self.stores.get(request.path_params["store_hash"])
        if store is None or not store.accepts(request.headers.get("x-auth-token", "")):
            return JSONResponse({"status": 401, "title": "Unauthorized"}, status_code=401)
        channel_id = int(request.path_params["channel_id"])
        self.api_calls.append(("GET", request.url.path, 200))
        return JSONResponse(
            {"data": {"allow_global_logins": store.global_logins.get(channel_id, True)}}
        )

    async def graphql(self, request: Request) -> Response:
        """The GraphQL Storefront API's loginWithCustomerLoginJwt, as BigCommerce answers it."""
        store = self.stores.get(request.path_params["store_hash"])
        channel_id = int(request.path_params["channel_id"])
        if store is None or channel_id not in store.channels:
            return JSONResponse({"errors": [{"message": "Not found"}]}, status_code=404)
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not secrets.compare_digest(token, store.storefront_tokens.get(channel_id, "")):
            return JSONResponse({"errors": [{"message": "Invalid token"}]}, status_code=401)

        def error(message: str) -> Response:
            return JSONResponse({"data": None, "errors": [{"message": message}]})

        if channel_id in store.not_live:
            return error("Channel is not active")
        if token in store.tokens_without_customer_scope:
            return error("Token does not have the required scope: customer")
        body = await request.json()
        query = str(body.get("query", ""))
        if "logout" in query and "loginWithCustomerLoginJwt" not in query:
            # graphql-storefront.mdx: the customer access token sent with the logout mutation
            # is invalidated.
            customer_token = request.headers.get("x-bc-customer-access-token", "")
            if customer_token not in store.access_tokens:
                return JSONResponse(
                    {
                        "data": None,
                        "errors": [
                            {
                                "message": "Invalid customer access token",
                                "extensions": {"code": "INVALID_CUSTOMER_ACCESS_TOKEN"},
                            }
                        ],
                    }
                )
            del store.access_tokens[customer_token]
            self.logouts.append(customer_token)
            return JSONResponse({"data": {"logout": {"result": "success"}}})
        if "loginWithCustomerLoginJwt" not in query:
            return error("Unsupported operation")
        jwt_value = (body.get("variables") or {}).get("jwt", "")
        try:
            accepted = self.verify_login_token(store, channel_id, jwt_value, None)
        except ValueError as exc:
            self.rejections.append(Rejection(store.store_hash, str(exc)))
            return error("Invalid JWT")
        self.acceptances.append(accepted)
        customer = store.customers[accepted.customer_id]
        access_token = secrets.token_urlsafe(24)
        store.access_tokens[access_token] = customer["id"]
        login = {
            "customer": {"entityId": customer["id"], "email": customer["email"]},
            "customerAccessToken": {"value": access_token, "expiresAt": "2099-01-01T00:00:00Z"},
        }
        return JSONResponse({"data": {"loginWithCustomerLoginJwt": login}})

    def graphql_url(self, store_hash: str, channel_id: int) -> str:
        return f"{self.base_url}/s/{store_hash}/{channel_id}/graphql"

    # -- storefront --------------------------------------------------------------------------

    def verify_login_token(
        self, store: EmulatedStore, channel_id: int, token: str, client_ip: str | None
    ) -> Acceptance:
        """Raise ValueError(reason) unless BigCommerce would accept this token."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise ValueError(f"malformed token: {exc}") from None
        if header.get("alg") != "HS256" or header.get("typ", "JWT") != "JWT":
            raise ValueError("header must be alg HS256, typ JWT")
        issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        secret = store.installed_apps.get(str(issuer), store.client_secret)
        try:
            claims = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "require": ["iss", "iat", "jti", "operation", "store_hash", "customer_id"],
                },
            )
        except jwt.PyJWTError as exc:
            raise ValueError(f"signature or structure: {exc}") from None
        unknown = set(claims) - KNOWN_CLAIMS
        if unknown:
            raise ValueError(f"unknown claims {sorted(unknown)}")
        if claims["iss"] != store.client_id and claims["iss"] not in store.installed_apps:
            raise ValueError("iss is not the client id of the store or of an installed app")
        if claims["operation"] != "customer_login":
            raise ValueError("operation is not customer_login")
        if claims["store_hash"] != store.store_hash:
            raise ValueError("store_hash is another store")
        iat = claims["iat"]
        if not isinstance(iat, int) or abs(self.clock() - iat) > TOKEN_WINDOW_SECONDS:
            raise ValueError("iat outside the 30-second window")
        if not isinstance(claims["jti"], str) or claims["jti"] in store.used_jti:
            raise ValueError("jti missing or used before")
        store.used_jti.add(claims["jti"])
        customer_id = claims["customer_id"]
        if not isinstance(customer_id, int) or customer_id not in store.customers:
            raise ValueError("customer_id is not a customer of this store")
        token_channel = claims.get("channel_id", 1)
        if not isinstance(token_channel, int) or token_channel != channel_id:
            raise ValueError("channel_id is not this storefront's channel")
        allowed = store.customers[customer_id].get("channel_ids")
        if allowed and channel_id not in allowed:
            raise ValueError("customer may not use this channel")
        redirect_to = claims.get("redirect_to", "/account.php")
        if (
            not isinstance(redirect_to, str)
            or not redirect_to.startswith("/")
            or redirect_to.startswith("//")
            or "\\" in redirect_to
        ):
            raise ValueError("redirect_to is not a relative path")
        if "request_ip" in claims and claims["request_ip"] != client_ip:
            raise ValueError("request_ip does not match")
        return Acceptance(store.store_hash, customer_id, channel_id, redirect_to, claims)

    async def login_token(self, request: Request) -> Response:
        store = self.stores.get(request.path_params["store_hash"])
        channel_id = int(request.path_params["channel_id"])
        if store is None or channel_id not in store.channels:
            return HTMLResponse("No such storefront", status_code=404)
        base = self.storefront_url(store.store_hash, channel_id)
        try:
            accepted = self.verify_login_token(
                store,
                channel_id,
                request.path_params["token"],
                request.client.host if request.client else None,
            )
        except ValueError as exc:
            self.rejections.append(Rejection(store.store_hash, str(exc)))
            return RedirectResponse(f"{base}/login.php?error={quote('Invalid login token')}", 302)
        self.acceptances.append(accepted)
        session = secrets.token_urlsafe(16)
        self._sessions[session] = (store.store_hash, accepted.customer_id)
        response = RedirectResponse(f"{base}{accepted.redirect_to}", status_code=302)
        response.set_cookie(
            f"SHOP_SESSION_{store.store_hash}_{channel_id}",
            session,
            httponly=True,
            samesite="lax",
            path="/",
        )
        return response

    async def storefront_page(self, request: Request) -> Response:
        store = self.stores.get(request.path_params["store_hash"])
        channel_id = int(request.path_params["channel_id"])
        if store is None or channel_id not in store.channels:
            return HTMLResponse("No such storefront", status_code=404)
        path = "/" + request.path_params.get("path", "")
        cookie = request.cookies.get(f"SHOP_SESSION_{store.store_hash}_{channel_id}")
        session = self._sessions.get(cookie or "")
        if path == "/login.php" and request.query_params.get("action") == "logout":
            self._sessions.pop(cookie or "", None)
            session = None
        customer = store.customers.get(session[1]) if session else None
        if customer:
            status = (
                f"<p id=status>Signed in as customer #{customer['id']}, "
                f"e-mail {escape(customer['email'])}</p>"
            )
            buyer = self.b2b.describe_user(store.store_hash, customer["id"])
            if buyer:
                status += f"<p id=b2b>{escape(buyer)}</p>"
        else:
            error = request.query_params.get("error")
            status = "<p id=status>Not signed in.</p>" + (
                f"<p id=error>{escape(error)}</p>" if error else ""
            )
        login_links = "".join(
            f'<li><a class=sso href="{escape(url)}">{escape(label)}</a></li>'
            for label, url in self.sign_in_links.get((store.store_hash, channel_id), [])
        )
        page = f"""<!doctype html><html><head><meta charset=utf-8>
<title>{escape(store.channels[channel_id])} (BigCommerce sandbox)</title>
<style>body{{font:16px system-ui;max-width:36rem;margin:4rem auto}}</style></head><body>
<h1>{escape(store.channels[channel_id])}</h1><p>Page <code>{escape(path)}</code> of store
<code>{escape(store.store_hash)}</code>, channel {channel_id}.</p>{status}
<ul>{login_links}</ul></body></html>"""
        return HTMLResponse(page)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(
                    "/stores/{store_hash}/v3/customers",
                    self.customers,
                    methods=["GET", "POST", "PUT", "DELETE"],
                ),
                Route(
                    "/stores/{store_hash}/v3/customers/settings/channels/{channel_id:int}",
                    self.channel_settings,
                ),
                Route("/s/{store_hash}/{channel_id:int}/graphql", self.graphql, methods=["POST"]),
                Route("/s/{store_hash}/{channel_id:int}/login/token/{token}", self.login_token),
                Route("/s/{store_hash}/{channel_id:int}/{path:path}", self.storefront_page),
                Route("/s/{store_hash}/{channel_id:int}", self.storefront_page),
                *self.b2b.routes(),
                *self.app_market.routes(),
            ]
        )
