"""Whether this process may serve: the database answers and its schema is one this release
serves (the use case behind `/readyz`)."""

from __future__ import annotations

from typing import Any

from adapter.db.migrate import (
    current_revision,
    known_revisions,
    oldest_code_revision,
    schema_refusal,
)
from adapter.services.runtime import Runtime

__all__ = ["known_revisions", "readiness"]


async def readiness(runtime: Runtime, known: tuple[str, ...]) -> tuple[int, dict[str, Any]]:
    """The HTTP status and body of a readiness answer; `known` is `known_revisions(...)`."""
    try:
        current = await current_revision(runtime.engine)
    except Exception as exc:
        return 503, {"status": "unavailable", "database": type(exc).__name__}
    oldest = None
    if current not in known:  # a later release's schema: does it still serve this one?
        try:
            oldest = await oldest_code_revision(runtime.engine)
        except Exception as exc:
            return 503, {"status": "unavailable", "database": type(exc).__name__}
    refusal = schema_refusal(known, current, oldest)
    if refusal is not None:
        return 503, {
            "status": "unavailable",
            "schema": current,
            "expected": known[0],
            "reason": refusal,
        }
    return 200, {"status": "ok", "schema": current}
