"""The front page, liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from adapter.services.readiness import readiness
from adapter.web.pages import wants_json

router = APIRouter(include_in_schema=False)


_FRONT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sso-adapter</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto}</style>
</head><body><h1>sso-adapter is running</h1>
<p>Shoppers arrive at <code>/sso/{store}/{connection}/login</code> from a storefront's
sign-in link. Operators: the admin API at <code>/admin/v1</code>
(<a href="/admin/v1/openapi.json">OpenAPI</a>), health at <a href="/healthz">/healthz</a>
and <a href="/readyz">/readyz</a>.</p>
</body></html>
"""


@router.get("/")
async def front_page(request: Request) -> Response:
    """What someone who opens the adapter's address sees (not a bare 404)."""
    if wants_json(request):
        return JSONResponse({"service": "sso-adapter", "status": "running"})
    return HTMLResponse(
        _FRONT_PAGE,
        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
    )


@router.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    status, body = await readiness(request.app.state.runtime, request.app.state.schema_revisions)
    return JSONResponse(body, status_code=status)
