"""The SCIM 2.0 endpoints, mounted at /scim/v2: `/{store}/{connection}/Users`, `/Groups` and
the discovery documents, answered as `application/scim+json`, every refusal in the SCIM
error schema (with a reference id the log line carries too)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapter.errors import AdapterError, Unavailable
from adapter.logging import get_logger
from adapter.scim.resources import SCIM_CONTENT_TYPE, ScimError, discovery
from adapter.services.availability import DATABASE_ERRORS, database_unavailable
from adapter.services.login_facts import new_reference
from adapter.services.scim_directory import Caller, ScimAnswer, ScimService
from adapter.web.bodies import ADMIN_BODY_LIMIT, read_body

log = get_logger("adapter.scim")

LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ACCEPTED_MEDIA_TYPES = ("application/scim+json", "application/json")


def _scim(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    content = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    return Response(
        content if status != 204 else b"",
        status_code=status,
        media_type=SCIM_CONTENT_TYPE if status != 204 else None,
        headers=headers,
    )


def _refusal(
    error: ScimError, reference: str, headers: Mapping[str, str] | None = None
) -> Response:
    return _scim(error.body(reference), error.status, headers)


def _answer(answer: ScimAnswer) -> Response:
    headers = {"Location": answer.location} if answer.location else None
    return _scim(answer.body, answer.status, headers)


async def _json_body(request: Request) -> Any:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type and media_type not in ACCEPTED_MEDIA_TYPES:
        raise ScimError(415, f"the body must be {SCIM_CONTENT_TYPE}", "invalidSyntax")
    raw = await read_body(request, ADMIN_BODY_LIMIT)
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ScimError(400, "the body is not UTF-8 JSON", "invalidSyntax") from None


def _list(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": [LIST_SCHEMA],
        "totalResults": len(resources),
        "startIndex": 1,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


Handler = Callable[[Caller, Request], Awaitable[ScimAnswer]]


def create_scim_app(service: ScimService) -> Starlette:
    async def run(request: Request, handler: Handler) -> Response:
        reference = new_reference()
        try:
            caller = await service.authenticate(
                request.path_params["store"],
                request.path_params["connection"],
                request.headers.get("authorization"),
            )
            return _answer(await handler(caller, request))
        except ScimError as refused:
            log.info(
                "scim_refused", reference=reference, status=refused.status, detail=refused.detail
            )
            headers = {"WWW-Authenticate": 'Bearer realm="scim"'} if refused.status == 401 else None
            return _refusal(refused, reference, headers)
        except AdapterError as failed:
            return _adapter_failure(failed, reference)
        except DATABASE_ERRORS as exc:
            unavailable = database_unavailable(exc)
            if unavailable is None:
                raise
            return _adapter_failure(unavailable, reference)

    def route(path: str, methods: list[str], handler: Handler) -> Route:
        async def endpoint(request: Request) -> Response:
            return await run(request, handler)

        return Route(f"/{{store}}/{{connection}}{path}", endpoint, methods=methods)

    async def service_provider_config(caller: Caller, request: Request) -> ScimAnswer:
        return ScimAnswer(200, discovery("ServiceProviderConfig"))

    def listed(kind: str, key: str) -> tuple[Handler, Handler]:
        async def all_of_them(caller: Caller, request: Request) -> ScimAnswer:
            found = discovery(kind)
            assert isinstance(found, list)
            return ScimAnswer(200, _list(found))

        async def one(caller: Caller, request: Request) -> ScimAnswer:
            found = discovery(kind)
            assert isinstance(found, list)
            wanted = request.path_params["id"]
            for document in found:
                if document.get(key) == wanted:
                    return ScimAnswer(200, document)
            raise ScimError(404, f"no {kind[:-1]} {wanted}")

        return all_of_them, one

    resource_types, resource_type = listed("ResourceTypes", "id")
    schemas, schema = listed("Schemas", "id")

    async def list_users(caller: Caller, request: Request) -> ScimAnswer:
        return await service.list_users(caller, request.query_params)

    async def create_user(caller: Caller, request: Request) -> ScimAnswer:
        return await service.create_user(caller, await _json_body(request))

    async def user(caller: Caller, request: Request) -> ScimAnswer:
        user_id = request.path_params["id"]
        if request.method == "GET":
            return await service.get_user(caller, user_id, request.query_params)
        if request.method == "DELETE":
            return await service.delete_user(caller, user_id)
        body = await _json_body(request)
        if request.method == "PUT":
            return await service.replace_user(caller, user_id, body)
        return await service.patch_user(caller, user_id, body)

    async def list_groups(caller: Caller, request: Request) -> ScimAnswer:
        return await service.list_groups(caller, request.query_params)

    async def create_group(caller: Caller, request: Request) -> ScimAnswer:
        return await service.create_group(caller, await _json_body(request))

    async def group(caller: Caller, request: Request) -> ScimAnswer:
        group_id = request.path_params["id"]
        if request.method == "GET":
            return await service.get_group(caller, group_id, request.query_params)
        if request.method == "DELETE":
            return await service.delete_group(caller, group_id)
        body = await _json_body(request)
        if request.method == "PUT":
            return await service.replace_group(caller, group_id, body)
        return await service.patch_group(caller, group_id, body)

    async def search_users(caller: Caller, request: Request) -> ScimAnswer:
        return await service.search(caller, "users", await _json_body(request))

    async def search_groups(caller: Caller, request: Request) -> ScimAnswer:
        return await service.search(caller, "groups", await _json_body(request))

    async def search_everything(caller: Caller, request: Request) -> ScimAnswer:
        # RFC 7644 section 3.4.3 lets a server decline a search across resource types.
        raise ScimError(
            501, "search across resource types is not supported: search /Users or /Groups"
        )

    one_resource = ["GET", "PUT", "PATCH", "DELETE"]
    app = Starlette(
        routes=[
            route("/ServiceProviderConfig", ["GET"], service_provider_config),
            route("/ResourceTypes", ["GET"], resource_types),
            route("/ResourceTypes/{id}", ["GET"], resource_type),
            route("/Schemas", ["GET"], schemas),
            route("/Schemas/{id}", ["GET"], schema),
            route(
                "/Users",
                ["GET", "POST"],
                lambda c, r: create_user(c, r) if r.method == "POST" else list_users(c, r),
            ),
            route("/.search", ["POST"], search_everything),
            route("/Users/.search", ["POST"], search_users),
            route("/Users/{id}", one_resource, user),
            route(
                "/Groups",
                ["GET", "POST"],
                lambda c, r: create_group(c, r) if r.method == "POST" else list_groups(c, r),
            ),
            route("/Groups/.search", ["POST"], search_groups),
            route("/Groups/{id}", one_resource, group),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _unexpected},
    )
    return app


def _adapter_failure(failed: AdapterError, reference: str) -> Response:
    if failed.status >= 500:
        log.warning("scim_failed", reference=reference, reason=failed.code, detail=failed.detail)
        message = failed.public_message
    else:
        log.info("scim_refused", reference=reference, reason=failed.code, detail=failed.detail)
        message = failed.detail
    headers = {"Retry-After": str(failed.retry_after)} if isinstance(failed, Unavailable) else None
    return _refusal(ScimError(failed.status, message), reference, headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    reference = new_reference()
    log.info("scim_refused", reference=reference, status=exc.status_code)
    detail = {404: "no such endpoint", 405: "method not allowed here"}.get(
        exc.status_code, "bad request"
    )
    return _refusal(ScimError(exc.status_code, detail), reference, exc.headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    reference = new_reference()
    log.error("scim_failed", reference=reference, reason="internal_error", exc_info=exc)
    return _refusal(ScimError(500, "something went wrong on our side"), reference)
