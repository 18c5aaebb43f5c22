"""The admin API's OpenAPI document, with what FastAPI cannot know from the routes: a
description of every operation, and the scope each one requires (checked by
`auth.require`, which the generator does not see)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

# (method, path) -> what the operation does, for an operator reading the document.
DESCRIPTIONS: dict[tuple[str, str], str] = {
    ("get", "/stores"): "Every store, in the shape PUT takes (less the write-only secrets).",
    ("put", "/stores/{store}"): (
        "Create (201) or replace (200) a store. `client_secret` and `api_token` are required "
        "when the store is created; on replace an omitted secret is kept, except where a URL "
        "it is sent to changes (then it must be given again, 422 `secret_required`). A body "
        "read with GET is accepted back: its read-only fields are ignored. A PUT that changes "
        "nothing writes no audit event."
    ),
    ("get", "/stores/{store}"): "The store, in the shape PUT takes (less the secrets).",
    ("delete", "/stores/{store}"): (
        "Delete the store with its channels, connections and links. Its audit events stay "
        "readable under its slug."
    ),
    ("post", "/stores/{store}/check-credentials"): (
        "One cheap Customers API read with the store's API token: does BigCommerce accept it?"
    ),
    ("get", "/stores/{store}/connections"): "The store's connections, each in the PUT shape.",
    ("put", "/stores/{store}/connections/{connection}"): (
        "Create (201) or replace (200) a connection. An OIDC connection's `client_secret` is "
        "required when it is created and kept when omitted (unless the issuer changes). The "
        "issuer's discovery document or the IdP's SAML metadata is fetched and checked "
        "before anything is saved (422 naming the URL and the cause otherwise)."
    ),
    ("get", "/stores/{store}/connections/{connection}"): (
        "The connection in the flat shape PUT takes, less `client_secret`, plus read-only "
        "`slug`, `created_at`, `updated_at` and `has_client_secret`."
    ),
    ("delete", "/stores/{store}/connections/{connection}"): (
        "Delete the connection with its links, SCIM tokens and SCIM directory."
    ),
    ("post", "/stores/{store}/connections/{connection}/test-login"): (
        "What a login with the given claims would do: link, create, refuse (and why), the "
        "customer to be created, the JWT's claims. Reads BigCommerce, writes nothing."
    ),
    ("post", "/stores/{store}/connections/{connection}/scim-tokens"): (
        "A bearer token for this connection's SCIM endpoint, shown in this answer only "
        "(stored as SHA-256); it is no token for any other connection."
    ),
    ("get", "/stores/{store}/connections/{connection}/scim-tokens"): (
        "The connection's SCIM tokens: ids, creation and last use, never the tokens."
    ),
    ("delete", "/stores/{store}/connections/{connection}/scim-tokens/{token_id}"): (
        "Revoke a SCIM token at once, on every replica."
    ),
    ("get", "/stores/{store}/links"): (
        "Identity links (subject to customer), filtered by connection, subject, customer id "
        "or e-mail; paged with `cursor`."
    ),
    ("post", "/stores/{store}/links"): (
        "Link a subject to a customer by hand (409 if either is linked in that connection)."
    ),
    ("get", "/stores/{store}/links/{link_id}"): "One link.",
    ("patch", "/stores/{store}/links/{link_id}"): "Re-point a link to another customer.",
    ("delete", "/stores/{store}/links/{link_id}"): (
        "Unlink: the subject's next login resolves afresh (by e-mail or creation)."
    ),
    ("get", "/stores/{store}/events"): (
        "The audit trail, newest first: logins (with their reference ids and reasons), "
        "customer creations, configuration changes (before → after), SCIM changes."
    ),
}


def _scope_of(route: APIRoute) -> str | None:
    for dependency in route.dependant.dependencies:
        scope = getattr(dependency.call, "scope", None)
        if isinstance(scope, str):
            return scope
    return None


def admin_openapi(app: FastAPI) -> dict[str, Any]:
    """The document, built once: descriptions and required scopes added per operation."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue
        scope = _scope_of(route)
        for method in route.methods or ():
            operation = document["paths"][route.path_format].get(method.lower())
            if operation is None:
                continue
            text = DESCRIPTIONS.get((method.lower(), route.path_format), "")
            if scope is not None:
                text = f"{text}\n\nRequires an admin token with scope `{scope}`.".strip()
                # OpenAPI 3.1: a bearer scheme's requirement may list role names.
                operation["security"] = [{"HTTPBearer": [scope]}]
                operation["x-required-scope"] = scope
            if text:
                operation["description"] = text
    app.openapi_schema = document
    return document
