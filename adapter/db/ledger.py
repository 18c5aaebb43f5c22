"""A ledger of one-time values shared by every replica.

`claim` is an atomic insert: of two replicas claiming the same value, exactly one wins. Rows
live until their expiry, after which the value may be claimed again (an expired assertion or
token is refused on its own dates anyway).

A claim's expiry is its identity: `extend` and `release` touch the row only while it still
carries the expiry the holder knows, so a holder whose claim lapsed and was taken by a
successor can neither free nor prolong the successor's. A holder that dies keeps its claim
until the expiry; a holder should therefore claim for a short lease and extend it only just
before the long step it protects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from adapter.clock import Clock
from adapter.core.secretbox import SecretBox
from adapter.db.engine import rows_changed
from adapter.db.hot_path import ClaimRow
from adapter.db.models import UsedValue


def value_hash(box: SecretBox, namespace: str, value: str) -> str:
    return box.lookup_hash(f"{namespace}:{value}")


def claim_row(
    box: SecretBox, clock: Clock, namespace: str, value: str, *, ttl_seconds: float
) -> ClaimRow:
    """The claim of `value` for the hot path's store, as `Ledger.claim` would make it."""
    now = datetime.fromtimestamp(clock.now(), UTC)
    return ClaimRow(
        namespace=namespace,
        value_hash=value_hash(box, namespace, value),
        expires_at=now + timedelta(seconds=ttl_seconds),
        now=now,
    )


@dataclass(frozen=True)
class Claim:
    namespace: str
    value_hash: str
    expires_at: datetime


class Ledger:
    def __init__(self, session: AsyncSession, box: SecretBox, clock: Clock):
        self._session = session
        self._box = box
        self._clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.now(), UTC)

    def _hash(self, namespace: str, value: str) -> str:
        return value_hash(self._box, namespace, value)

    async def claim(self, namespace: str, value: str, *, ttl_seconds: float) -> Claim | None:
        """A Claim if this caller is the first to claim `value` (within its lifetime)."""
        value_hash = self._hash(namespace, value)
        now = self._now()
        # An expired claim of the same value no longer counts.
        await self._session.execute(
            delete(UsedValue).where(
                UsedValue.namespace == namespace,
                UsedValue.value_hash == value_hash,
                UsedValue.expires_at <= now,
            )
        )
        expires_at = now + timedelta(seconds=ttl_seconds)
        dialect = self._session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        inserted = await self._session.scalar(
            insert(UsedValue)
            .values(namespace=namespace, value_hash=value_hash, expires_at=expires_at)
            .on_conflict_do_nothing()
            .returning(UsedValue.value_hash)
        )
        if inserted is None:
            return None
        return Claim(namespace, value_hash, expires_at)

    async def extend(self, claim: Claim, *, ttl_seconds: float) -> Claim | None:
        """The claim with its expiry moved to now + `ttl_seconds`, or None when it is no
        longer this holder's (it lapsed and a successor took it)."""
        expires_at = self._now() + timedelta(seconds=ttl_seconds)
        changed = await rows_changed(
            self._session,
            update(UsedValue)
            .where(
                UsedValue.namespace == claim.namespace,
                UsedValue.value_hash == claim.value_hash,
                UsedValue.expires_at == claim.expires_at,
            )
            .values(expires_at=expires_at),
        )
        if changed != 1:
            return None
        return Claim(claim.namespace, claim.value_hash, expires_at)

    async def release(self, claim: Claim) -> None:
        """Give a claim back; only the holder's own (its expiry marks it), never a successor's
        taken after ours lapsed."""
        await self._session.execute(
            delete(UsedValue).where(
                UsedValue.namespace == claim.namespace,
                UsedValue.value_hash == claim.value_hash,
                UsedValue.expires_at == claim.expires_at,
            )
        )

    async def purge_expired(self) -> int:
        return await rows_changed(
            self._session, delete(UsedValue).where(UsedValue.expires_at <= self._now())
        )
