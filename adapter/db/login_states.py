"""Logins in flight, kept on the server so any replica can finish what another started.

A row is found by a SHA-256 of its `state` and is bound to the browser that started it (a
SHA-256 of that browser's cookie): unkeyed on purpose, see `SecretBox.lookup_hash`. What the
login must remember (nonce, PKCE verifier, SAML request id, a verified identity) is sealed,
bound to its row. Consuming deletes the row in the same statement that reads it, so a state
is used once even when two callbacks race. The statements run on the hot path's store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from adapter.clock import Clock
from adapter.core import login_state
from adapter.core.login_state import InFlight, UnreadableLoginState
from adapter.core.secretbox import SecretBox
from adapter.db.engine import rows_changed
from adapter.db.hot_path import ClaimRow, LoginStore, StateRow
from adapter.db.models import LoginState


@dataclass(frozen=True)
class PendingLogin:
    store_id: int
    connection_id: int
    channel_id: int
    redirect_to: str
    flight: InFlight
    browser_hash: str = ""


class LoginStates:
    def __init__(self, store: LoginStore, box: SecretBox, clock: Clock):
        self._store = store
        self._box = box
        self._clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.now(), UTC)

    def row(
        self, *, state: str, browser_id: str | None, login: PendingLogin, ttl_seconds: float
    ) -> StateRow:
        """The row that keeps `login` under `state`; bound to `browser_id`, or, when None, to
        the browser the login was bound to (a login moving from one step to the next)."""
        now = self._now()
        key_hash = self._box.lookup_hash(f"state:{state}")
        browser_hash = (
            self._box.lookup_hash(f"browser:{browser_id}") if browser_id else login.browser_hash
        )
        if not browser_hash:
            raise ValueError("a login state must be bound to a browser")
        return StateRow(
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

    async def save(
        self, *, state: str, browser_id: str | None, login: PendingLogin, ttl_seconds: float
    ) -> None:
        await self._store.keep_state(
            self.row(state=state, browser_id=browser_id, login=login, ttl_seconds=ttl_seconds)
        )

    async def save_if_claimed(
        self,
        claim: ClaimRow,
        *,
        state: str,
        login: PendingLogin,
        ttl_seconds: float,
    ) -> bool:
        """Keep `login` (bound to its browser) only if `claim` is won; one statement."""
        row = self.row(state=state, browser_id=None, login=login, ttl_seconds=ttl_seconds)
        return await self._store.claim_and_keep(claim, row)

    async def consume(
        self, *, state: str, browser_id: str | None, any_browser: bool = False
    ) -> PendingLogin | None:
        """The login this state started, if it exists, is unexpired and belongs to this
        browser; deleted whatever the outcome, so it can never be tried twice.

        `any_browser` is for SAML's ACS, which receives a cross-site POST that carries no
        cookie: the binding is then checked one step later (see the SAML login)."""
        key_hash = self._box.lookup_hash(f"state:{state}")
        row = await self._store.take_state(key_hash)
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


class LoginStateTable:
    """The table as the rare paths see it: purging what expired, counting what is left."""

    def __init__(self, session: AsyncSession, clock: Clock):
        self._session = session
        self._clock = clock

    async def purge_expired(self) -> int:
        now = datetime.fromtimestamp(self._clock.now(), UTC)
        return await rows_changed(
            self._session, delete(LoginState).where(LoginState.expires_at <= now)
        )
