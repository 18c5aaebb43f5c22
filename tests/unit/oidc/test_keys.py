"""Choosing the verification key: only the OP's JWKS, or the client secret for HMAC."""

from __future__ import annotations

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey, RSAKey

from adapter.clock import FrozenClock
from adapter.errors import NotVerified
from adapter.oidc.id_token import IdTokenExpectations, read_header, verify_id_token
from adapter.oidc.keys import UnknownKeyId, select_key

NOW = 1_700_000_000
CLIENT_SECRET = "a-client-secret-long-enough-for-hs256"
ALGORITHMS = frozenset({"RS256", "ES256", "HS256"})


def public(key: RSAKey | ECKey, **params: str) -> RSAKey | ECKey:
    """The public half of `key`, as an OP publishes it, with extra JWK parameters."""
    data = {**key.as_dict(private=False), **params}
    return type(key).import_key(data)


@pytest.fixture(scope="module")
def rsa_a() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "a"})


@pytest.fixture(scope="module")
def rsa_b() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "b"})


@pytest.fixture(scope="module")
def ec_e() -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": "e"})


@pytest.fixture(scope="module")
def jwks(rsa_a: RSAKey, rsa_b: RSAKey, ec_e: ECKey) -> KeySet:
    return KeySet([public(rsa_a, use="sig"), public(rsa_b), public(ec_e, alg="ES256")])


def test_key_named_by_kid_is_chosen(jwks: KeySet, rsa_b: RSAKey) -> None:
    key = select_key({"alg": "RS256", "kid": "b"}, jwks, None)
    assert key.thumbprint() == rsa_b.thumbprint()


def test_ec_key_named_by_kid_is_chosen_for_es256(jwks: KeySet, ec_e: ECKey) -> None:
    key = select_key({"alg": "ES256", "kid": "e"}, jwks, None)
    assert key.thumbprint() == ec_e.thumbprint()


def test_unknown_kid_asks_for_a_jwks_refresh(jwks: KeySet) -> None:
    with pytest.raises(UnknownKeyId, match="rotated-away"):
        select_key({"alg": "RS256", "kid": "rotated-away"}, jwks, None)


@pytest.mark.parametrize(
    ("alg", "kid"),
    [("ES256", "a"), ("RS256", "e"), ("PS256", "e"), ("EdDSA", "a")],
    ids=["rsa-key-for-es256", "ec-key-for-rs256", "ec-key-for-ps256", "rsa-key-for-eddsa"],
)
def test_key_of_the_wrong_type_for_the_alg_is_refused(jwks: KeySet, alg: str, kid: str) -> None:
    with pytest.raises(NotVerified, match="kid does not name one usable key"):
        select_key({"alg": alg, "kid": kid}, jwks, None)


def test_key_published_for_another_alg_is_refused(rsa_a: RSAKey) -> None:
    keys = KeySet([public(rsa_a, alg="RS512")])
    with pytest.raises(NotVerified):
        select_key({"alg": "RS256", "kid": "a"}, keys, None)


def test_encryption_key_is_never_used_to_verify(rsa_a: RSAKey) -> None:
    keys = KeySet([public(rsa_a, use="enc")])
    with pytest.raises(NotVerified, match="kid does not name one usable key"):
        select_key({"alg": "RS256", "kid": "a"}, keys, None)
    with pytest.raises(NotVerified, match="no kid"):
        select_key({"alg": "RS256"}, keys, None)


def test_without_kid_the_only_usable_key_is_chosen(rsa_a: RSAKey, ec_e: ECKey) -> None:
    # The EC key does not fit RS256, so the set is unambiguous for that alg.
    keys = KeySet([public(rsa_a), public(ec_e)])
    assert select_key({"alg": "RS256"}, keys, None).thumbprint() == rsa_a.thumbprint()


def test_without_kid_two_usable_keys_are_refused(jwks: KeySet) -> None:
    with pytest.raises(NotVerified, match="no kid and not exactly one usable key"):
        select_key({"alg": "RS256"}, jwks, None)


def test_without_kid_an_empty_key_set_is_refused() -> None:
    with pytest.raises(NotVerified):
        select_key({"alg": "RS256"}, KeySet([]), None)


def test_hmac_alg_uses_the_client_secret_and_never_the_jwks(jwks: KeySet) -> None:
    # Even with a kid naming a JWKS key: a public key must never become an HMAC secret.
    key = select_key({"alg": "HS256", "kid": "a"}, jwks, CLIENT_SECRET)
    assert isinstance(key, OctKey)
    assert key.raw_value == CLIENT_SECRET.encode()


@pytest.mark.parametrize("secret", [None, ""], ids=["no-secret", "empty-secret"])
def test_hmac_alg_without_a_client_secret_is_refused(jwks: KeySet, secret: str | None) -> None:
    with pytest.raises(NotVerified, match="HMAC alg without a client secret"):
        select_key({"alg": "HS256"}, jwks, secret)


def test_hs256_token_signed_with_the_client_secret_verifies_with_the_chosen_key(
    jwks: KeySet,
) -> None:
    claims = {
        "iss": "https://op.example",
        "aud": "client",
        "sub": "u1",
        "nonce": "n",
        "iat": NOW,
        "exp": NOW + 60,
    }
    token = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(CLIENT_SECRET.encode()))
    header = read_header(token, ALGORITHMS)
    expected = IdTokenExpectations(
        issuer="https://op.example",
        client_id="client",
        nonce="n",
        algorithms=ALGORITHMS,
        leeway_seconds=0,
    )
    key = select_key(header, jwks, CLIENT_SECRET)
    assert verify_id_token(token, key, expected, FrozenClock(NOW))["sub"] == "u1"


def test_key_embedded_in_the_token_header_is_never_used(jwks: KeySet) -> None:
    # A forger signs with their own key and ships it in the `jwk` header (CVE-2018-0114 style).
    # An EC key keeps the header under joserfc's header size limit.
    forger = ECKey.generate_key("P-256", parameters={"kid": "forger"})
    claims = {"iss": "https://op.example", "aud": "client", "sub": "admin"}
    forged_jwk = forger.as_dict(private=False)
    with_kid = jwt.encode({"alg": "ES256", "kid": "forger", "jwk": forged_jwk}, claims, forger)
    header = read_header(with_kid, ALGORITHMS)
    assert header["jwk"] == forged_jwk
    with pytest.raises(UnknownKeyId):
        select_key(header, jwks, None)

    # Without a kid, the only ES256 key of the OP is chosen, never the embedded one.
    without_kid = jwt.encode({"alg": "ES256", "jwk": forged_jwk}, claims, forger)
    chosen = select_key(read_header(without_kid, ALGORITHMS), jwks, None)
    assert chosen.kid == "e"
    assert chosen.thumbprint() != forger.thumbprint()
