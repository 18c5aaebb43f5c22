"""Audit events written on their own, outside any use case's transaction (a refused login's
event, for one: the work it belonged to was rolled back or never began)."""

from __future__ import annotations

from adapter.db.audit import AuditLog, AuditRecord
from adapter.services.runtime import Runtime

__all__ = ["AuditRecord", "record_event"]


async def record_event(runtime: Runtime, record: AuditRecord) -> None:
    """Write `record` in a transaction of its own; database errors reach the caller."""
    async with runtime.sessions.begin() as session:
        AuditLog(session, runtime.clock).record(record)
