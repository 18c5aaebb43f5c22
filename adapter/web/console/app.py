"""The console's routes, mounted at /console: sign in with an admin token, then for a store its
connections (add OIDC or SAML with the values the IdP needs, delete, dry-run a login), recent
audit events (found by reference id), and links (search, unlink).

Every change goes through `AdminService`, with the token's scopes and name as actor. Forms
carry the session's CSRF value and must come from the adapter's own origin; cookies are
SameSite=Strict; the Content-Security-Policy allows no script at all and no framing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from adapter.errors import AdapterError
from adapter.logging import get_logger
from adapter.schemas import (
    OidcConnectionBody,
    SamlConnectionBody,
    StoreBody,
    TestLoginRequest,
)
from adapter.services.admin import AdminService
from adapter.services.admin_tokens import SCOPES, Principal, principal_for
from adapter.services.app_install import AppInstall, store_slug_for
from adapter.services.runtime import Runtime
from adapter.web.bodies import ADMIN_BODY_LIMIT, read_form
from adapter.web.console.session import SESSION_SECONDS, ConsoleSession

log = get_logger("adapter.console")

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
STYLE = """
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d1d1f}
header{display:flex;gap:1rem;align-items:center;padding:.6rem 1.2rem;background:#1d2a3a;color:#fff}
header a{color:#fff;text-decoration:none;font-weight:600}
.who{margin-left:auto;font-size:.9rem}
main{max-width:60rem;margin:1.5rem auto;padding:0 1.2rem}
label{display:block;margin-top:.6rem;font-weight:600}
fieldset label{font-weight:400}
input,textarea{width:100%;max-width:36rem;padding:.3rem;font:inherit;box-sizing:border-box}
input[type=checkbox]{width:auto}
.row label,.row input{display:inline-block;width:auto;margin-right:.4rem}
.inline{display:inline}
button{margin-top:.6rem;padding:.35rem .9rem;font:inherit;cursor:pointer}
.danger{color:#a40000}
.card{border:1px solid #ccd;border-radius:6px;padding:.2rem 1rem .8rem;margin:.8rem 0}
.hint{color:#555;font-size:.9rem;margin:.2rem 0}
.notice{background:#e8f5e9;padding:.5rem}.error{background:#fdecea;padding:.5rem}
.warning{background:#fff8e1;padding:.4rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}
td,th{border-bottom:1px solid #ddd;padding:.3rem;text-align:left;vertical-align:top}
code{background:#f3f3f3;padding:0 .2rem;word-break:break-all}
"""
# Audit reasons an operator meets most, in plain words.
REASONS = {
    "deprovisioned": "the IdP deprovisioned this person (SCIM)",
    "email_unverified": "no verified e-mail from the IdP: no customer could be linked or made",
    "channel_not_allowed": "the storefront's channel is not one of the connection's channels",
    "channel_denied": "the customer may not use this channel",
    "login_state_invalid": "the sign-in had expired, was used, or came from another browser",
    "idp_access_denied": "the IdP refused the person (not assigned to the app?)",
    "idp_refused": "the IdP refused the sign-in",
    "subject_missing": "the IdP's answer carried no usable subject",
    "redirect_to_invalid": "the sign-in link's redirect_to left the store",
    "store_uninstalled": "the store's BigCommerce app is uninstalled",
    "link": "returning person (existing link)",
    "created": "new customer created",
    "email": "linked to an existing customer by verified e-mail",
}

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def cookie_name(runtime: Runtime) -> str:
    return "__Host-sso-console" if runtime.settings.public_url_is_https else "sso-console"


class Refused(Exception):
    def __init__(self, status: int, title: str):
        super().__init__(title)
        self.status, self.title = status, title


def create_console_app(runtime: Runtime) -> Starlette:
    admin = AdminService(runtime)
    app_install = AppInstall(runtime)
    public_origin = "{0.scheme}://{0.netloc}".format(urlsplit(runtime.settings.public_url))

    def page(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        answer = templates.TemplateResponse(
            request,
            name,
            {"public_url": runtime.settings.public_url, "reasons": REASONS, **context},
            status_code=status,
        )
        answer.headers["Content-Security-Policy"] = CSP
        answer.headers["Cache-Control"] = "no-store"
        answer.headers["X-Content-Type-Options"] = "nosniff"
        answer.headers["Referrer-Policy"] = "same-origin"
        return answer

    async def signed_in(request: Request) -> tuple[ConsoleSession, Principal] | None:
        session = ConsoleSession.open(
            runtime.box, request.cookies.get(cookie_name(runtime)), runtime.clock.now()
        )
        if session is None:
            return None
        if session.store_hash is not None and session.user_id is not None:
            # A control-panel user: as long as BigCommerce keeps them and the install.
            if not await app_install.control_panel_user(session.store_hash, session.user_id):
                return None
            return session, Principal(f"bigcommerce:{session.user_id}", frozenset(SCOPES))
        principal = await principal_for(runtime, session.token)  # revoked: signed out
        return None if principal is None else (session, principal)

    def allowed(session: ConsoleSession, store_slug: str | None) -> None:
        """A control-panel user's session is for their store alone."""
        if session.store_hash is not None and store_slug != store_slug_for(session.store_hash):
            raise Refused(403, "This console session is for another store.")

    async def checked_post(request: Request, scope: str) -> tuple[Principal, dict[str, str]]:
        """A state-changing request: signed in, from our own origin, with the session's CSRF
        value, by a token with `scope`."""
        found = await signed_in(request)
        if found is None:
            raise Refused(401, "Please sign in again.")
        session, principal = found
        allowed(session, request.path_params.get("store", store_slug_for(session.store_hash or "")))
        origin = request.headers.get("origin")
        if origin is not None and origin != public_origin:
            raise Refused(403, "This request came from another site and was refused.")
        form = await read_form(request, ADMIN_BODY_LIMIT, max_fields=20)
        if not session.csrf_matches(form.get("csrf")):
            raise Refused(403, "This form has expired or came from another site; reload it.")
        if scope not in principal.scopes:
            raise Refused(403, f"Your token lacks the scope {scope} for this change.")
        return principal, form

    def handled(handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                answer: Response = await handler(request)
                return answer
            except Refused as refused:
                found = await signed_in(request)
                return page(
                    request,
                    "message.html",
                    refused.status,
                    title=refused.title,
                    principal=found[1] if found else None,
                    csrf=found[0].csrf if found else "",
                )
            except AdapterError as failed:
                return page(request, "message.html", failed.status, title=failed.public_message)

        return endpoint

    async def style(request: Request) -> Response:
        return Response(STYLE, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    async def login_form(request: Request) -> Response:
        return page(request, "login.html")

    async def login(request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin is not None and origin != public_origin:
            raise Refused(403, "This request came from another site and was refused.")
        form = await read_form(request, ADMIN_BODY_LIMIT, max_fields=20)
        token = form.get("token", "").strip()
        principal = await principal_for(runtime, token) if token else None
        if principal is None:
            return page(request, "login.html", 401, error="That token is not an admin token.")
        session = ConsoleSession.new(token, runtime.clock.now())
        answer = RedirectResponse("/console/", status_code=303)
        answer.set_cookie(
            cookie_name(runtime),
            session.seal(runtime.box),
            max_age=SESSION_SECONDS,
            path="/",
            secure=runtime.settings.public_url_is_https,
            httponly=True,
            samesite="strict",
        )
        log.info("console_signed_in", token=principal.name)
        return answer

    async def from_control_panel(request: Request) -> Response:
        """The app's page in the control panel links here (in a tab of its own) with a
        one-time ticket: the console session of that control-panel user, for their store."""
        store_hash, user_id = await app_install.redeem_ticket(request.query_params.get("ticket"))
        session = ConsoleSession.new(
            "", runtime.clock.now(), store_hash=store_hash, user_id=user_id
        )
        answer = RedirectResponse(f"/console/stores/{store_slug_for(store_hash)}", status_code=303)
        answer.set_cookie(
            cookie_name(runtime),
            session.seal(runtime.box),
            max_age=SESSION_SECONDS,
            path="/",
            secure=runtime.settings.public_url_is_https,
            httponly=True,
            samesite="lax",  # arrives from the control panel's page: a cross-site navigation
        )
        log.info("console_signed_in", user=f"bigcommerce:{user_id}", store_hash=store_hash)
        return answer

    async def logout(request: Request) -> Response:
        found = await signed_in(request)
        answer = RedirectResponse("/console/login", status_code=303)
        if found is not None:
            form = await read_form(request, ADMIN_BODY_LIMIT, max_fields=20)
            if not found[0].csrf_matches(form.get("csrf")):
                raise Refused(403, "This form has expired or came from another site; reload it.")
        answer.delete_cookie(cookie_name(runtime), path="/")
        return answer

    async def stores(request: Request) -> Response:
        found = await signed_in(request)
        if found is None:
            return RedirectResponse("/console/login", status_code=303)
        session, principal = found
        if "stores:read" not in principal.scopes:
            raise Refused(403, "Your token lacks the scope stores:read.")
        every = await admin.list_stores()
        if session.store_hash is not None:
            every = [s for s in every if s.slug == store_slug_for(session.store_hash)]
        return page(
            request,
            "stores.html",
            stores=every,
            principal=principal,
            csrf=session.csrf,
        )

    async def store_page(request: Request, *, status: int = 200, **extra: Any) -> Response:
        found = await signed_in(request)
        if found is None:
            return RedirectResponse("/console/login", status_code=303)
        session, principal = found
        scopes = principal.scopes
        if "stores:read" not in scopes:
            raise Refused(403, "Your token lacks the scope stores:read.")
        slug = request.path_params["store"]
        allowed(session, slug)
        query = request.query_params
        reference = (query.get("reference") or "").strip() or None
        email = (query.get("email") or "").strip() or None
        subject = (query.get("subject") or "").strip() or None
        store = await admin.get_store(slug)
        events = []
        if "events:read" in scopes:
            events = (
                await admin.list_events(
                    slug,
                    kind=None,
                    outcome=None,
                    connection=None,
                    subject=None,
                    customer_id=None,
                    email=None,
                    limit=25,
                    cursor=None,
                    reference=reference,
                )
            ).items
        links = []
        if "links:read" in scopes:
            links = (
                await admin.list_links(
                    slug,
                    connection=None,
                    subject=subject,
                    customer_id=None,
                    email=email,
                    limit=50,
                    cursor=None,
                )
            ).items
        connections = await admin.list_connections(slug)
        return page(
            request,
            "store.html",
            status,
            store=store,
            connections=connections,
            scim_tokens={c.slug: await admin.list_scim_tokens(slug, c.slug) for c in connections},
            events=events,
            links=links,
            reference=reference,
            email=email,
            subject=subject,
            principal=principal,
            csrf=session.csrf,
            can_write="stores:write" in scopes,
            can_unlink="links:write" in scopes,
            **extra,
        )

    async def store(request: Request) -> Response:
        return await store_page(request)

    async def connection_form(request: Request) -> Response:
        found = await signed_in(request)
        if found is None:
            return RedirectResponse("/console/login", status_code=303)
        session, principal = found
        if "stores:write" not in principal.scopes:
            raise Refused(403, "Your token lacks the scope stores:write.")
        protocol = "saml" if request.query_params.get("protocol") == "saml" else "oidc"
        allowed(session, request.path_params["store"])
        return page(
            request,
            "connection_form.html",
            store=await admin.get_store(request.path_params["store"]),
            protocol=protocol,
            form={},
            principal=principal,
            csrf=session.csrf,
        )

    async def create_connection(request: Request) -> Response:
        principal, form = await checked_post(request, "stores:write")
        store_slug = request.path_params["store"]
        protocol = "saml" if request.query_params.get("protocol") == "saml" else "oidc"
        found = await signed_in(request)
        assert found is not None

        def again(message: str, status: int = 422) -> Response:
            return page(
                request,
                "connection_form.html",
                status,
                store=store_view,
                protocol=protocol,
                form=form,
                error=message,
                principal=principal,
                csrf=found[0].csrf,
            )

        store_view = await admin.get_store(store_slug)
        try:
            body = _connection_body(protocol, form)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            return again(f"{where}: {first.get('msg')}")
        except ValueError as exc:
            return again(str(exc))
        slug = form.get("slug", "").strip()
        try:
            await admin.put_connection(store_slug, slug, body, principal.name)
        except AdapterError as failed:
            return again(failed.public_message if failed.status >= 500 else failed.detail)
        return RedirectResponse(f"/console/stores/{store_slug}#connection-{slug}", status_code=303)

    async def edit_form(request: Request) -> Response:
        found = await signed_in(request)
        if found is None:
            return RedirectResponse("/console/login", status_code=303)
        session, principal = found
        if "stores:write" not in principal.scopes:
            raise Refused(403, "Your token lacks the scope stores:write.")
        store_slug, slug = request.path_params["store"], request.path_params["connection"]
        allowed(session, store_slug)
        current = await admin.get_connection(store_slug, slug)
        return page(
            request,
            "connection_form.html",
            store=await admin.get_store(store_slug),
            protocol=current.protocol,
            form=_form_of(current),
            editing=slug,
            principal=principal,
            csrf=session.csrf,
        )

    async def edit_connection(request: Request) -> Response:
        principal, form = await checked_post(request, "stores:write")
        store_slug, slug = request.path_params["store"], request.path_params["connection"]
        found = await signed_in(request)
        assert found is not None
        current = await admin.get_connection(store_slug, slug)
        try:
            # The round trip: what GET answers, the form's fields changed, the secret kept
            # unless given again.
            body = _connection_body(current.protocol, form, base=current.model_dump(mode="json"))
            await admin.put_connection(store_slug, slug, body, principal.name)
        except (ValidationError, ValueError, AdapterError) as exc:
            if isinstance(exc, AdapterError):
                message = exc.detail if exc.status < 500 else exc.public_message
            else:
                message = str(exc).splitlines()[0]
            return page(
                request,
                "connection_form.html",
                422,
                store=await admin.get_store(store_slug),
                protocol=current.protocol,
                form=form,
                editing=slug,
                error=message,
                principal=principal,
                csrf=found[0].csrf,
            )
        return RedirectResponse(f"/console/stores/{store_slug}#connection-{slug}", status_code=303)

    async def delete_connection(request: Request) -> Response:
        principal, _ = await checked_post(request, "stores:write")
        store_slug, slug = request.path_params["store"], request.path_params["connection"]
        await admin.delete_connection(store_slug, slug, principal.name)
        return RedirectResponse(f"/console/stores/{store_slug}", status_code=303)

    async def test_login(request: Request) -> Response:
        _, form = await checked_post(request, "links:read")
        slug = request.path_params["connection"]
        try:
            claims = json.loads(form.get("claims") or "{}")
            answer = await admin.test_login(
                request.path_params["store"], slug, TestLoginRequest(claims=claims)
            )
        except (ValueError, ValidationError):
            return await store_page(request, status=422, error="The claims are not a JSON object.")
        return await store_page(request, test_login=answer, test_login_connection=slug)

    async def make_scim_token(request: Request) -> Response:
        principal, _ = await checked_post(request, "stores:write")
        store_slug, slug = request.path_params["store"], request.path_params["connection"]
        made = await admin.create_scim_token(store_slug, slug, principal.name)
        # Shown in this answer only, as the admin API does.
        return await store_page(request, new_scim_token=made.token, new_scim_token_connection=slug)

    async def revoke_scim_token(request: Request) -> Response:
        principal, _ = await checked_post(request, "stores:write")
        store_slug, slug = request.path_params["store"], request.path_params["connection"]
        await admin.revoke_scim_token(
            store_slug, slug, request.path_params["token"], principal.name
        )
        return RedirectResponse(f"/console/stores/{store_slug}#connection-{slug}", status_code=303)

    async def b2b_settings(request: Request) -> Response:
        """The store's B2B Edition section, through the admin API's round trip: the store as
        GET answers it, its `b2b` changed, every secret kept unless given."""
        principal, form = await checked_post(request, "stores:write")
        store_slug = request.path_params["store"]
        current = (await admin.get_store(store_slug)).model_dump(mode="json")
        b2b: dict[str, Any] | None = None
        if form.get("b2b_enabled") == "on":
            b2b = {"enabled": True, "api_base_url": form.get("b2b_api_base_url", "").strip()}
            if form.get("b2b_api_token"):
                b2b["api_token"] = form["b2b_api_token"]
        try:
            body = StoreBody.model_validate({**current, "b2b": b2b})
            await admin.put_store(store_slug, body, principal.name)
        except ValidationError as exc:
            return await store_page(request, status=422, error=str(exc).splitlines()[0])
        except AdapterError as failed:
            message = failed.detail if failed.status < 500 else failed.public_message
            return await store_page(request, status=422, error=message)
        return RedirectResponse(f"/console/stores/{store_slug}#b2b", status_code=303)

    async def unlink(request: Request) -> Response:
        principal, _ = await checked_post(request, "links:write")
        store_slug = request.path_params["store"]
        link_id = request.path_params["link"]
        await admin.delete_link(store_slug, link_id, principal.name)
        return RedirectResponse(f"/console/stores/{store_slug}", status_code=303)

    routes = [
        Route("/style.css", style),
        Route("/login", handled(login_form)),
        Route("/from-control-panel", handled(from_control_panel)),
        Route("/login", handled(login), methods=["POST"]),
        Route("/logout", handled(logout), methods=["POST"]),
        Route("/", handled(stores)),
        Route("/stores/{store}", handled(store)),
        Route("/stores/{store}/connections/new", handled(connection_form)),
        Route("/stores/{store}/connections/new", handled(create_connection), methods=["POST"]),
        Route("/stores/{store}/connections/{connection}/edit", handled(edit_form)),
        Route(
            "/stores/{store}/connections/{connection}/edit",
            handled(edit_connection),
            methods=["POST"],
        ),
        Route(
            "/stores/{store}/connections/{connection}/delete",
            handled(delete_connection),
            methods=["POST"],
        ),
        Route(
            "/stores/{store}/connections/{connection}/test-login",
            handled(test_login),
            methods=["POST"],
        ),
        Route(
            "/stores/{store}/connections/{connection}/scim-tokens",
            handled(make_scim_token),
            methods=["POST"],
        ),
        Route(
            "/stores/{store}/connections/{connection}/scim-tokens/{token:int}/revoke",
            handled(revoke_scim_token),
            methods=["POST"],
        ),
        Route("/stores/{store}/b2b", handled(b2b_settings), methods=["POST"]),
        Route("/stores/{store}/links/{link:int}/unlink", handled(unlink), methods=["POST"]),
    ]
    return Starlette(routes=routes)


FORM_FIELDS = ("issuer", "client_id", "idp_metadata_url", "idp_metadata_xml", "subject_attribute")
ANSWERED = ("slug", "created_at", "updated_at", "has_client_secret")


def _form_of(current: Any) -> dict[str, str]:
    """A connection as the form shows it (never its secret)."""
    data = current.model_dump(mode="json")
    form = {k: str(data[k]) for k in FORM_FIELDS if data.get(k) is not None}
    form["channel_ids"] = ", ".join(str(c) for c in data["channel_ids"])
    for flag in ("create_customers", "link_by_email", "email_verified"):
        form[flag] = "on" if data.get(flag) else "off"
    return form


def _connection_body(
    protocol: str, form: dict[str, str], base: dict[str, Any] | None = None
) -> OidcConnectionBody | SamlConnectionBody:
    """The admin API's body from the console's form (the same validation follows); `base`:
    the connection as GET answers it, for the fields the form does not show."""
    raw_channels = [c.strip() for c in form.get("channel_ids", "").split(",") if c.strip()]
    if not raw_channels or not all(c.isdigit() for c in raw_channels):
        raise ValueError("channel_ids: give channel ids separated by commas")
    kept = {k: v for k, v in (base or {}).items() if k not in ANSWERED}
    common: dict[str, Any] = {
        **kept,
        "protocol": protocol,
        "channel_ids": [int(c) for c in raw_channels],
        "create_customers": form.get("create_customers") == "on",
        "link_by_email": form.get("link_by_email") == "on",
        "email_verified": form.get("email_verified") == "on",
    }
    if protocol == "oidc":
        return OidcConnectionBody.model_validate(
            {
                **common,
                "issuer": form.get("issuer", "").strip(),
                "client_id": form.get("client_id", "").strip(),
                "client_secret": form.get("client_secret") or None,
            }
        )
    return SamlConnectionBody.model_validate(
        {
            **common,
            "idp_metadata_url": form.get("idp_metadata_url", "").strip() or None,
            "idp_metadata_xml": form.get("idp_metadata_xml", "").strip() or None,
            "subject_attribute": form.get("subject_attribute", "").strip() or None,
        }
    )
