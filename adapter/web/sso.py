"""Browser-facing routes under /sso."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.responses import JSONResponse, RedirectResponse, Response

from adapter.errors import (
    AdapterError,
    BadRequest,
    InternalFailure,
    NotFound,
    NotVerified,
    Unavailable,
)
from adapter.logging import get_logger, redact_text
from adapter.schemas import SLUG_PATTERN
from adapter.schemas import TokenExchange as TokenExchangeBody
from adapter.services import login_facts
from adapter.services.audit import AuditRecord, record_event
from adapter.services.availability import database_unavailable
from adapter.services.login import LoginService
from adapter.services.login_facts import LoginFacts, new_reference
from adapter.services.login_protocol import ContinueAt, Landed
from adapter.services.login_steps import request_origin
from adapter.services.runtime import Runtime
from adapter.web.bodies import ACS_FORM_LIMIT, LINK_FORM_LIMIT, read_form, read_json
from adapter.web.pages import error_response

log = get_logger("adapter.sso")
_BROWSER_ID = re.compile(r"^[A-Za-z0-9_-]{43}$")
_SLUG = re.compile(SLUG_PATTERN)


def browser_cookie_name(runtime: Runtime) -> str:
    # The __Host- prefix pins the cookie to this host, https and path "/".
    return "__Host-sso-browser" if runtime.settings.public_url_is_https else "sso-browser"


def signed_in_cookie_name(runtime: Runtime) -> str:
    """Set when a login of this browser succeeded: its Back button then replays a used
    callback, which leads back to the store instead of reading as a failure."""
    return "__Host-sso-signed-in" if runtime.settings.public_url_is_https else "sso-signed-in"


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _service(request: Request) -> LoginService:
    service: LoginService = request.app.state.login_service
    return service


def _printable(slug: str) -> str:
    # What the URL asked for, as the log and the audit trail may hold it: no control
    # characters, no NUL (which PostgreSQL refuses) and no lone surrogates.
    return slug if _SLUG.match(slug) else ascii(slug)[:63]


def _check_slugs(store: str, connection: str | None = None) -> None:
    """No name that could never be configured reaches the configuration lookup."""
    if not _SLUG.match(store):
        raise NotFound(f"store is not a slug: {store[:63]!a}", code="unknown_store")
    if connection is not None and not _SLUG.match(connection):
        raise NotFound(f"connection is not a slug: {connection[:63]!a}", code="unknown_connection")


def _single(request: Request, *names: str) -> dict[str, str | None]:
    """The query parameters `names`, each given at most once."""
    params = request.query_params
    for name in names:
        if len(params.getlist(name)) > 1:
            # Two values for one name: refuse rather than guess which one counts.
            raise BadRequest(f"query parameter {name} given twice", code="repeated_parameter")
    return {name: params.get(name) for name in names}


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _browser_id(request: Request) -> str | None:
    value = request.cookies.get(browser_cookie_name(_runtime(request)))
    return value if value and _BROWSER_ID.match(value) else None


async def login_failed(
    request: Request,
    exc: Exception,
    *,
    kind: str = "login",
    json: bool = False,
) -> Response:
    """One place turns a failed login into an audit event, a log line and an answer.

    The audit event is written first, so that the log line can say whether it was: when the
    database is what failed, the log line is the only record of the reference.
    """
    facts = login_facts.current()
    reference = facts.reference
    if not isinstance(exc, AdapterError):
        exc = database_unavailable(exc) or exc
    if isinstance(exc, AdapterError):
        status, code = exc.status, exc.code
        # The detail may quote what was sent (a pysaml2 message with the InResponseTo): the
        # audit trail gets it as the log does, without documents or secrets, and short.
        detail = redact_text(exc.detail)
        # Which verification check failed is for the log, never for the answer.
        public_code = NotVerified.code if isinstance(exc, NotVerified) else exc.code
        message = exc.public_message
    else:
        status, code, detail = 500, "internal_error", type(exc).__name__
        if isinstance(exc, InternalFailure):
            detail = f"{detail}: {exc}"
        public_code, message = "internal_error", AdapterError.public_message
    runtime = _runtime(request)
    _count_login(request, facts, "failure")
    audit_written = await _audit_failure(runtime, facts, kind, status, code, detail)
    # A refusal is one warning line, without a traceback: it is about the input. Only an
    # error of our own (a 500) is logged as an error, with its traceback, redacted.
    (log.warning if isinstance(exc, AdapterError) else log.error)(
        "login_failed",
        reference=reference,
        status=status,
        reason=code,
        detail=detail,
        store=facts.store_slug,
        connection=facts.connection_slug,
        subject=facts.subject,
        audit_written=audit_written,
        exc_info=not isinstance(exc, AdapterError),
    )
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Unavailable) else None
    if (
        code == "login_state_invalid"
        and not json
        and facts.storefront_url
        and request.cookies.get(signed_in_cookie_name(runtime))
    ):
        # Back after a successful login replays its used callback: this browser is signed
        # in, so it goes on to the store (still audited above, as the replay it is).
        return RedirectResponse(
            f"{facts.storefront_url}/", status_code=303, headers={"Cache-Control": "no-store"}
        )
    return error_response(
        request,
        status=status,
        code=public_code,
        message=message,
        reference=reference,
        json=json,
        headers=headers,
        back_url=facts.storefront_url,
    )


async def _audit_failure(
    runtime: Runtime,
    facts: LoginFacts,
    kind: str,
    status: int,
    code: str,
    detail: str,
) -> bool:
    """The failure's audit event; False when the database would not take it."""
    details: dict[str, Any] = {
        "status": status,
        "detail": detail,
        "protocol": facts.protocol,
        "channel_id": facts.channel_id,
    }
    if facts.current_customer is not None:
        details["storefront_email"] = facts.current_customer.email
    try:
        await record_event(
            runtime,
            AuditRecord(
                kind=kind,
                outcome="failure",
                store_slug=facts.store_slug if facts.store_known else None,
                connection_slug=facts.connection_slug,
                reason=code,
                reference=facts.reference,
                subject=facts.subject,
                customer_id=facts.customer_id,
                email=facts.email,
                details=details,
            ),
        )
    except Exception as exc:  # the answer must still reach the shopper
        if database_unavailable(exc) is None:  # not an outage: a bug, with its traceback
            log.exception("audit_write_failed", reference=facts.reference)
        return False
    return True


def login_succeeded(request: Request, url: str) -> Response:
    """One place for a finished login: counted, logged (without the token), redirected."""
    facts = login_facts.current()
    _count_login(request, facts, "success")
    log.info(
        "login_succeeded",
        store=facts.store_slug,
        connection=facts.connection_slug,
        subject=facts.subject,
        customer_id=facts.customer_id,
        channel_id=facts.channel_id,
    )
    response = _redirect(url)
    runtime = _runtime(request)
    response.set_cookie(
        signed_in_cookie_name(runtime),
        "1",
        max_age=runtime.settings.login_state_ttl_seconds,
        path="/",
        secure=runtime.settings.public_url_is_https,
        httponly=True,
        samesite="lax",
    )
    return response


def _count_login(request: Request, facts: LoginFacts, outcome: str) -> None:
    # Only configured names become labels: an attacker must not mint time series from URLs.
    known = facts.protocol is not None
    request.app.state.metrics.logins.labels(
        facts.store_slug if known else "unknown",
        facts.connection_slug if known else "unknown",
        facts.protocol or "unknown",
        outcome,
    ).inc()


def _redirect(url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=302)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


# -- the error boundary of the login routes ---------------------------------------------------


@dataclass(frozen=True)
class _Filing:
    """How a login route's request is described and its failure filed."""

    protocol: str | None = None  # known from the route itself, before any lookup
    kind: str = "login"  # the failure's audit event
    json: bool = False  # a JSON answer whatever the Accept header


Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def filed(
    *, protocol: str | None = None, kind: str = "login", json: bool = False
) -> Callable[[Endpoint], Endpoint]:
    """Declares how a login route's failures are filed (the default: a login, as a page)."""

    def mark(endpoint: Endpoint) -> Endpoint:
        endpoint._filing = _Filing(protocol, kind, json)  # type: ignore[attr-defined]
        return endpoint

    return mark


class LoginRoute(APIRoute):
    """A route of a login step: its request gets a fresh set of facts (with the reference a
    failure will quote), its store and connection names are checked before anything looks
    them up, and whatever it raises becomes the failure answer, log line and audit event
    (`login_failed`). Errors are answered inside the route, not by an application-wide
    handler: there the request's id and facts are still bound."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        filing: _Filing = getattr(self.endpoint, "_filing", _Filing())

        async def guarded(request: Request) -> Response:
            store: str = request.path_params["store"]
            connection: str | None = request.path_params.get("connection")
            with login_facts.facts_of_request(
                store_slug=_printable(store),
                connection_slug=None if connection is None else _printable(connection),
                protocol=filing.protocol,
            ):
                try:
                    _check_slugs(store, connection)
                    return await handle(request)
                except Exception as exc:
                    return await login_failed(request, exc, kind=filing.kind, json=filing.json)

        return guarded


router = APIRouter(prefix="/sso", include_in_schema=False)
logins = APIRouter(route_class=LoginRoute)


async def _begin(
    request: Request,
    store: str,
    connection: str,
    params: Mapping[str, str | None],
    *,
    link: bool = False,
) -> Response:
    """Start a login (or a link): remember it server-side, bind it to this browser, and send
    the browser to the IdP."""
    runtime = _runtime(request)
    browser_id = _browser_id(request) or secrets.token_urlsafe(32)
    current_customer_jwt = (params.get("current_customer_jwt") or "") if link else None
    with request.app.state.metrics.step("login_start"):
        url = await _service(request).start(
            store,
            connection,
            channel_id=params.get("channel_id"),
            redirect_to=params.get("redirect_to"),
            login_hint=params.get("login_hint"),
            browser_id=browser_id,
            current_customer_jwt=current_customer_jwt,
            request_origin=request_origin(
                request.headers.get("origin"), request.headers.get("referer")
            ),
        )
    response = _redirect(url)
    response.set_cookie(
        browser_cookie_name(runtime),
        browser_id,
        max_age=runtime.settings.login_state_ttl_seconds,
        path="/",
        secure=runtime.settings.public_url_is_https,
        httponly=True,
        samesite="lax",
    )
    return response


@logins.get("/{store}/{connection}/login")
async def start_login(request: Request, store: str, connection: str) -> Response:
    params = _single(request, "channel_id", "redirect_to", "login_hint")
    return await _begin(request, store, connection, params)


@logins.post("/{store}/{connection}/link")
async def start_link(request: Request, store: str, connection: str) -> Response:
    """Link the enterprise identity to the shopper signed in on the storefront, whom the
    Current Customer JWT names; then sign them in as usual."""
    form = await read_form(request, LINK_FORM_LIMIT)
    return await _begin(request, store, connection, form, link=True)


@logins.post("/{store}/current-customer")
@filed(kind="current_customer", json=True)
async def current_customer(request: Request, store: str) -> Response:
    """Who is signed in on the storefront, by BigCommerce's Current Customer JWT, and the
    enterprise identities linked to them."""
    body = await read_json(request)
    try:
        token = body["current_customer_jwt"]
        if not isinstance(token, str):
            raise TypeError(token)
    except (KeyError, TypeError):
        raise BadRequest(
            'body must be {"current_customer_jwt": …}', code="invalid_request"
        ) from None
    answer = await request.app.state.current_customers.describe(store, token)
    return JSONResponse(answer, headers={"Cache-Control": "no-store"})


@logins.get("/{store}/{connection}/oidc/callback")
@filed(protocol="oidc")
async def oidc_callback(request: Request, store: str, connection: str) -> Response:
    params = {k: v for k, v in request.query_params.items()}
    if any(len(request.query_params.getlist(n)) > 1 for n in ("state", "code", "iss", "error")):
        params = {}  # repeated parameters: refuse rather than guess which one counts
    with request.app.state.metrics.step("oidc_callback"):
        landed = (
            await _service(request)
            .protocol("oidc")
            .finish(
                store,
                connection,
                params,
                browser_id=_browser_id(request),
                request_ip=_client_ip(request),
            )
        )
    return login_succeeded(request, landed.url)


@logins.get("/{store}/{connection}/saml/metadata")
@filed(protocol="saml")
async def saml_metadata(request: Request, store: str, connection: str) -> Response:
    document = await request.app.state.saml_login.metadata(store, connection)
    return Response(document, media_type="application/samlmetadata+xml")


@logins.post("/{store}/{connection}/saml/acs")
@filed(protocol="saml")
async def saml_acs(request: Request, store: str, connection: str) -> Response:
    fields = await read_form(request, ACS_FORM_LIMIT)
    with request.app.state.metrics.step("saml_acs"):
        outcome: ContinueAt | Landed = await request.app.state.saml_login.acs(
            store, connection, fields, request_ip=_client_ip(request)
        )
    match outcome:
        case ContinueAt(url=url):
            # On to our own finish step, as a GET that carries the browser's cookie.
            return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
        case Landed(url=url):
            return login_succeeded(request, url)


@logins.get("/{store}/{connection}/saml/finish")
@filed(protocol="saml")
async def saml_finish(request: Request, store: str, connection: str) -> Response:
    landed = (
        await _service(request)
        .protocol("saml")
        .finish(
            store,
            connection,
            _single(request, "token"),
            browser_id=_browser_id(request),
            request_ip=_client_ip(request),
        )
    )
    return login_succeeded(request, landed.url)


@logins.get("/{store}/logout")
async def logout(request: Request, store: str) -> Response:
    """Signs the shopper out of the storefront: BigCommerce's own logout page does it."""
    url = await _service(request).logout_url(store, _single(request, "channel_id")["channel_id"])
    return _redirect(url)


@router.post("/token")
async def exchange_code(request: Request) -> Response:
    """A headless storefront's backend trades a one-time code for the customer access token."""
    reference = new_reference()
    try:
        try:
            body = TokenExchangeBody.model_validate(await read_json(request))
        except ValidationError:
            raise BadRequest('body must be {"code": …}', code="invalid_request") from None
        authorization = request.headers.get("authorization", "")
        secret = authorization[7:].strip() if authorization[:7].lower() == "bearer " else None
        exchanged = await request.app.state.token_exchange.redeem(body.code, secret)
    except Exception as exc:
        if not isinstance(exc, AdapterError):
            exc = database_unavailable(exc) or exc
        if not isinstance(exc, AdapterError):
            log.exception("token_exchange_failed", reference=reference, reason="internal_error")
            exc = AdapterError(type(exc).__name__)
        else:
            log.warning(
                "token_exchange_failed", reference=reference, reason=exc.code, detail=exc.detail
            )
        headers = {"Cache-Control": "no-store"}
        if isinstance(exc, Unavailable):
            headers["Retry-After"] = str(exc.retry_after)
        return JSONResponse(
            {"error": exc.code, "message": exc.public_message, "reference": reference},
            status_code=exc.status,
            headers=headers,
        )
    log.info(
        "token_exchanged",
        store=exchanged.store_slug,
        customer_id=exchanged.customer_id,
        channel_id=exchanged.channel_id,
    )
    answer: dict[str, Any] = {
        "customer_id": exchanged.customer_id,
        "email": exchanged.email,
        "channel_id": exchanged.channel_id,
        "customer_access_token": exchanged.customer_access_token,
        "expires_at": exchanged.expires_at,
    }
    if exchanged.b2b_token is not None:
        answer["b2b_token"] = exchanged.b2b_token  # B2B Edition's storefront token
    return JSONResponse(answer, headers={"Cache-Control": "no-store"})


# After the login routes are declared: including copies them, each with its own route class.
router.include_router(logins)
