"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from adapter.services.readiness import readiness

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    status, body = await readiness(request.app.state.runtime, request.app.state.schema_revisions)
    return JSONResponse(body, status_code=status)
