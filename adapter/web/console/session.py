"""The console's sign-in: the admin token, sealed in a cookie, checked again at every request.

The cookie holds the token sealed by the master key (AES-GCM, its own context), an expiry and
a CSRF value; nothing in it is readable or forgeable without the key. Every request looks the
token up again, so a revoked token ends its console sessions at once. Every form carries the
CSRF value and every state-changing request must come from the adapter's own origin.
"""

from __future__ import annotations

import hmac
import json
import secrets
from dataclasses import dataclass

from adapter.core.secretbox import SecretBox, SecretBoxError

SESSION_SECONDS = 8 * 3600
CONTEXT = "console-session"


@dataclass(frozen=True)
class ConsoleSession:
    """An admin token's session, or (with `store_hash` and `user_id`, no token) a BigCommerce
    control-panel user's, for that one store."""

    token: str
    csrf: str
    expires_at: float
    store_hash: str | None = None
    user_id: int | None = None

    def seal(self, box: SecretBox) -> str:
        return box.seal(
            json.dumps(
                {
                    "t": self.token,
                    "c": self.csrf,
                    "e": self.expires_at,
                    "h": self.store_hash,
                    "u": self.user_id,
                }
            ),
            context=CONTEXT,
        )

    @classmethod
    def new(
        cls, token: str, now: float, *, store_hash: str | None = None, user_id: int | None = None
    ) -> ConsoleSession:
        return cls(
            token=token,
            csrf=secrets.token_urlsafe(24),
            expires_at=now + SESSION_SECONDS,
            store_hash=store_hash,
            user_id=user_id,
        )

    @classmethod
    def open(cls, box: SecretBox, sealed: str | None, now: float) -> ConsoleSession | None:
        if not sealed:
            return None
        try:
            data = json.loads(box.open(sealed, context=CONTEXT))
        except (SecretBoxError, ValueError):
            return None
        session = cls(
            token=str(data["t"]),
            csrf=str(data["c"]),
            expires_at=float(data["e"]),
            store_hash=data.get("h"),
            user_id=data.get("u"),
        )
        return session if session.expires_at > now else None

    def csrf_matches(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.csrf.encode())
