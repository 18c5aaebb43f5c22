"""What may not be written where an operator reads: secrets by name, secrets and documents by
shape, and anything too long to be a reason.

A value under a secret-looking key is replaced whole. In any other text, these shapes are cut
out wherever they hide: JWTs, PEM blocks, bearer credentials, secret query parameters, long
base64 (an encoded SAMLResponse) and XML markup (a SAML document, a decrypted assertion: from
its first tag on, the rest of the text goes). The rest is kept, cut in the middle when long.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"
# Longest text kept in one value: enough for any reason, too short for a document.
MAX_VALUE_CHARS = 1000

# Keys whose values are secrets or bearer material wherever they appear.
_SECRET_KEYS = re.compile(
    r"(secret|token|password|passwd|authorization|cookie|jwt|assertion|samlresponse|"
    r"samlrequest|relaystate|code_verifier|nonce|^code$|^state$|api_key|private)",
    re.IGNORECASE,
)
# JWT- and JWS-shaped strings.
_JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
# A PEM block, or the start of one that was cut.
_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|\Z)", re.DOTALL)
# Credentials after an authentication scheme.
_CREDENTIALS = re.compile(r"\b(Bearer|Basic)\s+[^\s\"',;]+", re.IGNORECASE)
# Query or form parameters that carry secrets, one-time codes or SAML messages.
_SECRET_PARAMETER = re.compile(
    r"(?i)(^|[?&;\s])((?:[\w.-]*(?:secret|token|password|jwt|assertion)[\w.-]*|code|state|nonce|"
    r"code_verifier|samlresponse|samlrequest|relaystate|signature|sigalg)=)[^&#\s\"'<>]*"
)
# Base64 too long to be an identifier (an encoded SAML message, a key, a ciphertext).
_LONG_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{100,}={0,2}")
# The start of XML markup: a declaration, a namespace-prefixed tag (opening or closing), or a
# tag with an attribute. `<module>` in a traceback and `<Request [b'GET']>` are not markup.
_MARKUP = re.compile(
    r"<(?:\?xml\b|!DOCTYPE\b|!\[CDATA\[|/?[A-Za-z_][\w.-]*:[A-Za-z_][\w.-]*[\s/>]"
    r"|[A-Za-z_][\w.-]*\s+[\w:.-]+\s*=\s*[\"'])",
    re.IGNORECASE,
)


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]} …[{len(text) - 2 * half} characters cut]… {text[-half:]}"


# What every shape above needs, at least: most values (codes, slugs, ids) have none of it.
_MAYBE_SECRET = re.compile(r"[<=]|eyJ|-----|\b(?i:bearer|basic)\s")


def redact_text(text: str, *, limit: int = MAX_VALUE_CHARS) -> str:
    """`text` with every secret- or document-shaped part cut out, at most about `limit` long."""
    if len(text) < 100 and not _MAYBE_SECRET.search(text):
        return text
    markup = _MARKUP.search(text)
    if markup is not None:
        # Whatever follows the first tag is document: an element's text is as personal as
        # its attributes (a decrypted assertion's e-mail address, a name).
        text = text[: markup.start()] + REDACTED
    text = _PEM.sub(REDACTED, text)
    text = _JWT_SHAPE.sub(REDACTED, text)
    text = _CREDENTIALS.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _SECRET_PARAMETER.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _LONG_BASE64.sub(REDACTED, text)
    return _shorten(text, limit)


@functools.lru_cache(maxsize=1024)
def _is_secret_key(key: str) -> bool:
    # Keys are the code's own names, a few dozen: the answer is kept.
    return _SECRET_KEYS.search(key) is not None


def redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {
            key: REDACTED if _is_secret_key(str(key)) else redact_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value
