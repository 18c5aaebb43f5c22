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
    token: str
    csrf: str
    expires_at: float

    def seal(self, box: SecretBox) -> str:
        return box.seal(
            json.dumps({"t": self.token, "c": self.csrf, "e": self.expires_at}), context=CONTEXT
        )

    @classmethod
    def new(cls, token: str, now: float) -> ConsoleSession:
        return cls(token=token, csrf=secrets.token_urlsafe(24), expires_at=now + SESSION_SECONDS)

    @classmethod
    def open(cls, box: SecretBox, sealed: str | None, now: float) -> ConsoleSession | None:
        if not sealed:
            return None
        try:
            data = json.loads(box.open(sealed, context=CONTEXT))
        except (SecretBoxError, ValueError):
            return None
        session = cls(token=str(data["t"]), csrf=str(data["c"]), expires_at=float(data["e"]))
        return session if session.expires_at > now else None

    def csrf_matches(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.csrf.encode())
