"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from adapter.db.migrate import current_revision, oldest_code_revision, schema_refusal

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    runtime = request.app.state.runtime
    try:
        current = await current_revision(runtime.engine)
    except Exception as exc:
        return JSONResponse(
            {"status": "unavailable", "database": type(exc).__name__}, status_code=503
        )
    known = request.app.state.schema_revisions
    oldest = None
    if current not in known:  # a later release's schema: does it still serve this one?
        try:
            oldest = await oldest_code_revision(runtime.engine)
        except Exception as exc:
            return JSONResponse(
                {"status": "unavailable", "database": type(exc).__name__}, status_code=503
            )
    refusal = schema_refusal(known, current, oldest)
    if refusal is not None:
        return JSONResponse(
            {"status": "unavailable", "schema": current, "expected": known[0], "reason": refusal},
            status_code=503,
        )
    return JSONResponse({"status": "ok", "schema": current})
