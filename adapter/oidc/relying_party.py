"""The authorization code flow (with PKCE, state and nonce) from the relying party's side.

`begin` builds the request to the OP; `complete` takes the callback's parameters, redeems the
code, validates the ID token and returns the normalised Identity. Which login state the
callback belongs to (and so the expected nonce and verifier) is decided by the caller.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from adapter.clock import Clock
from adapter.core.identity import Identity
from adapter.errors import BadRequest, NotAdmitted, NotVerified, UpstreamFailed
from adapter.oidc.discovery import InvalidProviderMetadata, ProviderDirectory, ProviderMetadata
from adapter.oidc.id_token import (
    TENANT_PLACEHOLDER,
    IdTokenExpectations,
    read_header,
    verify_id_token,
)
from adapter.oidc.keys import UnknownKeyId, select_key
from adapter.outbound import read_capped

MAX_TOKEN_RESPONSE_BYTES = 256 * 1024


# OP error codes that mean "the person did not or could not sign in", not "the OP is broken".
def _printable(text: str, limit: int = 200) -> str:
    """An IdP's error_description for the log: printable characters only, bounded."""
    return "".join(ch for ch in text[:limit] if ch.isprintable())


_USER_SIDE_ERRORS = frozenset(
    {
        "access_denied",
        "login_required",
        "consent_required",
        "interaction_required",
        "account_selection_required",
        "invalid_request",
        "unauthorized_client",
    }
)


@dataclass(frozen=True)
class OidcClientSettings:
    issuer: str
    client_id: str
    client_secret: str | None
    scopes: tuple[str, ...]
    subject_claim: str
    allowed_tenants: frozenset[str] | None
    groups_claim: str | None
    trusted_audiences: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AuthorizationRequest:
    url: str
    state: str
    nonce: str
    code_verifier: str


def _first_string(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def identity_from_claims(claims: Mapping[str, Any], client: OidcClientSettings) -> Identity:
    subject = claims.get(client.subject_claim)
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise NotVerified(
            f"subject claim {client.subject_claim!r} missing or malformed",
            code="subject_missing",
        )
    first, last = _first_string(claims.get("given_name")), _first_string(claims.get("family_name"))
    name = _first_string(claims.get("name"))
    if name and not (first or last):
        first, _, last_part = name.strip().partition(" ")
        last = last_part or None
    groups_value = claims.get(client.groups_claim) if client.groups_claim else None
    if isinstance(groups_value, str):
        groups: tuple[str, ...] = (groups_value,)
    elif isinstance(groups_value, list):
        groups = tuple(g for g in groups_value if isinstance(g, str))
    else:
        groups = ()
    email = _first_string(claims.get("email"))
    return Identity(
        issuer=str(claims.get("iss")),
        subject=subject,
        email=email.strip() if email else None,
        # Only a JSON true counts: "true" strings and absent claims are not verification.
        email_verified=claims.get("email_verified") is True,
        first_name=first,
        last_name=last,
        groups=groups,
        claims=dict(claims),
    )


class OidcRelyingParty:
    def __init__(
        self,
        http: httpx.AsyncClient,
        providers: ProviderDirectory,
        clock: Clock,
        *,
        leeway_seconds: int,
    ):
        self._http = http
        self._providers = providers
        self._clock = clock
        self._leeway = leeway_seconds

    async def _metadata(self, client: OidcClientSettings) -> ProviderMetadata:
        return await self._providers.metadata(
            client.issuer, multi_tenant=client.allowed_tenants is not None
        )

    async def begin(
        self, client: OidcClientSettings, *, redirect_uri: str, login_hint: str | None
    ) -> AuthorizationRequest:
        metadata = await self._metadata(client)
        state = secrets.token_urlsafe(32)
        nonce = secrets.token_urlsafe(32)
        code_verifier = secrets.token_urlsafe(64)  # 86 characters, within RFC 7636's 43..128
        extra: dict[str, str] = {
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(code_verifier),
            "code_challenge_method": "S256",
        }
        if login_hint:
            extra["login_hint"] = login_hint
        url = prepare_grant_uri(
            metadata.authorization_endpoint,
            client_id=client.client_id,
            response_type="code",
            redirect_uri=redirect_uri,
            scope=" ".join(client.scopes),
            state=state,
            **extra,
        )
        return AuthorizationRequest(url=url, state=state, nonce=nonce, code_verifier=code_verifier)

    async def complete(
        self,
        client: OidcClientSettings,
        params: Mapping[str, str],
        *,
        nonce: str,
        code_verifier: str,
        redirect_uri: str,
    ) -> Identity:
        metadata = await self._metadata(client)
        self._check_callback_issuer(metadata, client, params)
        error = params.get("error")
        if error:
            said = _printable(params.get("error_description", ""))
            detail = f"OP answered error={error[:64]}" + (f": {said}" if said else "")
            if error == "access_denied":
                # Typically a person not assigned to the app at the IdP: retrying cannot help.
                raise NotAdmitted(
                    detail,
                    code="idp_access_denied",
                    public_message=(
                        "Your company's sign-in service did not let you into this store "
                        "(you may not be assigned to it). Trying again will not help: "
                        "please ask your IT administrator for access."
                    ),
                )
            if error in _USER_SIDE_ERRORS:
                raise NotVerified(detail, code="idp_refused")
            raise UpstreamFailed(detail, code="idp_error")
        code = params.get("code")
        if not code:
            raise BadRequest("callback without code", code="callback_malformed")

        tokens = await self._redeem_code(metadata, client, code, code_verifier, redirect_uri)
        id_token = tokens["id_token"]
        access_token = tokens.get("access_token")
        claims = await self._verify(metadata, client, id_token, nonce, access_token)

        if self._needs_userinfo(claims, client) and metadata.userinfo_endpoint and access_token:
            userinfo = await self._userinfo(metadata.userinfo_endpoint, access_token)
            # OpenID Connect Core 5.3.2: userinfo for another subject is a substitution attack.
            if not isinstance(userinfo.get("sub"), str) or not hmac.compare_digest(
                userinfo["sub"].encode(), str(claims["sub"]).encode()
            ):
                raise NotVerified("userinfo sub differs from id_token sub", code="userinfo_sub")
            if "email" not in claims:
                # The address and its verification must come from the same source.
                claims = {k: v for k, v in claims.items() if k != "email_verified"}
            claims = {**userinfo, **claims}  # the signed ID token wins where both speak
        return identity_from_claims(claims, client)

    @staticmethod
    def _check_callback_issuer(
        metadata: ProviderMetadata, client: OidcClientSettings, params: Mapping[str, str]
    ) -> None:
        # RFC 9207 defends against mix-up: when the OP says it sends `iss`, it must, and it
        # must be this OP. An `iss` sent unasked must still be right.
        iss = params.get("iss")
        if metadata.is_tenant_template:
            # Multi-tenant: the issuer of one of the admitted tenants.
            admitted = {
                metadata.issuer.replace(TENANT_PLACEHOLDER, tid)
                for tid in client.allowed_tenants or ()
            }
            if iss is not None and iss not in admitted:
                raise NotVerified("callback iss is not an admitted tenant", code="callback_iss")
            return
        if iss is None:
            if metadata.authorization_response_iss_parameter_supported:
                raise NotVerified("callback lacks iss (RFC 9207)", code="callback_iss")
            return
        if iss != metadata.issuer:
            raise NotVerified("callback iss is another issuer (RFC 9207)", code="callback_iss")

    async def _redeem_code(
        self,
        metadata: ProviderMetadata,
        client: OidcClientSettings,
        code: str,
        code_verifier: str,
        redirect_uri: str,
    ) -> dict[str, Any]:
        try:
            method = metadata.token_endpoint_auth_method()
        except InvalidProviderMetadata as exc:
            raise UpstreamFailed(str(exc), code="idp_bad_response") from None
        body = httpx.QueryParams(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            }
        )
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        _, headers, encoded = ClientAuth(client.client_id, client.client_secret, method).prepare(
            "POST", metadata.token_endpoint, headers, str(body)
        )
        response = await read_capped(
            self._http,
            "POST",
            metadata.token_endpoint,
            what="token endpoint",
            max_bytes=MAX_TOKEN_RESPONSE_BYTES,
            content=encoded,
            headers=headers,
        )
        if response.status_code in (400, 401):
            # invalid_grant: a code already used, expired, or not issued to us.
            raise NotVerified(
                f"token endpoint refused the code: HTTP {response.status_code}",
                code="code_refused",
            )
        if response.status_code != 200:
            raise UpstreamFailed(
                f"token endpoint: HTTP {response.status_code}", code="idp_unreachable"
            )
        try:
            tokens = json.loads(response.content)
        except ValueError:
            raise UpstreamFailed("token endpoint: not JSON", code="idp_bad_response") from None
        if not isinstance(tokens, dict) or not isinstance(tokens.get("id_token"), str):
            raise UpstreamFailed("token endpoint: no id_token", code="idp_bad_response")
        token_type = tokens.get("token_type")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise UpstreamFailed("token endpoint: token_type not Bearer", code="idp_bad_response")
        return tokens

    async def _verify(
        self,
        metadata: ProviderMetadata,
        client: OidcClientSettings,
        id_token: str,
        nonce: str,
        access_token: str | None,
    ) -> dict[str, Any]:
        algorithms = metadata.id_token_signing_alg_values_supported
        expected = IdTokenExpectations(
            issuer=metadata.issuer,
            client_id=client.client_id,
            nonce=nonce,
            algorithms=algorithms,
            leeway_seconds=self._leeway,
            allowed_tenants=client.allowed_tenants,
            trusted_audiences=client.trusted_audiences,
            access_token=access_token if isinstance(access_token, str) else None,
        )
        header = read_header(id_token, algorithms)
        jwks = await self._providers.jwks(metadata.jwks_uri)
        try:
            key = select_key(header, jwks, client.client_secret)
        except UnknownKeyId:
            # The OP may have rotated its keys since we cached them: refetch (rate-limited).
            jwks = await self._providers.jwks(metadata.jwks_uri, refresh=True)
            try:
                key = select_key(header, jwks, client.client_secret)
            except UnknownKeyId:
                raise NotVerified("id_token: unknown kid", code="id_token_invalid") from None
        return verify_id_token(id_token, key, expected, self._clock)

    @staticmethod
    def _needs_userinfo(claims: Mapping[str, Any], client: OidcClientSettings) -> bool:
        wanted = ["email", client.subject_claim]
        if client.groups_claim:
            wanted.append(client.groups_claim)
        return any(name not in claims for name in wanted)

    async def _userinfo(self, endpoint: str, access_token: str) -> dict[str, Any]:
        response = await read_capped(
            self._http,
            "GET",
            endpoint,
            what="userinfo",
            max_bytes=MAX_TOKEN_RESPONSE_BYTES,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )
        if response.status_code != 200:
            raise UpstreamFailed(f"userinfo: HTTP {response.status_code}", code="idp_unreachable")
        try:
            document = json.loads(response.content)
        except ValueError:
            raise UpstreamFailed("userinfo: not JSON", code="idp_bad_response") from None
        if not isinstance(document, dict):
            raise UpstreamFailed("userinfo: not an object", code="idp_bad_response")
        return document
