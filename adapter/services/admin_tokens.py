"""Who an admin API bearer token names, and with which scopes."""

from __future__ import annotations

import hashlib
import hmac

from adapter.db.tokens import SCOPES, Principal, TokenRepository
from adapter.services.runtime import Runtime

__all__ = ["BOOTSTRAP_NAME", "SCOPES", "Principal", "principal_for"]

BOOTSTRAP_NAME = "bootstrap"


def _is_bootstrap(runtime: Runtime, token: str) -> bool:
    configured = runtime.settings.admin_token
    if configured is None or not configured.get_secret_value():
        return False
    # Digests of equal length, compared in constant time.
    given = hashlib.sha256(token.encode()).digest()
    expected = hashlib.sha256(configured.get_secret_value().encode()).digest()
    return hmac.compare_digest(given, expected)


async def principal_for(runtime: Runtime, token: str) -> Principal | None:
    """The principal `token` authenticates: the configured bootstrap token (every scope) or a
    stored token; None when it is neither."""
    if _is_bootstrap(runtime, token):
        return Principal(name=BOOTSTRAP_NAME, scopes=frozenset(SCOPES))
    async with runtime.sessions() as session:
        return await TokenRepository(session, runtime.clock).find(token)
