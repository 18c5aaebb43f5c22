"""Validation of the storefront path a shopper returns to after signing in.

`redirect_to` travels into a BigCommerce JWT and from there into a redirect, so anything that a
browser could read as another origin (an open redirect) is refused, including the encoded and
browser-normalised spellings of such URLs.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote, urlsplit

DEFAULT_REDIRECT = "/account.php"
MAX_LENGTH = 2048
_MAX_DECODE_ROUNDS = 4


class InvalidRedirect(ValueError):
    pass


def _is_unsafe(path: str) -> str | None:
    if not path.startswith("/"):
        return "must start with /"
    # Browsers treat a backslash as a slash and drop tabs/newlines: "/\\evil", "/\t/evil".
    if "\\" in path:
        return "contains a backslash"
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in path):
        return "contains control characters"
    if path.startswith("//"):
        return "is protocol-relative"
    parts = urlsplit(path)
    if parts.scheme or parts.netloc:
        return "names another origin"
    return None


def validate_redirect_to(value: str | None) -> str:
    """Return the path to use, or raise InvalidRedirect naming the reason."""
    if value is None or value == "":
        return DEFAULT_REDIRECT
    if len(value) > MAX_LENGTH:
        raise InvalidRedirect("is too long")
    if any(ch.isspace() for ch in value):
        raise InvalidRedirect("contains whitespace")
    # Check the value as given and each percent-decoded form, since the storefront or a
    # browser may decode it again before acting on it ("/%2F%2Fevil.example").
    seen = value
    for _ in range(_MAX_DECODE_ROUNDS):
        reason = _is_unsafe(seen)
        if reason:
            raise InvalidRedirect(reason)
        try:
            decoded = unquote(seen, errors="strict")
        except UnicodeDecodeError:
            raise InvalidRedirect("is not valid UTF-8 once decoded") from None
        if decoded == seen:
            return value
        seen = decoded
    raise InvalidRedirect("is encoded too many times")
