"""The application factory: nothing is built at import time."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapter import __version__
from adapter.errors import AdapterError, BadRequest, NotFound
from adapter.logging import get_logger
from adapter.services.app_install import AppInstall
from adapter.services.current_customers import CurrentCustomers
from adapter.services.exchange import TokenExchange
from adapter.services.landing import Landing
from adapter.services.login import LoginService
from adapter.services.login_facts import new_reference
from adapter.services.login_steps import LoginSteps
from adapter.services.oidc_login import OidcLogin
from adapter.services.readiness import known_revisions
from adapter.services.runtime import Runtime
from adapter.services.saml_login import SamlLogin
from adapter.services.scim_directory import ScimService
from adapter.web import bigcommerce_app, health, sso
from adapter.web.admin.app import create_admin_app
from adapter.web.console.app import create_console_app
from adapter.web.metrics import Metrics
from adapter.web.metrics import router as metrics_router
from adapter.web.pages import error_response
from adapter.web.scim import create_scim_app

log = get_logger("adapter.web")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    """Gives every request an id (or keeps a sane one from the proxy), bound to every log
    line written while it is handled, and echoed in X-Request-ID. The time the adapter took
    until its answer started goes out in Server-Timing (`app;dur=` milliseconds), so a load
    balancer, a browser's developer tools or the benchmark can tell it from network time."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else secrets.token_hex(8)
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - started) * 1000
                headers = message.setdefault("headers", [])
                headers.append((b"x-request-id", request_id.encode()))
                headers.append((b"server-timing", f"app;dur={took:.2f}".encode()))
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await self.app(scope, receive, send_with_id)


def create_app(runtime: Runtime) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await runtime.close()

    app = FastAPI(
        title="sso-adapter",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.runtime = runtime
    app.state.metrics = metrics = Metrics()
    runtime.observe_bigcommerce = metrics.observe_bigcommerce
    steps, landing = LoginSteps(runtime), Landing(runtime)
    app.state.oidc_login = OidcLogin(runtime, steps, landing)
    app.state.saml_login = SamlLogin(runtime, steps, landing)
    app.state.login_service = LoginService(
        runtime, steps, {"oidc": app.state.oidc_login, "saml": app.state.saml_login}
    )
    app.state.token_exchange = TokenExchange(runtime)
    app.state.app_install = AppInstall(runtime)
    app.state.current_customers = CurrentCustomers(runtime, steps)
    app.state.schema_revisions = known_revisions(runtime.settings.database_url)
    _answer_failures_with_a_reference(app)
    app.include_router(health.router)
    app.include_router(metrics_router)
    app.include_router(sso.router)
    app.include_router(bigcommerce_app.router)
    app.mount("/admin/v1", create_admin_app(runtime))
    app.mount("/scim/v2", create_scim_app(ScimService(runtime, steps)))
    app.mount("/console", create_console_app(runtime))
    app.add_middleware(RequestIdMiddleware)
    return app


def _answer_failures_with_a_reference(app: FastAPI) -> None:
    """What no route answers itself (a URL no route matches, a method a route does not take,
    an error a route let through) still gets the failure page or JSON, with a reference id
    that the log line carries too. The admin API, mounted below, has its own error shape."""

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        reference = new_reference()
        log.info("request_refused", reference=reference, status=exc.status_code)
        status = exc.status_code if 400 <= exc.status_code < 500 else 500
        code = {404: "not_found", 405: "method_not_allowed"}.get(status, "bad_request")
        message = _MESSAGES.get(status, _MESSAGES[400])
        response = error_response(
            request, status=status, code=code, message=message, reference=reference
        )
        if exc.headers:  # an Allow header on 405
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        reference = new_reference()
        log.error("request_failed", reference=reference, exc_info=exc)
        return error_response(
            request,
            status=500,
            code="internal_error",
            message=AdapterError.public_message,
            reference=reference,
        )


_MESSAGES = {
    400: BadRequest.public_message,
    404: NotFound.public_message,
    405: NotFound.public_message,
}
