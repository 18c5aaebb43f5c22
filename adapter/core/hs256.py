"""The shape every HS256 token BigCommerce signs for the adapter must have before its
signature is checked (Current Customer JWTs, the app's signed payloads)."""

from __future__ import annotations

import jwt

MAX_TOKEN_LENGTH = 8192


def shape_problem(token: object) -> str | None:
    """Why `token` is not a compact HS256 JWT worth verifying, or None."""
    if not isinstance(token, str) or token.count(".") != 2 or len(token) > MAX_TOKEN_LENGTH:
        return "not a compact JWT"
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return "unparseable header"
    if header.get("alg") != "HS256":
        return f"alg {header.get('alg')!r} is not HS256"
    return None
