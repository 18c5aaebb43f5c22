"""BigCommerce's side of an app, as its apps guide describes it (bigcommerce/docs:
docs/integrations/apps/guide/auth.mdx, callbacks.mdx) and the Channels and Sites APIs the app
reads (reference/channels.v3.yml, sites.v3.yml).

- An install: the control panel sends the merchant's browser to the app's auth callback with a
  `code`, `scope`, `context=stores/{hash}` and `account_uuid`; the app exchanges the code at
  `POST /oauth2/token` (form or JSON: client_id, client_secret, code, context, scope,
  grant_type=authorization_code, redirect_uri) once, for an access token with the granted
  scopes and the installing user and store owner.
- Later clicks and the uninstall / remove-user events carry `signed_payload_jwt`: HS256 with the
  app's client secret; `iss` "bc", `aud` the client id, `sub` "stores/{hash}", `iat`, `nbf`,
  `exp` (a day after `nbf`), `jti`, `user`, `owner`, `url`, `channel_id`.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import jwt
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from adapter.sandbox.bigcommerce import BigCommerceEmulator

CODE_LIFETIME_SECONDS = 300


@dataclass
class RegisteredApp:
    client_id: str
    client_secret: str
    auth_callback: str


@dataclass
class PendingInstall:
    store_hash: str
    client_id: str
    scope: str
    user: dict[str, Any]
    owner: dict[str, Any]
    account_uuid: str
    issued_at: float
    used: bool = False


@dataclass
class AppMarketplace:
    bigcommerce: BigCommerceEmulator
    clock: Callable[[], float] = time.time
    apps: dict[str, RegisteredApp] = field(default_factory=dict)
    codes: dict[str, PendingInstall] = field(default_factory=dict)
    # Token exchanges refused, with the reason (for tests).
    refusals: list[str] = field(default_factory=list)

    def register_app(self, auth_callback: str) -> RegisteredApp:
        """A draft app in the developer portal: its credentials and auth callback URL."""
        app = RegisteredApp(
            client_id=secrets.token_hex(16),
            client_secret=secrets.token_urlsafe(32),
            auth_callback=auth_callback,
        )
        self.apps[app.client_id] = app
        return app

    def begin_install(
        self,
        store_hash: str,
        client_id: str,
        scope: str,
        *,
        user: dict[str, Any] | None = None,
    ) -> dict[str, str]:
        """The merchant clicked Install: the auth callback's query parameters."""
        owner = {"id": 1001, "username": "owner", "email": "owner@shop.example"}
        code = secrets.token_urlsafe(24)
        self.codes[code] = PendingInstall(
            store_hash=store_hash,
            client_id=client_id,
            scope=scope,
            user=user or owner,
            owner=owner,
            account_uuid=str(uuid.uuid4()),
            issued_at=self.clock(),
        )
        return {
            "code": code,
            "scope": scope,
            "context": f"stores/{store_hash}",
            "account_uuid": self.codes[code].account_uuid,
        }

    def signed_payload(
        self,
        store_hash: str,
        client_id: str,
        *,
        user: dict[str, Any] | None = None,
        secret: str | None = None,
        issued_at: float | None = None,
        **overrides: Any,
    ) -> str:
        """A `signed_payload_jwt` as BigCommerce signs it (overrides forge a claim)."""
        now = int(self.clock() if issued_at is None else issued_at)
        claims: dict[str, Any] = {
            "aud": client_id,
            "iss": "bc",
            "iat": now,
            "nbf": now - 5,
            "exp": now + 24 * 3600,
            "jti": str(uuid.uuid4()),
            "sub": f"stores/{store_hash}",
            "user": user or {"id": 1001, "email": "owner@shop.example", "locale": "en-US"},
            "owner": {"id": 1001, "email": "owner@shop.example"},
            "url": "/",
            "channel_id": None,
            **overrides,
        }
        key = secret if secret is not None else self.apps[client_id].client_secret
        return jwt.encode(claims, key, algorithm="HS256")

    def uninstall(self, store_hash: str, client_id: str) -> None:
        """BigCommerce's side of an uninstall: the app's token stops working."""
        store = self.bigcommerce.stores[store_hash]
        store.installed_apps.pop(client_id, None)
        store.app_tokens.clear()

    # -- HTTP --------------------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        raw = await request.body()
        if request.headers.get("content-type", "").startswith("application/json"):
            import json

            form = {k: str(v) for k, v in json.loads(raw or b"{}").items()}
        else:
            form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}

        def refuse(reason: str) -> Response:
            self.refusals.append(reason)
            return JSONResponse({"error": "invalid_request", "error_description": reason}, 400)

        app = self.apps.get(form.get("client_id", ""))
        if app is None or not secrets.compare_digest(
            form.get("client_secret", ""), app.client_secret
        ):
            return refuse("client credentials")
        if form.get("grant_type") != "authorization_code":
            return refuse("grant_type")
        if form.get("redirect_uri") != app.auth_callback:
            return refuse("redirect_uri")
        pending = self.codes.get(form.get("code", ""))
        if pending is None or pending.client_id != app.client_id:
            return refuse("unknown code")
        if pending.used:
            return refuse("code used")
        if self.clock() - pending.issued_at > CODE_LIFETIME_SECONDS:
            return refuse("code expired")
        if form.get("context") != f"stores/{pending.store_hash}":
            return refuse("context")
        if form.get("scope") != pending.scope:
            return refuse("scope")
        pending.used = True
        store = self.bigcommerce.stores[pending.store_hash]
        access_token = secrets.token_urlsafe(24)
        store.installed_apps[app.client_id] = app.client_secret
        store.app_tokens.add(access_token)
        return JSONResponse(
            {
                "access_token": access_token,
                "scope": pending.scope,
                "user": pending.user,
                "owner": pending.owner,
                "context": f"stores/{pending.store_hash}",
                "account_uuid": pending.account_uuid,
            }
        )

    def _store(self, request: Request) -> Any:
        store = self.bigcommerce.stores.get(request.path_params["store_hash"])
        if store is None or not store.accepts(request.headers.get("x-auth-token", "")):
            return None
        return store

    async def channels(self, request: Request) -> Response:
        store = self._store(request)
        if store is None:
            return JSONResponse({"status": 401, "title": "Unauthorized"}, 401)
        data = [
            {
                "id": channel_id,
                "name": name,
                "type": "storefront",
                "platform": "bigcommerce",
                "status": "active",
            }
            for channel_id, name in sorted(store.channels.items())
        ]
        return JSONResponse({"data": data, "meta": {"pagination": {"total": len(data)}}})

    async def site(self, request: Request) -> Response:
        store = self._store(request)
        if store is None:
            return JSONResponse({"status": 401, "title": "Unauthorized"}, 401)
        channel_id = int(request.path_params["channel_id"])
        if channel_id not in store.channels:
            return JSONResponse({"status": 404, "title": "Site not found"}, 404)
        url = self.bigcommerce.storefront_url(store.store_hash, channel_id)
        return JSONResponse(
            {
                "data": {
                    "id": 100 + channel_id,
                    "channel_id": channel_id,
                    "url": url,
                    "urls": [{"url": url, "type": "primary"}],
                },
                "meta": {},
            }
        )

    # -- the control panel's Apps page (a person clicks Install) ------------------------------

    ALL_SCOPES = (
        "store_v2_customers store_v2_customers_login store_channel_settings_read_only "
        "store_sites_read_only"
    )

    async def apps_page(self, request: Request) -> Response:
        from html import escape

        store_hash = request.path_params["store_hash"]
        if store_hash not in self.bigcommerce.stores:
            return HTMLResponse("no such store", 404)
        rows = "".join(
            f'<li>{escape(app.client_id[:8])}… <a href="/manage/apps/{escape(store_hash)}/'
            f'install/{escape(app.client_id)}">Install</a></li>'
            for app in self.apps.values()
        )
        return HTMLResponse(
            "<!doctype html><html><head><meta charset=utf-8><title>Apps (BigCommerce "
            "sandbox)</title></head><body><h1>My Draft Apps</h1>"
            f"<p>Store <code>{escape(store_hash)}</code></p><ul>{rows}</ul></body></html>"
        )

    async def install_click(self, request: Request) -> Response:
        store_hash = request.path_params["store_hash"]
        app = self.apps.get(request.path_params["client_id"])
        if app is None or store_hash not in self.bigcommerce.stores:
            return HTMLResponse("no such app or store", 404)
        from urllib.parse import urlencode

        params = self.begin_install(store_hash, app.client_id, self.ALL_SCOPES)
        return RedirectResponse(f"{app.auth_callback}?{urlencode(params)}", status_code=302)

    def routes(self) -> list[Route]:
        return [
            Route("/manage/apps/{store_hash}", self.apps_page),
            Route("/manage/apps/{store_hash}/install/{client_id}", self.install_click),
            Route("/oauth2/token", self.token, methods=["POST"]),
            Route("/stores/{store_hash}/v3/channels", self.channels),
            Route("/stores/{store_hash}/v3/channels/{channel_id:int}/site", self.site),
        ]
