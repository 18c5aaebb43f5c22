"""`POST /sso/token`: a headless storefront's backend redeems a one-time code for the
customer access token the adapter obtained, proving itself with its channel's secret."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from adapter.db.exchange_codes import ExchangeCodes
from adapter.db.models import Channel, Store
from adapter.db.scim_directory import ScimDirectory
from adapter.errors import BadRequest, NotVerified
from adapter.services.resolution import deprovisioned
from adapter.services.runtime import Runtime


@dataclass(frozen=True)
class ExchangedToken:
    store_slug: str
    customer_id: int
    email: str | None
    channel_id: int
    customer_access_token: str
    expires_at: str | None
    b2b_token: str | None = None


def _same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(
        hashlib.sha256(given.encode()).digest(), hashlib.sha256(expected.encode()).digest()
    )


class TokenExchange:
    def __init__(self, runtime: Runtime):
        self._rt = runtime

    async def redeem(self, code: str, secret: str | None) -> ExchangedToken:
        if not secret:
            raise NotVerified("no exchange secret", code="invalid_secret")
        async with self._rt.sessions.begin() as session:
            codes = ExchangeCodes(session, self._rt.box, self._rt.clock)
            row = await codes.peek(code)
            if row is None:
                raise BadRequest("code unknown, used or expired", code="invalid_code")
            store = await session.scalar(
                select(Store).options(selectinload(Store.channels)).where(Store.id == row.store_id)
            )
            channel = (
                next((c for c in store.channels if c.channel_id == row.channel_id), None)
                if store is not None
                else None
            )
            expected = self._channel_secret(store, channel)
            # The code is bound to its channel: only that channel's secret redeems it, so a
            # code of one store or channel is worthless to another. A wrong secret does not
            # use the code up (the rightful backend may still be on its way).
            if expected is None or not _same_secret(secret, expected):
                raise NotVerified(
                    "exchange secret does not match the code's channel", code="invalid_secret"
                )
            if await ScimDirectory(session, self._rt.clock).customer_blocked(
                row.store_id, row.customer_id
            ):
                # The IdP deprovisioned the person after the code was made.
                raise deprovisioned()
            redeemed = await codes.redeem(code)
            if redeemed is None:
                raise BadRequest("code used concurrently", code="invalid_code")
            assert store is not None
            return ExchangedToken(
                store_slug=store.slug,
                customer_id=redeemed.customer_id,
                email=redeemed.email,
                channel_id=redeemed.channel_id,
                customer_access_token=redeemed.access_token,
                expires_at=redeemed.expires_at,
                b2b_token=redeemed.b2b_token,
            )

    def _channel_secret(self, store: Store | None, channel: Channel | None) -> str | None:
        if store is None or channel is None or channel.exchange_secret_sealed is None:
            return None
        return self._rt.box.open(
            channel.exchange_secret_sealed,
            context=f"store:{store.slug}:channel:{channel.channel_id}:exchange_secret",
        )
