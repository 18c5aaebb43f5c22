"""Choosing the key that must have signed an ID token.

Only two sources are trusted: the OP's JWKS (fetched from its discovery document) and, for the
HMAC algorithms, the connection's own client secret. Keys named inside the token (`jwk`, `jku`,
`x5u`, `x5c` headers) are never used: whoever forged the token would have chosen them.
"""

from __future__ import annotations

from typing import Any

from joserfc.jwk import Key, KeySet, OctKey

from adapter.errors import NotVerified
from adapter.oidc.id_token import HMAC_ALGORITHMS

_KEY_TYPE_FOR_ALG_PREFIX = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}


class UnknownKeyId(Exception):
    """The token names a kid the cached JWKS does not hold: refresh it and try again."""


def _refuse(rule: str) -> NotVerified:
    return NotVerified(f"id_token: {rule}", code="id_token_invalid")


def _fits(key: Key, alg: str) -> bool:
    if key.key_type != _KEY_TYPE_FOR_ALG_PREFIX.get(alg[:2]):
        return False
    use = key.get("use")
    if use is not None and use != "sig":
        return False
    key_alg = key.get("alg")
    return key_alg is None or key_alg == alg


def select_key(header: dict[str, Any], jwks: KeySet, client_secret: str | None) -> Key:
    alg = header["alg"]
    if alg in HMAC_ALGORITHMS:
        # An HMAC token is verified with the client secret and nothing else: never with a
        # public key from the JWKS, which anyone could use as an HMAC key.
        if not client_secret:
            raise _refuse("HMAC alg without a client secret")
        return OctKey.import_key(client_secret.encode())
    kid = header.get("kid")
    if kid is not None:
        matching = [k for k in jwks.keys if k.kid == kid]
        if not matching:
            raise UnknownKeyId(kid)
        candidates = [k for k in matching if _fits(k, alg)]
        if len(candidates) != 1:
            raise _refuse("kid does not name one usable key")
        return candidates[0]
    candidates = [k for k in jwks.keys if _fits(k, alg)]
    if len(candidates) != 1:
        # Without a kid we accept only an unambiguous key set.
        raise _refuse("no kid and not exactly one usable key")
    return candidates[0]
