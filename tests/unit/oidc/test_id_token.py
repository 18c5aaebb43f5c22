"""ID token validation (OpenID Connect Core 1.0, 3.1.3.7), one rule at a time.

Every token here is really signed, with keys generated for this module; each refusal test
breaks exactly one rule of an otherwise valid token and checks the rule named in `detail`.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
from joserfc import jwe, jwt
from joserfc.jwk import ECKey, Key, OctKey, OKPKey, RSAKey
from joserfc.jws import JWSRegistry

from adapter.clock import FrozenClock
from adapter.errors import NotVerified
from adapter.oidc.id_token import (
    MAX_SUBJECT_LENGTH,
    IdTokenExpectations,
    check_claims,
    read_header,
    verify_id_token,
)

NOW = 1_700_000_000
LEEWAY = 60
MAX_AGE = 600
ISSUER = "https://op.example"
CLIENT_ID = "storefront-client"
NONCE = "n-0S6_WzA2Mj"
CLIENT_SECRET = "a-client-secret-long-enough-for-hs256"
ACCESS_TOKEN = "SlAV32hkKG-access-token"
ENTRA_TEMPLATE = "https://login.microsoftonline.com/{tenantid}/v2.0"
TENANT_A = "11111111-1111-1111-1111-111111111111"
TENANT_B = "22222222-2222-2222-2222-222222222222"
ALGORITHMS = frozenset({"RS256", "ES256", "HS256", "EdDSA"})


@pytest.fixture(scope="module")
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})


@pytest.fixture(scope="module")
def other_rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})


@pytest.fixture(scope="module")
def ec_key() -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": "ec-1"})


@pytest.fixture(scope="module")
def rsa_public(rsa_key: RSAKey) -> RSAKey:
    # What the relying party really holds: the public half, as published in the JWKS.
    return RSAKey.import_key(rsa_key.as_dict(private=False))


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    yield FrozenClock(NOW)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def half_hash(value: str, hash_name: str = "sha256") -> str:
    digest = hashlib.new(hash_name, value.encode()).digest()
    return _b64(digest[: len(digest) // 2])


def make_claims(**changes: Any) -> dict[str, Any]:
    """Valid claims; a change to None removes the claim."""
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-248289761001",
        "aud": CLIENT_ID,
        "exp": NOW + 300,
        "iat": NOW - 5,
        "nonce": NONCE,
        "email": "jane@example.com",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def expect(**changes: Any) -> IdTokenExpectations:
    base = IdTokenExpectations(
        issuer=ISSUER,
        client_id=CLIENT_ID,
        nonce=NONCE,
        algorithms=ALGORITHMS,
        leeway_seconds=LEEWAY,
        max_age_seconds=MAX_AGE,
    )
    return dataclasses.replace(base, **changes)


def sign(key: Key, claims: dict[str, Any], alg: str = "RS256", **header: Any) -> str:
    return jwt.encode({"alg": alg, **header}, claims, key, algorithms=[alg])


def sign_raw(key: Key, header: dict[str, Any], payload: bytes) -> str:
    """Sign exactly these bytes, for headers and payloads a careful library would not emit."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(payload)}"
    signature = JWSRegistry.algorithms[header["alg"]].sign(signing_input.encode(), key)
    return f"{signing_input}.{_b64(signature)}"


# --- accepted tokens -------------------------------------------------------------------------


def test_rs256_id_token_verified_with_the_published_public_key_gives_its_claims(
    rsa_key: RSAKey, rsa_public: RSAKey, clock: FrozenClock
) -> None:
    token = sign(rsa_key, make_claims(), kid="rsa-1")
    assert verify_id_token(token, rsa_public, expect(), clock) == make_claims()


def test_es256_id_token_gives_its_claims(ec_key: ECKey, clock: FrozenClock) -> None:
    public = ECKey.import_key(ec_key.as_dict(private=False))
    token = sign(ec_key, make_claims(), alg="ES256")
    assert verify_id_token(token, public, expect(), clock)["sub"] == "user-248289761001"


def test_hs256_id_token_signed_with_the_client_secret_is_accepted(clock: FrozenClock) -> None:
    secret = OctKey.import_key(CLIENT_SECRET.encode())
    token = sign(secret, make_claims(), alg="HS256")
    assert verify_id_token(token, secret, expect(), clock)["iss"] == ISSUER


def test_several_audiences_all_trusted_with_azp_naming_the_client_are_accepted(
    rsa_key: RSAKey, clock: FrozenClock
) -> None:
    claims = make_claims(aud=[CLIENT_ID, "another-api"], azp=CLIENT_ID)
    trusting = expect(trusted_audiences=frozenset({"another-api"}))
    assert verify_id_token(sign(rsa_key, claims), rsa_key, trusting, clock)["azp"] == CLIENT_ID


def test_id_token_expired_within_the_leeway_is_accepted(
    rsa_key: RSAKey, clock: FrozenClock
) -> None:
    token = sign(rsa_key, make_claims(exp=NOW - LEEWAY + 1, iat=NOW - 100))
    assert verify_id_token(token, rsa_key, expect(), clock)


def test_iat_and_nbf_slightly_in_the_future_within_the_leeway_are_accepted(
    rsa_key: RSAKey, clock: FrozenClock
) -> None:
    token = sign(rsa_key, make_claims(iat=NOW + LEEWAY, nbf=NOW + LEEWAY))
    assert verify_id_token(token, rsa_key, expect(), clock)


def test_iat_at_the_oldest_allowed_age_is_accepted(rsa_key: RSAKey, clock: FrozenClock) -> None:
    token = sign(rsa_key, make_claims(iat=NOW - MAX_AGE - LEEWAY))
    assert verify_id_token(token, rsa_key, expect(), clock)


def test_subject_of_the_maximum_length_is_accepted(rsa_key: RSAKey, clock: FrozenClock) -> None:
    sub = "s" * MAX_SUBJECT_LENGTH
    token = sign(rsa_key, make_claims(sub=sub))
    assert verify_id_token(token, rsa_key, expect(), clock)["sub"] == sub


def test_matching_at_hash_is_accepted(rsa_key: RSAKey, clock: FrozenClock) -> None:
    token = sign(rsa_key, make_claims(at_hash=half_hash(ACCESS_TOKEN)))
    assert verify_id_token(token, rsa_key, expect(access_token=ACCESS_TOKEN), clock)


# --- refused claims: one rule each -----------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"iss": "https://evil.example"}, "iss mismatch"),
        ({"iss": ISSUER + "/"}, "iss mismatch"),
        ({"iss": None}, "iss mismatch"),
        ({"aud": None}, "aud missing or malformed"),
        ({"aud": []}, "aud missing or malformed"),
        ({"aud": [CLIENT_ID, 7]}, "aud missing or malformed"),
        ({"aud": "another-client"}, "aud does not contain client_id"),
        ({"aud": ["another-client", "third"], "azp": CLIENT_ID}, "aud does not contain client_id"),
        ({"azp": "another-client"}, "azp is not client_id"),
        ({"exp": None}, "exp missing"),
        ({"exp": str(NOW + 300)}, "exp missing"),
        ({"exp": True}, "exp missing"),
        ({"exp": NOW - LEEWAY, "iat": NOW - 100}, "expired"),
        ({"exp": NOW - 3600, "iat": NOW - 3700}, "expired"),
        ({"iat": None}, "iat missing"),
        ({"iat": NOW + LEEWAY + 1}, "iat in the future"),
        ({"iat": NOW - MAX_AGE - LEEWAY - 1}, "iat too old"),
        ({"nbf": NOW + LEEWAY + 1}, "nbf in the future"),
        ({"nbf": "soon"}, "nbf in the future"),
        ({"nonce": "another-nonce"}, "nonce mismatch"),
        ({"nonce": None}, "nonce mismatch"),
        ({"nonce": NONCE + "x"}, "nonce mismatch"),
        ({"sub": None}, "sub missing or malformed"),
        ({"sub": ""}, "sub missing or malformed"),
        ({"sub": 248289761001}, "sub missing or malformed"),
        ({"sub": "s" * (MAX_SUBJECT_LENGTH + 1)}, "sub missing or malformed"),
    ],
    ids=[
        "iss-other-origin",
        "iss-trailing-slash",
        "iss-missing",
        "aud-missing",
        "aud-empty-list",
        "aud-not-strings",
        "aud-other-client",
        "aud-list-without-client",
        "azp-other-client",
        "exp-missing",
        "exp-string",
        "exp-boolean",
        "expired-at-leeway-boundary",
        "expired-long-ago",
        "iat-missing",
        "iat-future-beyond-leeway",
        "iat-too-old",
        "nbf-future-beyond-leeway",
        "nbf-not-a-number",
        "nonce-mismatch",
        "nonce-missing",
        "nonce-prefix-only",
        "sub-missing",
        "sub-empty",
        "sub-not-a-string",
        "sub-too-long",
    ],
)
def test_id_token_breaking_one_rule_is_refused(
    rsa_key: RSAKey, clock: FrozenClock, changes: dict[str, Any], rule: str
) -> None:
    token = sign(rsa_key, make_claims(**changes))
    with pytest.raises(NotVerified, match=rule) as refused:
        verify_id_token(token, rsa_key, expect(), clock)
    assert refused.value.code == "id_token_invalid"
    assert refused.value.status == 401


# --- audiences: 3.1.3.7 steps 3 to 5 ----------------------------------------------------------

TRUSTED = "reporting-api"


def trusting(*audiences: str) -> IdTokenExpectations:
    return expect(trusted_audiences=frozenset(audiences or {TRUSTED}))


@pytest.mark.parametrize(
    "aud",
    [CLIENT_ID, [CLIENT_ID], [CLIENT_ID, TRUSTED], [TRUSTED, CLIENT_ID]],
    ids=["string", "list-of-one", "with-trusted", "trusted-first"],
)
def test_audiences_that_are_us_or_trusted_are_accepted(
    rsa_key: RSAKey, clock: FrozenClock, aud: str | list[str]
) -> None:
    token = sign(rsa_key, make_claims(aud=aud, azp=CLIENT_ID))
    assert verify_id_token(token, rsa_key, trusting(), clock)["aud"] == aud


def test_id_token_also_meant_for_an_untrusted_audience_is_refused_even_with_azp(
    rsa_key: RSAKey, clock: FrozenClock
) -> None:
    token = sign(rsa_key, make_claims(aud=[CLIENT_ID, "someone-else"], azp=CLIENT_ID))
    with pytest.raises(NotVerified, match="aud contains an untrusted audience"):
        verify_id_token(token, rsa_key, expect(), clock)


def test_no_audience_is_trusted_besides_the_client_unless_configured(clock: FrozenClock) -> None:
    assert expect().trusted_audiences == frozenset()
    claims = make_claims(aud=[CLIENT_ID, TRUSTED], azp=CLIENT_ID)
    with pytest.raises(NotVerified, match="aud contains an untrusted audience"):
        check_claims(claims, "RS256", expect(), clock)
    check_claims(claims, "RS256", trusting(), clock)


@pytest.mark.parametrize(
    ("aud", "rule"),
    [
        ([CLIENT_ID, TRUSTED, "someone-else"], "aud contains an untrusted audience"),
        ([CLIENT_ID, TRUSTED.upper()], "aud contains an untrusted audience"),
        ([CLIENT_ID, TRUSTED + " "], "aud contains an untrusted audience"),
        ([CLIENT_ID, " " + TRUSTED], "aud contains an untrusted audience"),
        ([CLIENT_ID, TRUSTED + "\u200b"], "aud contains an untrusted audience"),
        ([CLIENT_ID, CLIENT_ID + " "], "aud contains an untrusted audience"),
        ([CLIENT_ID, CLIENT_ID.upper()], "aud contains an untrusted audience"),
        ([CLIENT_ID + " "], "aud does not contain client_id"),
        (CLIENT_ID + " ", "aud does not contain client_id"),
        (CLIENT_ID.upper(), "aud does not contain client_id"),
        ("\uff53" + CLIENT_ID[1:], "aud does not contain client_id"),  # fullwidth s
        ([TRUSTED], "aud does not contain client_id"),
        ([CLIENT_ID, CLIENT_ID], "aud lists an audience twice"),
        ([CLIENT_ID, TRUSTED, TRUSTED], "aud lists an audience twice"),
    ],
    ids=[
        "trusted-plus-untrusted",
        "trusted-in-other-case",
        "trusted-with-trailing-space",
        "trusted-with-leading-space",
        "trusted-with-zero-width-space",
        "client-id-with-trailing-space-beside-client-id",
        "client-id-in-other-case-beside-client-id",
        "only-client-id-with-trailing-space-in-list",
        "only-client-id-with-trailing-space",
        "only-client-id-in-other-case",
        "only-client-id-fullwidth-look-alike",
        "only-a-trusted-audience",
        "client-id-twice",
        "trusted-twice",
    ],
)
def test_audience_look_alikes_duplicates_and_mismatches_are_refused(
    rsa_key: RSAKey, clock: FrozenClock, aud: str | list[str], rule: str
) -> None:
    token = sign(rsa_key, make_claims(aud=aud, azp=CLIENT_ID))
    with pytest.raises(NotVerified, match=rule):
        verify_id_token(token, rsa_key, trusting(), clock)


def test_client_id_twice_without_azp_is_refused(rsa_key: RSAKey, clock: FrozenClock) -> None:
    token = sign(rsa_key, make_claims(aud=[CLIENT_ID, CLIENT_ID]))
    with pytest.raises(NotVerified, match="aud lists an audience twice"):
        verify_id_token(token, rsa_key, expect(), clock)


def test_several_trusted_audiences_still_need_azp(rsa_key: RSAKey, clock: FrozenClock) -> None:
    token = sign(rsa_key, make_claims(aud=[CLIENT_ID, TRUSTED]))
    with pytest.raises(NotVerified, match="several audiences without azp"):
        verify_id_token(token, rsa_key, trusting(), clock)


def test_azp_naming_a_trusted_audience_is_refused(rsa_key: RSAKey, clock: FrozenClock) -> None:
    token = sign(rsa_key, make_claims(aud=[CLIENT_ID, TRUSTED], azp=TRUSTED))
    with pytest.raises(NotVerified, match="azp is not client_id"):
        verify_id_token(token, rsa_key, trusting(), clock)


def test_id_token_expires_once_the_clock_passes_exp_plus_leeway(
    rsa_key: RSAKey, clock: FrozenClock
) -> None:
    token = sign(rsa_key, make_claims(exp=NOW + 10))
    assert verify_id_token(token, rsa_key, expect(max_age_seconds=3600), clock)
    clock.advance(10 + LEEWAY)
    with pytest.raises(NotVerified, match="expired"):
        verify_id_token(token, rsa_key, expect(max_age_seconds=3600), clock)


def test_at_hash_not_matching_the_access_token_is_refused(
    rsa_key: RSAKey, clock: FrozenClock
) -> None:
    token = sign(rsa_key, make_claims(at_hash=half_hash("another-access-token")))
    with pytest.raises(NotVerified, match="at_hash mismatch"):
        verify_id_token(token, rsa_key, expect(access_token=ACCESS_TOKEN), clock)


def test_at_hash_computed_with_the_wrong_hash_is_refused(ec_key: ECKey, clock: FrozenClock) -> None:
    # ES256 binds at_hash to SHA-256; a SHA-512 half hash is not the same value.
    token = sign(ec_key, make_claims(at_hash=half_hash(ACCESS_TOKEN, "sha512")), alg="ES256")
    with pytest.raises(NotVerified, match="at_hash mismatch"):
        verify_id_token(token, ec_key, expect(access_token=ACCESS_TOKEN), clock)


def test_check_claims_refuses_wrong_issuer_without_a_signature_step(clock: FrozenClock) -> None:
    with pytest.raises(NotVerified, match="iss mismatch"):
        check_claims(make_claims(iss="https://evil.example"), "RS256", expect(), clock)


@pytest.mark.parametrize("exp", ["NaN", "Infinity"])
def test_non_finite_exp_is_refused(rsa_key: RSAKey, clock: FrozenClock, exp: str) -> None:
    # Python's json (used by joserfc) reads NaN and Infinity; no comparison with NaN is true.
    payload = json.dumps(make_claims()).replace(str(NOW + 300), exp).encode()
    token = sign_raw(rsa_key, {"alg": "RS256"}, payload)
    with pytest.raises(NotVerified):
        verify_id_token(token, rsa_key, expect(), clock)


@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
def test_eddsa_id_token_with_correct_at_hash_is_accepted(clock: FrozenClock) -> None:
    key = OKPKey.generate_key("Ed25519")
    # OpenID connect issue #1125: EdDSA with Ed25519 hashes with SHA-512.
    token = sign(key, make_claims(at_hash=half_hash(ACCESS_TOKEN, "sha512")), alg="EdDSA")
    assert verify_id_token(token, key, expect(access_token=ACCESS_TOKEN), clock)


# --- Entra ID multi-tenant issuers ------------------------------------------------------------


def entra(**changes: Any) -> IdTokenExpectations:
    return expect(issuer=ENTRA_TEMPLATE, allowed_tenants=frozenset({TENANT_A, TENANT_B}), **changes)


def entra_issuer(tid: str) -> str:
    return f"https://login.microsoftonline.com/{tid}/v2.0"


def test_entra_token_from_an_allowed_tenant_with_its_own_issuer_is_accepted(
    rsa_key: RSAKey, clock: FrozenClock
) -> None:
    token = sign(rsa_key, make_claims(iss=entra_issuer(TENANT_B), tid=TENANT_B))
    assert verify_id_token(token, rsa_key, entra(), clock)["tid"] == TENANT_B


@pytest.mark.parametrize(
    "tid",
    ["33333333-3333-3333-3333-333333333333", None, ""],
    ids=["unlisted-tenant", "no-tid", "empty-tid"],
)
def test_entra_token_from_a_tenant_not_allowed_is_refused(
    rsa_key: RSAKey, clock: FrozenClock, tid: str | None
) -> None:
    token = sign(rsa_key, make_claims(iss=entra_issuer(tid or "common"), tid=tid))
    with pytest.raises(NotVerified, match="tid not in allowed_tenants"):
        verify_id_token(token, rsa_key, entra(), clock)


@pytest.mark.parametrize(
    "iss",
    [entra_issuer(TENANT_B), ENTRA_TEMPLATE, entra_issuer("common")],
    ids=["another-allowed-tenant", "unfilled-template", "common-endpoint"],
)
def test_entra_token_whose_issuer_is_not_the_template_filled_with_its_tid_is_refused(
    rsa_key: RSAKey, clock: FrozenClock, iss: str
) -> None:
    token = sign(rsa_key, make_claims(iss=iss, tid=TENANT_A))
    with pytest.raises(NotVerified, match="iss mismatch"):
        verify_id_token(token, rsa_key, entra(), clock)


# --- header and signature -------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_unsigned_token_with_alg_none_is_refused(
    rsa_key: RSAKey, clock: FrozenClock, alg: str
) -> None:
    token = f"{_b64(json.dumps({'alg': alg}).encode())}.{_b64(json.dumps(make_claims()).encode())}."
    with pytest.raises(NotVerified, match="alg none"):
        read_header(token, ALGORITHMS | {alg})
    with pytest.raises(NotVerified, match="alg none"):
        verify_id_token(token, rsa_key, expect(algorithms=ALGORITHMS | {alg}), clock)


def test_token_signed_with_an_algorithm_the_op_does_not_advertise_is_refused(
    rsa_key: RSAKey, clock: FrozenClock
) -> None:
    token = sign(rsa_key, make_claims(), alg="RS512")
    with pytest.raises(NotVerified, match="alg RS512 not allowed"):
        verify_id_token(token, rsa_key, expect(algorithms=frozenset({"RS256"})), clock)


def test_encrypted_five_part_token_is_refused(rsa_key: RSAKey, clock: FrozenClock) -> None:
    token = jwe.encrypt_compact(
        {"alg": "RSA-OAEP-256", "enc": "A256GCM"},
        json.dumps(make_claims()),
        rsa_key,
        algorithms=["RSA-OAEP-256", "A256GCM"],
    )
    assert token.count(".") == 4
    with pytest.raises(NotVerified, match="not a compact JWS"):
        verify_id_token(token, rsa_key, expect(), clock)


def test_token_with_a_crit_header_is_refused(rsa_key: RSAKey) -> None:
    header = {"alg": "RS256", "crit": ["https://example.com/ext"], "https://example.com/ext": 1}
    token = sign_raw(rsa_key, header, json.dumps(make_claims()).encode())
    with pytest.raises(NotVerified, match="crit header present"):
        read_header(token, ALGORITHMS)


@pytest.mark.parametrize(
    "token",
    ["", "not-a-token", "a.b", "a.b.c.d", "!!!.e30.", "e30.e30.e30"],
    ids=["empty", "one-part", "two-parts", "four-parts", "bad-base64", "header-without-alg"],
)
def test_malformed_token_is_refused_before_any_key_is_chosen(token: str) -> None:
    with pytest.raises(NotVerified):
        read_header(token, ALGORITHMS)


def test_kid_that_is_not_a_string_is_refused(rsa_key: RSAKey) -> None:
    token = sign_raw(rsa_key, {"alg": "RS256", "kid": 7}, json.dumps(make_claims()).encode())
    with pytest.raises(NotVerified, match="kid not a string"):
        read_header(token, ALGORITHMS)


def test_read_header_gives_alg_and_kid(rsa_key: RSAKey) -> None:
    header = read_header(sign(rsa_key, make_claims(), kid="rsa-1"), ALGORITHMS)
    assert header["alg"] == "RS256"
    assert header["kid"] == "rsa-1"


def test_token_signed_by_another_key_is_refused(
    rsa_key: RSAKey, other_rsa_key: RSAKey, clock: FrozenClock
) -> None:
    # Same kid, different key: what a forger publishing a look-alike JWKS would produce.
    token = sign(other_rsa_key, make_claims(), kid="rsa-1")
    with pytest.raises(NotVerified, match="signature"):
        verify_id_token(token, rsa_key, expect(), clock)


def test_payload_changed_after_signing_is_refused(rsa_key: RSAKey, clock: FrozenClock) -> None:
    header, _, signature = sign(rsa_key, make_claims()).split(".")
    forged = _b64(json.dumps(make_claims(sub="admin")).encode())
    with pytest.raises(NotVerified, match="signature"):
        verify_id_token(f"{header}.{forged}.{signature}", rsa_key, expect(), clock)


def test_hs256_token_verified_with_an_rsa_public_key_is_refused(
    rsa_public: RSAKey, clock: FrozenClock
) -> None:
    # Algorithm confusion: the public key, known to everyone, used as an HMAC secret.
    # joserfc will not even build such a key, so the forger's HMAC is computed by hand.
    pem = rsa_public.as_pem(private=False)
    header = _b64(json.dumps({"alg": "HS256"}).encode())
    signing_input = f"{header}.{_b64(json.dumps(make_claims()).encode())}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{_b64(mac)}"
    with pytest.raises(NotVerified, match="signature"):
        verify_id_token(token, rsa_public, expect(), clock)


def test_rs256_token_verified_with_an_ec_key_is_refused(
    rsa_key: RSAKey, ec_key: ECKey, clock: FrozenClock
) -> None:
    with pytest.raises(NotVerified, match="signature"):
        verify_id_token(sign(rsa_key, make_claims()), ec_key, expect(), clock)


def test_signed_payload_that_is_not_a_claims_object_is_refused(
    rsa_key: RSAKey, clock: FrozenClock
) -> None:
    token = sign_raw(rsa_key, {"alg": "RS256"}, b'["not", "claims"]')
    with pytest.raises(NotVerified):
        verify_id_token(token, rsa_key, expect(), clock)
