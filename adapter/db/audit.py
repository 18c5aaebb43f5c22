"""The audit trail: one row per login outcome, customer creation, link and config change."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from adapter.clock import Clock
from adapter.db.models import AuditEvent


@dataclass
class AuditRecord:
    kind: str
    outcome: str
    store_slug: str | None = None
    connection_slug: str | None = None
    reason: str | None = None
    reference: str | None = None
    actor: str | None = None
    subject: str | None = None
    customer_id: int | None = None
    email: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def audit_columns(event: AuditRecord, created_at: datetime) -> dict[str, Any]:
    """The event as the columns of its row, for the hot path's store."""
    return {
        "created_at": created_at,
        "store_slug": event.store_slug,
        "connection_slug": event.connection_slug,
        "kind": event.kind,
        "outcome": event.outcome,
        "reason": event.reason,
        "reference": event.reference,
        "actor": event.actor,
        "subject": event.subject,
        "customer_id": event.customer_id,
        "email": event.email,
        "details": event.details,
    }


class AuditLog:
    def __init__(self, session: AsyncSession, clock: Clock):
        self._session = session
        self._clock = clock

    def record(self, event: AuditRecord) -> None:
        now = datetime.fromtimestamp(self._clock.now(), UTC)
        self._session.add(AuditEvent(**audit_columns(event, now)))

    async def for_store(self, store_slug: str, limit: int = 100) -> list[AuditEvent]:
        rows = await self._session.scalars(
            select(AuditEvent)
            .where(AuditEvent.store_slug == store_slug)
            .order_by(AuditEvent.id.desc())
            .limit(limit)
        )
        return list(rows)
