"""`POST /sso/{store}/current-customer`: the signed-in shopper and their linked identities."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from adapter.db.models import Connection, Link
from adapter.errors import NotFound
from adapter.services.login import LoginService, LoginTrace
from adapter.services.runtime import Runtime


class CurrentCustomers:
    def __init__(self, runtime: Runtime, login: LoginService):
        self._rt = runtime
        self._login = login

    async def describe(self, store_slug: str, token: str, trace: LoginTrace) -> dict[str, Any]:
        async with self._rt.sessions() as session:
            store = await self._login.config(session).get_store(store_slug)
        if store is None:
            raise NotFound(f"no store {store_slug}", code="unknown_store")
        trace.store_known = True
        customer = self._login.verify_current_customer(store, token, trace)
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
