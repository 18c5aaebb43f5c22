"""Logins in flight, kept on the server so any replica can finish what another started.

A row is found by a SHA-256 of its `state` and is bound to the browser that started it (a
SHA-256 of that browser's cookie): unkeyed on purpose, see `SecretBox.lookup_hash`.
Consuming deletes it in the same statement that reads it, so a state is used once even when
two callbacks race.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from adapter.clock import Clock
from adapter.core import login_state
from adapter.core.login_state import InFlight, UnreadableLoginState
from adapter.core.secretbox import SecretBox
from adapter.db.engine import rows_changed
from adapter.db.models import LoginState


@dataclass(frozen=True)
class PendingLogin:
    store_id: int
    connection_id: int
    channel_id: int
    redirect_to: str
    flight: InFlight
    browser_hash: str = ""


class LoginStateRepository:
    def __init__(self, session: AsyncSession, box: SecretBox, clock: Clock):
        self._session = session
        self._box = box
        self._clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.now(), UTC)

    async def save(
        self,
        *,
        state: str,
        browser_id: str | None,
        login: PendingLogin,
        ttl_seconds: int,
    ) -> None:
        """Keep a login in flight; bound to `browser_id`, or, when None, to the browser the
        given PendingLogin was bound to (a login moving from one step to the next)."""
        now = self._now()
        key_hash = self._box.lookup_hash(f"state:{state}")
        browser_hash = (
            self._box.lookup_hash(f"browser:{browser_id}") if browser_id else login.browser_hash
        )
        if not browser_hash:
            raise ValueError("a login state must be bound to a browser")
        self._session.add(
            LoginState(
                key_hash=key_hash,
                browser_hash=browser_hash,
                store_id=login.store_id,
                connection_id=login.connection_id,
                channel_id=login.channel_id,
                redirect_to=login.redirect_to,
                payload_sealed=self._box.seal(
                    json.dumps(login_state.dump(login.flight)), context=f"login-state:{key_hash}"
                ),
                created_at=now,
                expires_at=now + timedelta(seconds=ttl_seconds),
            )
        )
        await self._session.flush()

    async def consume(
        self, *, state: str, browser_id: str | None, any_browser: bool = False
    ) -> PendingLogin | None:
        """The login this state started, if it exists, is unexpired and belongs to this
        browser; deleted whatever the outcome, so it can never be tried twice.

        `any_browser` is for SAML's ACS, which receives a cross-site POST that carries no
        cookie: the binding is then checked one step later (see the SAML login)."""
        key_hash = self._box.lookup_hash(f"state:{state}")
        row = await self._session.scalar(
            delete(LoginState).where(LoginState.key_hash == key_hash).returning(LoginState)
        )
        if row is None:
            return None
        if row.expires_at <= self._now():
            return None
        if not any_browser and (
            browser_id is None or row.browser_hash != self._box.lookup_hash(f"browser:{browser_id}")
        ):
            return None
        stored = json.loads(self._box.open(row.payload_sealed, context=f"login-state:{key_hash}"))
        try:
            flight = login_state.read(stored)
        except UnreadableLoginState:
            # Not one this release or the previous one wrote: as good as unknown.
            return None
        return PendingLogin(
            store_id=row.store_id,
            connection_id=row.connection_id,
            channel_id=row.channel_id,
            redirect_to=row.redirect_to,
            flight=flight,
            browser_hash=row.browser_hash,
        )

    async def purge_expired(self) -> int:
        return await rows_changed(
            self._session, delete(LoginState).where(LoginState.expires_at <= self._now())
        )

    async def count(self) -> int:
        return len((await self._session.scalars(select(LoginState.key_hash))).all())
