"""The admin API application, mounted at /admin/v1."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Path, Query, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from adapter import __version__
from adapter.errors import AdapterError, ConfigurationError, Unavailable
from adapter.logging import get_logger
from adapter.schemas import (
    SLUG_PATTERN,
    ConnectionBody,
    ConnectionList,
    ConnectionView,
    CredentialCheck,
    ErrorBody,
    EventPage,
    LinkPage,
    LinkUpdate,
    LinkView,
    NewLink,
    ScimTokenCreated,
    ScimTokenList,
    StoreBody,
    StoreList,
    StoreView,
    TestLoginAnswer,
    TestLoginRequest,
)
from adapter.services.admin import MAX_PAGE, AdminService
from adapter.services.admin_tokens import Principal
from adapter.services.availability import DATABASE_ERRORS, database_unavailable
from adapter.services.runtime import Runtime
from adapter.web.admin.auth import Unauthenticated, authenticate, bearer, require
from adapter.web.admin.openapi import admin_openapi
from adapter.web.bodies import ADMIN_BODY_LIMIT, BodyLimit

log = get_logger("adapter.admin")

StoreSlug = Annotated[str, Path(pattern=SLUG_PATTERN, description="the store's slug")]
ConnectionSlug = Annotated[str, Path(pattern=SLUG_PATTERN, description="the connection's slug")]
LinkId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Cursor = Annotated[
    str | None, Query(max_length=200, description="next_cursor of the previous page")
]
CustomerId = Annotated[int | None, Query(ge=1, le=2**53)]
Text = Annotated[str | None, Query(max_length=512)]
StoresRead = Annotated[Principal, Depends(require("stores:read"))]
StoresWrite = Annotated[Principal, Depends(require("stores:write"))]
LinksRead = Annotated[Principal, Depends(require("links:read"))]
LinksWrite = Annotated[Principal, Depends(require("links:write"))]
EventsRead = Annotated[Principal, Depends(require("events:read"))]


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described = {
        400: "malformed request: a body that is not UTF-8 JSON (`invalid_json`), a cursor this "
        "API did not give out",
        401: "no valid admin token",
        403: "the token lacks the scope",
        404: "no such store, connection or link",
        409: "conflicts with what exists",
        502: "BigCommerce did not answer as expected",
        413: f"the body is over {ADMIN_BODY_LIMIT} bytes",
        503: "the database cannot be reached for now; try again after Retry-After seconds",
        422: "the body or a parameter is not valid; `field` names it",
    }
    return {
        s: {"model": ErrorBody, "description": described[s]}
        for s in (401, 403, 413, 422, 503, *statuses)
    }


def _error(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": code, "message": message}
    if field is not None:
        body["field"] = field
    return JSONResponse(body, status_code=status)


def create_admin_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        # Declares the bearer scheme in the OpenAPI document; scopes are checked per route.
        dependencies=[Security(bearer)],
        title="sso-adapter admin API",
        version=__version__,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        description=(
            "Stores, connections, identity links and the audit trail of sso-adapter. "
            "Secrets are write-only: accepted in bodies, never returned."
        ),
    )
    app.state.runtime = runtime
    app.openapi = lambda: admin_openapi(app)  # type: ignore[method-assign]
    service = AdminService(runtime)

    def refuse_body(exc: AdapterError) -> JSONResponse:
        log.warning("admin_body_refused", reason=exc.code, detail=exc.detail)
        return _error(exc.status, exc.code, exc.detail)

    # FastAPI reads declared bodies itself, before any route code runs: the limit has to be
    # in front of it.
    app.add_middleware(BodyLimit, limit=ADMIN_BODY_LIMIT, refuse=refuse_body)

    @app.exception_handler(AdapterError)
    async def adapter_error(request: Request, exc: AdapterError) -> JSONResponse:
        if isinstance(exc, Unavailable):
            log.warning("admin_failed", reason=exc.code, detail=exc.detail)
            answer = _error(exc.status, exc.code, exc.public_message)
            answer.headers["Retry-After"] = str(exc.retry_after)
            return answer
        if exc.status >= 500:
            log.error("admin_failed", reason=exc.code, detail=exc.detail)
            return _error(exc.status, exc.code, exc.public_message)
        field = exc.field if isinstance(exc, ConfigurationError) else None
        return _error(exc.status, exc.code, exc.detail, field)

    # Registered by class, not under Exception: Starlette re-raises what reaches the
    # catch-all handler, and the server would print its traceback for an outage.
    async def database_error(request: Request, exc: Exception) -> JSONResponse:
        unavailable = database_unavailable(exc)
        if unavailable is None:
            return await unexpected(request, exc)
        return await adapter_error(request, unavailable)

    for database_failure in DATABASE_ERRORS:
        app.add_exception_handler(database_failure, database_error)  # type: ignore[arg-type]

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("admin_failed", reason="internal_error", exc_info=exc)
        return _error(500, "internal_error", "Something went wrong on our side.")

    async def refused_stranger(request: Request) -> JSONResponse | None:
        """Who is asking comes before what they sent: no body diagnostics for strangers."""
        try:
            await authenticate(request)
        except Unauthenticated as denied:
            return _error(401, denied.code, denied.public_message)
        return None

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        if refused := await refused_stranger(request):
            return refused
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid"}
        if first.get("type") == "json_invalid":
            # Its location is a character offset, not a field: say what is wrong and where.
            context = first.get("ctx")
            cause = context.get("error") if isinstance(context, dict) else None
            cause = cause or "it cannot be parsed"
            return _error(400, "invalid_json", f"the body is not valid JSON: {cause}")
        loc = list(first.get("loc", ()))
        if loc[:1] == ["body"] and loc[1:2] in (["oidc"], ["saml"]):
            del loc[1]  # the discriminator's branch name is not a field of the body
        location = [str(p) for p in loc if p not in ("body", "query", "path")]
        field = ".".join(location) or None
        message = f"{field}: {first.get('msg')}" if field else str(first.get("msg"))
        return _error(422, "invalid_request", message, field)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, UnicodeDecodeError):
            # FastAPI's answer to a body it could not decode, raised from the decoder's error.
            if refused := await refused_stranger(request):
                return refused
            return _error(400, "invalid_json", "the body is not valid JSON: it is not UTF-8")
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail))

    # -- stores ------------------------------------------------------------------------------

    @app.get("/stores", response_model=StoreList, responses=_errors(), tags=["stores"])
    async def list_stores(_: StoresRead) -> StoreList:
        return StoreList(items=await service.list_stores())

    @app.put(
        "/stores/{store}",
        response_model=StoreView,
        responses={201: {"model": StoreView, "description": "created"}, **_errors()},
        tags=["stores"],
        summary="Create or replace a store (omitted secrets are kept)",
    )
    async def put_store(
        store: StoreSlug,
        body: StoreBody,
        response: Response,
        who: StoresWrite,
    ) -> StoreView:
        created, view = await service.put_store(store, body, who.name)
        response.status_code = 201 if created else 200
        return view

    @app.get("/stores/{store}", response_model=StoreView, responses=_errors(404), tags=["stores"])
    async def get_store(store: StoreSlug, _: StoresRead) -> StoreView:
        return await service.get_store(store)

    @app.delete(
        "/stores/{store}",
        status_code=204,
        responses=_errors(404),
        tags=["stores"],
        summary="Delete a store with its connections and links",
    )
    async def delete_store(store: StoreSlug, who: StoresWrite) -> Response:
        await service.delete_store(store, who.name)
        return Response(status_code=204)

    @app.post(
        "/stores/{store}/check-credentials",
        response_model=CredentialCheck,
        responses=_errors(404),
        tags=["stores"],
        summary="Check the store's API token against BigCommerce",
    )
    async def check_credentials(store: StoreSlug, _: StoresRead) -> CredentialCheck:
        return await service.check_credentials(store)

    # -- connections -------------------------------------------------------------------------

    @app.get(
        "/stores/{store}/connections",
        response_model=ConnectionList,
        responses=_errors(404),
        tags=["connections"],
    )
    async def list_connections(store: StoreSlug, _: StoresRead) -> ConnectionList:
        return ConnectionList(items=await service.list_connections(store))

    @app.put(
        "/stores/{store}/connections/{connection}",
        response_model=ConnectionView,
        responses={201: {"model": ConnectionView, "description": "created"}, **_errors(404)},
        tags=["connections"],
        summary="Create or replace a connection (checked as far as it can be)",
    )
    async def put_connection(
        store: StoreSlug,
        connection: ConnectionSlug,
        body: Annotated[ConnectionBody, Body()],
        response: Response,
        who: StoresWrite,
    ) -> ConnectionView:
        created, view = await service.put_connection(store, connection, body, who.name)
        response.status_code = 201 if created else 200
        return view

    @app.get(
        "/stores/{store}/connections/{connection}",
        response_model=ConnectionView,
        responses=_errors(404),
        tags=["connections"],
    )
    async def get_connection(
        store: StoreSlug, connection: ConnectionSlug, _: StoresRead
    ) -> ConnectionView:
        return await service.get_connection(store, connection)

    @app.delete(
        "/stores/{store}/connections/{connection}",
        status_code=204,
        responses=_errors(404),
        tags=["connections"],
        summary="Delete a connection with its links",
    )
    async def delete_connection(
        store: StoreSlug,
        connection: ConnectionSlug,
        who: StoresWrite,
    ) -> Response:
        await service.delete_connection(store, connection, who.name)
        return Response(status_code=204)

    @app.post(
        "/stores/{store}/connections/{connection}/test-login",
        response_model=TestLoginAnswer,
        responses=_errors(404, 502),
        tags=["connections"],
        summary="Dry run: what a login with these claims would do (nothing is written)",
    )
    async def test_login(
        store: StoreSlug,
        connection: ConnectionSlug,
        body: TestLoginRequest,
        _: StoresRead,
        __: LinksRead,
    ) -> TestLoginAnswer:
        return await service.test_login(store, connection, body)

    # -- SCIM tokens -------------------------------------------------------------------------

    @app.post(
        "/stores/{store}/connections/{connection}/scim-tokens",
        response_model=ScimTokenCreated,
        status_code=201,
        responses=_errors(404),
        tags=["connections"],
        summary="Make a SCIM bearer token for this connection (the token is shown once)",
    )
    async def create_scim_token(
        store: StoreSlug, connection: ConnectionSlug, who: StoresWrite
    ) -> ScimTokenCreated:
        return await service.create_scim_token(store, connection, who.name)

    @app.get(
        "/stores/{store}/connections/{connection}/scim-tokens",
        response_model=ScimTokenList,
        responses=_errors(404),
        tags=["connections"],
        summary="The connection's SCIM tokens, without the tokens themselves",
    )
    async def list_scim_tokens(
        store: StoreSlug, connection: ConnectionSlug, _: StoresRead
    ) -> ScimTokenList:
        return ScimTokenList(items=await service.list_scim_tokens(store, connection))

    @app.delete(
        "/stores/{store}/connections/{connection}/scim-tokens/{token_id}",
        status_code=204,
        responses=_errors(404),
        tags=["connections"],
        summary="Revoke a SCIM token",
    )
    async def revoke_scim_token(
        store: StoreSlug,
        connection: ConnectionSlug,
        token_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
        who: StoresWrite,
    ) -> Response:
        await service.revoke_scim_token(store, connection, token_id, who.name)
        return Response(status_code=204)

    # -- links -------------------------------------------------------------------------------

    @app.get(
        "/stores/{store}/links",
        response_model=LinkPage,
        responses=_errors(400, 404),
        tags=["links"],
    )
    async def list_links(
        store: StoreSlug,
        _: LinksRead,
        connection: Annotated[str | None, Query(max_length=63)] = None,
        subject: Text = None,
        customer_id: CustomerId = None,
        email: Text = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> LinkPage:
        return await service.list_links(
            store,
            connection=connection,
            subject=subject,
            customer_id=customer_id,
            email=email,
            limit=limit,
            cursor=cursor,
        )

    @app.post(
        "/stores/{store}/links",
        response_model=LinkView,
        status_code=201,
        responses=_errors(404, 409),
        tags=["links"],
        summary="Link a subject to a customer by hand",
    )
    async def create_link(store: StoreSlug, body: NewLink, who: LinksWrite) -> LinkView:
        return await service.create_link(store, body, who.name)

    @app.get(
        "/stores/{store}/links/{link_id}",
        response_model=LinkView,
        responses=_errors(404),
        tags=["links"],
    )
    async def get_link(store: StoreSlug, link_id: LinkId, _: LinksRead) -> LinkView:
        return await service.get_link(store, link_id)

    @app.patch(
        "/stores/{store}/links/{link_id}",
        response_model=LinkView,
        responses=_errors(404),
        tags=["links"],
        summary="Re-point a link to another customer",
    )
    async def repoint_link(
        store: StoreSlug,
        link_id: LinkId,
        body: LinkUpdate,
        who: LinksWrite,
    ) -> LinkView:
        return await service.repoint_link(store, link_id, body.customer_id, who.name)

    @app.delete(
        "/stores/{store}/links/{link_id}",
        status_code=204,
        responses=_errors(404),
        tags=["links"],
        summary="Unlink",
    )
    async def delete_link(store: StoreSlug, link_id: LinkId, who: LinksWrite) -> Response:
        await service.delete_link(store, link_id, who.name)
        return Response(status_code=204)

    # -- events ------------------------------------------------------------------------------

    @app.get(
        "/stores/{store}/events",
        response_model=EventPage,
        responses=_errors(400, 404),
        tags=["events"],
    )
    async def list_events(
        store: StoreSlug,
        _: EventsRead,
        kind: Annotated[str | None, Query(max_length=64)] = None,
        outcome: Annotated[str | None, Query(max_length=16)] = None,
        connection: Annotated[str | None, Query(max_length=63)] = None,
        subject: Text = None,
        customer_id: CustomerId = None,
        email: Text = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> EventPage:
        return await service.list_events(
            store,
            kind=kind,
            outcome=outcome,
            connection=connection,
            subject=subject,
            customer_id=customer_id,
            email=email,
            limit=limit,
            cursor=cursor,
        )

    return app
