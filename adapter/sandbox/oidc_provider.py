"""A small OpenID provider: discovery, JWKS, authorization code flow with PKCE, userinfo.

Tokens are real (RS256 with a key generated at start-up, via joserfc). The `hooks` let the
test suite make it misbehave in the precise ways a hostile or broken OP would.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route


@dataclass
class SandboxUser:
    username: str
    password: str
    claims: dict[str, Any]


@dataclass
class SandboxClient:
    client_id: str
    client_secret: str
    redirect_uris: list[str]


@dataclass
class Hooks:
    """Ways to make the provider misbehave, one per attack or failure the RP must resist."""

    id_token_claims: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    id_token_header: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    # "none" for an unsigned token, or a callable (header, claims) -> token string.
    sign: Callable[[dict[str, Any], dict[str, Any]], str] | str | None = None
    userinfo: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    callback_params: Callable[[dict[str, str]], dict[str, str]] | None = None
    token_response: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    discovery: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    token_status: int | None = None


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    user: SandboxUser
    scope: str
    expires_at: float


class SandboxOidcProvider:
    def __init__(self, issuer: str = "", *, auto_login: str | None = None):
        self.issuer = issuer
        self.auto_login = auto_login  # username signed in without a form (tests)
        self.keys: list[RSAKey] = [
            RSAKey.generate_key(2048, parameters={"kid": "key-1", "use": "sig"}, private=True)
        ]
        self.users: dict[str, SandboxUser] = {}
        self.clients: dict[str, SandboxClient] = {}
        self.hooks = Hooks()
        self.advertise_iss_parameter = True
        self.token_endpoint_auth_methods = ["client_secret_basic", "client_secret_post"]
        self.token_requests: list[dict[str, Any]] = []
        self._grants: dict[str, _Grant] = {}
        self._access_tokens: dict[str, SandboxUser] = {}

    # -- set-up -----------------------------------------------------------------------------

    def add_user(self, username: str, password: str, **claims: Any) -> SandboxUser:
        user = SandboxUser(username, password, {"sub": f"sub-{username}", **claims})
        self.users[username] = user
        return user

    def add_client(self, client_id: str, client_secret: str, redirect_uris: list[str]) -> None:
        """Register a client, or add redirect URIs to one already registered."""
        known = self.clients.get(client_id)
        if known is not None and known.client_secret == client_secret:
            known.redirect_uris.extend(u for u in redirect_uris if u not in known.redirect_uris)
            return
        self.clients[client_id] = SandboxClient(client_id, client_secret, list(redirect_uris))

    def rotate_key(self) -> RSAKey:
        """Publish a new signing key and retire the old one (as OPs do on rotation)."""
        key = RSAKey.generate_key(
            2048, parameters={"kid": f"key-{len(self.keys) + 1}", "use": "sig"}, private=True
        )
        self.keys = [key]
        return key

    @property
    def signing_key(self) -> RSAKey:
        return self.keys[-1]

    # -- tokens -----------------------------------------------------------------------------

    def id_token_claims(self, grant: _Grant, access_token: str) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + 300,
            "auth_time": now,
            **grant.user.claims,
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        return claims

    def sign(self, header: dict[str, Any], claims: dict[str, Any]) -> str:
        sign = self.hooks.sign
        if sign == "none":

            def b64(data: dict[str, Any]) -> str:
                import json

                raw = json.dumps(data, separators=(",", ":")).encode()
                return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

            return f"{b64({**header, 'alg': 'none'})}.{b64(claims)}."
        if callable(sign):
            return sign(header, claims)
        return jwt.encode(header, claims, self.signing_key)

    def sign_hs256(self, secret: str) -> Callable[[dict[str, Any], dict[str, Any]], str]:
        def sign(header: dict[str, Any], claims: dict[str, Any]) -> str:
            header = {k: v for k, v in header.items() if k != "kid"}
            return jwt.encode(
                {**header, "alg": "HS256"}, claims, OctKey.import_key(secret.encode())
            )

        return sign

    # -- endpoints --------------------------------------------------------------------------

    async def discovery(self, request: Request) -> Response:
        document: dict[str, Any] = {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": self.token_endpoint_auth_methods,
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "email", "profile"],
            "authorization_response_iss_parameter_supported": self.advertise_iss_parameter,
        }
        if self.hooks.discovery:
            document = self.hooks.discovery(document)
        return JSONResponse(document)

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(KeySet(list(self.keys)).as_dict(private=False))

    def _authorize_error(self, message: str) -> Response:
        return HTMLResponse(
            f"<h1>Authorization error</h1><p>{escape(message)}</p>", status_code=400
        )

    async def authorize(self, request: Request) -> Response:
        params = (
            dict(request.query_params)
            if request.method == "GET"
            else {k: str(v) for k, v in (await request.form()).items()}
        )
        client = self.clients.get(params.get("client_id", ""))
        if client is None or params.get("redirect_uri") not in client.redirect_uris:
            return self._authorize_error("unknown client or redirect_uri")
        if params.get("response_type") != "code":
            return self._authorize_error("response_type must be code")
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return self._authorize_error("PKCE S256 is required")
        user: SandboxUser | None = None
        if request.method == "POST":
            candidate = self.users.get(params.get("username", ""))
            if candidate and secrets.compare_digest(candidate.password, params.get("password", "")):
                user = candidate
            else:
                return self._login_form(params, error="Wrong username or password.")
        elif self.auto_login:
            # A login_hint naming a known user signs that user in (tests, benchmarks).
            user = self.users.get(params.get("login_hint", ""), self.users[self.auto_login])
        if user is None:
            return self._login_form(params)
        code = secrets.token_urlsafe(24)
        self._grants[code] = _Grant(
            client_id=client.client_id,
            redirect_uri=params["redirect_uri"],
            code_challenge=params["code_challenge"],
            nonce=params.get("nonce"),
            user=user,
            scope=params.get("scope", ""),
            expires_at=time.time() + 60,
        )
        answer = {"code": code, "state": params.get("state", "")}
        if self.advertise_iss_parameter:
            answer["iss"] = self.issuer
        if self.hooks.callback_params:
            answer = self.hooks.callback_params(answer)
        return RedirectResponse(f"{params['redirect_uri']}?{urlencode(answer)}", status_code=302)

    def _login_form(self, params: dict[str, str], error: str | None = None) -> Response:
        hidden = "".join(
            f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
            for k, v in params.items()
            if k not in ("username", "password")
        )
        user = next(iter(self.users.values()), None)
        hint = (
            f"<p class=hint>Test user: <b>{escape(user.username)}</b> / "
            f"password <b>{escape(user.password)}</b></p>"
            if user
            else ""
        )
        problem = f"<p class=err>{escape(error)}</p>" if error else ""
        page = f"""<!doctype html><html><head><meta charset=utf-8><title>Example Corp sign-in</title>
<style>body{{font:16px system-ui;max-width:24rem;margin:4rem auto}}input{{display:block;margin:.4rem 0;
padding:.4rem;width:100%}}.err{{color:#b00}}.hint{{color:#555}}</style></head><body>
<h1>Example Corp</h1><p>Sign in with your company account (sample OpenID provider).</p>
{problem}<form method=post action="{escape(self.issuer)}/authorize">{hidden}
<label>Username<input name=username id=username autocomplete=username></label>
<label>Password<input name=password id=password type=password></label>
<button type=submit id=signin>Sign in</button></form>{hint}</body></html>"""
        return HTMLResponse(page, status_code=200 if error is None else 401)

    def _client_from_request(self, request: Request, form: dict[str, str]) -> SandboxClient | None:
        auth = request.headers.get("authorization", "")
        if auth.startswith("Basic "):
            try:
                client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                return None
            method = "client_secret_basic"
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
            method = "client_secret_post"
        client = self.clients.get(client_id)
        if (
            client is None
            or method not in self.token_endpoint_auth_methods
            or not secrets.compare_digest(client.client_secret, secret)
        ):
            return None
        return client

    async def token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.token_requests.append(
            {"form": form, "authorization": "authorization" in request.headers}
        )
        if self.hooks.token_status:
            return JSONResponse({"error": "server_error"}, status_code=self.hooks.token_status)
        client = self._client_from_request(request, form)
        if client is None:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = self._grants.pop(form.get("code", ""), None)
        if (
            grant is None
            or grant.expires_at < time.time()
            or grant.client_id != client.client_id
            or grant.redirect_uri != form.get("redirect_uri")
            or form.get("grant_type") != "authorization_code"
        ):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        verifier = form.get("code_verifier", "")
        if not verifier or create_s256_code_challenge(verifier) != grant.code_challenge:
            return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, 400)
        access_token = secrets.token_urlsafe(32)
        self._access_tokens[access_token] = grant.user
        claims = self.id_token_claims(grant, access_token)
        if self.hooks.id_token_claims:
            claims = self.hooks.id_token_claims(claims)
        header: dict[str, Any] = {"alg": "RS256", "kid": self.signing_key.kid, "typ": "JWT"}
        if self.hooks.id_token_header:
            header = self.hooks.id_token_header(header)
        body: dict[str, Any] = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": self.sign(header, claims),
            "scope": grant.scope,
        }
        if self.hooks.token_response:
            body = self.hooks.token_response(body)
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    async def userinfo(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        user = self._access_tokens.get(auth.removeprefix("Bearer ").strip())
        if user is None:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        document = dict(user.claims)
        if self.hooks.userinfo:
            document = self.hooks.userinfo(document)
        return JSONResponse(document)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize, methods=["GET", "POST"]),
                Route("/token", self.token, methods=["POST"]),
                Route("/userinfo", self.userinfo),
            ]
        )
