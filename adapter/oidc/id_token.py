"""ID token validation, rule by rule, as OpenID Connect Core 1.0 section 3.1.3.7 demands.

Pure: takes the token, the key chosen for it and what we expect; gives the claims or raises
NotVerified with the rule that failed in `detail` (logged, never shown).
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from authlib.oidc.core.util import create_half_hash
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import Key

from adapter.clock import Clock
from adapter.errors import NotVerified

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
TENANT_PLACEHOLDER = "{tenantid}"
MAX_SUBJECT_LENGTH = 255


def _refuse(rule: str) -> NotVerified:
    return NotVerified(f"id_token: {rule}", code="id_token_invalid")


@dataclass(frozen=True)
class IdTokenExpectations:
    issuer: str
    client_id: str
    nonce: str
    algorithms: frozenset[str]
    leeway_seconds: int
    # iat older than this (plus leeway) is refused: a code is redeemed within seconds.
    max_age_seconds: int = 600
    allowed_tenants: frozenset[str] | None = None
    access_token: str | None = None
    # Audiences besides client_id that the operator trusts to share our ID tokens (3.1.3.7
    # step 3); compared exactly, like client_id.
    trusted_audiences: frozenset[str] = frozenset()


def read_header(token: str, algorithms: Collection[str]) -> dict[str, Any]:
    """The protected header of a compact JWS, before any key is chosen.

    Refuses encrypted tokens (five parts), `none`, algorithms the OP does not advertise, and
    any `crit` extension we cannot honour.
    """
    if not isinstance(token, str) or token.count(".") != 2:
        raise _refuse("not a compact JWS")
    try:
        header = jws.extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, UnicodeError) as exc:
        raise _refuse(f"unparseable header ({type(exc).__name__})") from None
    alg = header.get("alg")
    if not isinstance(alg, str) or alg.lower() == "none":
        raise _refuse("alg none or missing")
    if alg not in algorithms:
        raise _refuse(f"alg {alg} not allowed")
    if "crit" in header:
        raise _refuse("crit header present")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise _refuse("kid not a string")
    return dict(header)


def _is_number(value: object) -> TypeGuard[float]:
    # NaN and Infinity parse from JSON and would make every time comparison pass.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def verify_id_token(
    token: str, key: Key, expected: IdTokenExpectations, clock: Clock
) -> dict[str, Any]:
    header = read_header(token, expected.algorithms)
    alg = header["alg"]
    try:
        # The algorithm list is pinned to the header's one, already checked against the OP's.
        claims: Mapping[str, Any] = jwt.decode(token, key, algorithms=[alg]).claims
    except JoseError as exc:
        raise _refuse(f"signature ({exc.error})") from None
    except (ValueError, TypeError) as exc:
        raise _refuse(f"undecodable ({type(exc).__name__})") from None
    check_claims(dict(claims), alg, expected, clock)
    return dict(claims)


def _expected_issuer(claims: Mapping[str, Any], expected: IdTokenExpectations) -> str:
    if expected.allowed_tenants is None:
        return expected.issuer
    # Multi-tenant Entra ID: the issuer is a template; the token's own tid fills it, and that
    # tid must be one the operator admits.
    tid = claims.get("tid")
    if not isinstance(tid, str) or tid not in expected.allowed_tenants:
        raise _refuse("tid not in allowed_tenants")
    return expected.issuer.replace(TENANT_PLACEHOLDER, tid)


def check_claims(
    claims: dict[str, Any], alg: str, expected: IdTokenExpectations, clock: Clock
) -> None:
    now = clock.now()
    leeway = expected.leeway_seconds

    # 2. iss exactly equal to the issuer.
    if claims.get("iss") != _expected_issuer(claims, expected):
        raise _refuse("iss mismatch")

    # 3. aud contains our client id, and no audience the client does not trust.
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if (
        not isinstance(audiences, list)
        or not audiences
        or not all(isinstance(a, str) for a in audiences)
    ):
        raise _refuse("aud missing or malformed")
    if expected.client_id not in audiences:
        raise _refuse("aud does not contain client_id")
    # A list naming an audience twice is no token an OP means to issue: refused rather than
    # guessed at (read as a set it is one audience, as a list several).
    if len(set(audiences)) != len(audiences):
        raise _refuse("aud lists an audience twice")
    # 3, second half: any other audience must be one the client trusts; a token also meant
    # for someone else is refused, whoever that is and however like us it looks.
    if set(audiences) - {expected.client_id} - expected.trusted_audiences:
        raise _refuse("aud contains an untrusted audience")
    # 4/5. several audiences need azp; azp, when present, must be us.
    azp = claims.get("azp")
    if len(audiences) > 1 and azp is None:
        raise _refuse("several audiences without azp")
    if azp is not None and azp != expected.client_id:
        raise _refuse("azp is not client_id")

    # 9. exp in the future.
    exp = claims.get("exp")
    if not _is_number(exp):
        raise _refuse("exp missing")
    if now >= exp + leeway:
        raise _refuse("expired")

    # 10. iat neither in the future nor too old.
    iat = claims.get("iat")
    if not _is_number(iat):
        raise _refuse("iat missing")
    if iat > now + leeway:
        raise _refuse("iat in the future")
    if iat < now - expected.max_age_seconds - leeway:
        raise _refuse("iat too old")
    nbf = claims.get("nbf")
    if nbf is not None and (not _is_number(nbf) or nbf > now + leeway):
        raise _refuse("nbf in the future")

    # 11. nonce equal to the one we sent (compared in constant time).
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not hmac.compare_digest(
        nonce.encode(), expected.nonce.encode()
    ):
        raise _refuse("nonce mismatch")

    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > MAX_SUBJECT_LENGTH:
        raise _refuse("sub missing or malformed")

    # 3.1.3.8: when at_hash is present it must match the access token we received.
    at_hash = claims.get("at_hash")
    if at_hash is not None and expected.access_token is not None:
        computed = create_half_hash(expected.access_token, alg)
        if computed is None or not hmac.compare_digest(
            computed.decode() if isinstance(computed, bytes) else computed, str(at_hash)
        ):
            raise _refuse("at_hash mismatch")
