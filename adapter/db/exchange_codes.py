"""One-time codes that hand a customer access token to a headless storefront's backend."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from adapter.clock import Clock
from adapter.core.secretbox import SecretBox
from adapter.db.models import ExchangeCode, IssuedCustomerToken

CODE_TTL_SECONDS = 60


@dataclass(frozen=True)
class Redeemed:
    store_id: int
    channel_id: int
    customer_id: int
    email: str | None
    access_token: str
    expires_at: str | None
    b2b_token: str | None = None


class ExchangeCodes:
    def __init__(self, session: AsyncSession, box: SecretBox, clock: Clock):
        self._session = session
        self._box = box
        self._clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.now(), UTC)

    async def issue(
        self,
        *,
        store_id: int,
        channel_id: int,
        customer_id: int,
        email: str | None,
        access_token: str,
        access_token_expires_at: str | None,
        b2b_token: str | None = None,
    ) -> str:
        code = secrets.token_urlsafe(32)
        code_hash = self._box.lookup_hash(f"exchange:{code}")
        self._session.add(
            ExchangeCode(
                code_hash=code_hash,
                store_id=store_id,
                channel_id=channel_id,
                customer_id=customer_id,
                email=email,
                access_token_sealed=self._box.seal(access_token, context=f"exchange:{code_hash}"),
                access_token_expires_at=access_token_expires_at,
                b2b_token_sealed=None
                if b2b_token is None
                else self._box.seal(b2b_token, context=f"exchange-b2b:{code_hash}"),
                expires_at=self._now() + timedelta(seconds=CODE_TTL_SECONDS),
            )
        )
        await self._session.flush()
        return code

    async def peek(self, code: str) -> ExchangeCode | None:
        """The unexpired row of a code, without using it up (to check who may redeem it)."""
        row = await self._session.scalar(
            select(ExchangeCode).where(
                ExchangeCode.code_hash == self._box.lookup_hash(f"exchange:{code}")
            )
        )
        if row is None or row.expires_at <= self._now():
            return None
        return row

    async def redeem(self, code: str) -> Redeemed | None:
        """Use the code up: exactly one of two racing redemptions gets the token."""
        code_hash = self._box.lookup_hash(f"exchange:{code}")
        row = await self._session.scalar(
            delete(ExchangeCode).where(ExchangeCode.code_hash == code_hash).returning(ExchangeCode)
        )
        if row is None or row.expires_at <= self._now():
            return None
        return Redeemed(
            store_id=row.store_id,
            channel_id=row.channel_id,
            customer_id=row.customer_id,
            email=row.email,
            access_token=self._box.open(row.access_token_sealed, context=f"exchange:{code_hash}"),
            expires_at=row.access_token_expires_at,
            b2b_token=None
            if row.b2b_token_sealed is None
            else self._box.open(row.b2b_token_sealed, context=f"exchange-b2b:{code_hash}"),
        )

    def remember_access_token(
        self,
        *,
        store_id: int,
        channel_id: int,
        customer_id: int,
        token: str,
        expires_at: str | None,
    ) -> None:
        """Keep a customer access token handed to a headless storefront, sealed, until it
        expires: a deprovisioning of its customer ends it (GraphQL `logout`)."""
        self._session.add(
            IssuedCustomerToken(
                store_id=store_id,
                channel_id=channel_id,
                customer_id=customer_id,
                token_sealed=self._box.seal(
                    token, context=issued_token_context(store_id, customer_id)
                ),
                expires_at=_expiry(expires_at, self._now()),
            )
        )

    async def purge_expired(self) -> None:
        now = self._now()
        await self._session.execute(delete(ExchangeCode).where(ExchangeCode.expires_at <= now))
        await self._session.execute(
            delete(IssuedCustomerToken).where(IssuedCustomerToken.expires_at <= now)
        )


def issued_token_context(store_id: int, customer_id: int) -> str:
    return f"issued-token:{store_id}:{customer_id}"


def _expiry(expires_at: str | None, now: datetime) -> datetime:
    """BigCommerce's `expiresAt`; a day from now when it gives none or one that does not
    read (its tokens last a day by default)."""
    if expires_at:
        try:
            parsed = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
    return now + timedelta(days=1)
