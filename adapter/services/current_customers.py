"""`POST /sso/{store}/current-customer`: the signed-in shopper and their linked identities."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from adapter.db.models import Connection, Link
from adapter.services.login_steps import LoginSteps
from adapter.services.runtime import Runtime


class CurrentCustomers:
    def __init__(self, runtime: Runtime, steps: LoginSteps):
        self._rt = runtime
        self._steps = steps

    async def describe(self, store_slug: str, token: str) -> dict[str, Any]:
        store = await self._steps.store(store_slug)
        customer = self._steps.verify_current_customer(store, token)
        async with self._rt.sessions() as session:
            rows = await session.execute(
                select(Connection.slug, Link.subject, Link.last_login_at)
                .join(Connection, Connection.id == Link.connection_id)
                .where(Link.store_id == store.id, Link.customer_id == customer.customer_id)
                .order_by(Connection.slug)
            )
            links = [
                {
                    "connection": row.slug,
                    "subject": row.subject,
                    "last_login_at": row.last_login_at.isoformat() if row.last_login_at else None,
                }
                for row in rows
            ]
        return {
            "customer_id": customer.customer_id,
            "email": customer.email,
            "group_id": customer.group_id,
            "links": links,
        }
