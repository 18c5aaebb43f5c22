"""Every ID token rule of OpenID Connect Core 3.1.3.7, broken one at a time by the OP: each
ends in a refused login, no redirect to the storefront and no customer."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.support.assertions import assert_refused_cleanly
from tests.support.world import CLIENT_ID, World

JSON = {"Accept": "application/json"}


def _claims(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def hook(claims: dict[str, Any]) -> dict[str, Any]:
        claims = dict(claims)
        change(claims)
        return claims

    return hook


def _set(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda claims: claims.update(values)


def _drop(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda claims: claims.pop(name, None)


CLAIM_VIOLATIONS = {
    "iss_of_another_issuer": _set(iss="https://evil.example"),
    "iss_with_trailing_slash": lambda c: c.update(iss=c["iss"] + "/"),
    "aud_of_another_client": _set(aud="another-client"),
    "aud_missing": _drop("aud"),
    "several_audiences_without_azp": _set(aud=[CLIENT_ID, "another-client"]),
    "azp_of_another_client": _set(aud=[CLIENT_ID, "another-client"], azp="another-client"),
    "aud_with_an_untrusted_audience_beside_azp": _set(
        aud=[CLIENT_ID, "someone-else"], azp=CLIENT_ID
    ),
    "aud_with_the_client_twice": _set(aud=[CLIENT_ID, CLIENT_ID], azp=CLIENT_ID),
    "aud_with_the_client_id_and_a_trailing_space": _set(aud=[CLIENT_ID + " "]),
    "aud_with_the_client_id_in_another_case": _set(aud=CLIENT_ID.upper()),
    "expired": lambda c: c.update(exp=int(time.time()) - 3600, iat=int(time.time()) - 4000),
    "exp_missing": _drop("exp"),
    "iat_in_the_future": lambda c: c.update(
        iat=int(time.time()) + 3600, exp=int(time.time()) + 7200
    ),
    "iat_too_old": lambda c: c.update(iat=int(time.time()) - 7200),
    "iat_missing": _drop("iat"),
    "nonce_of_another_login": _set(nonce="not-the-nonce-we-sent"),
    "nonce_missing": _drop("nonce"),
    "sub_missing": _drop("sub"),
    "at_hash_of_another_access_token": _set(at_hash="AAAAAAAAAAAAAAAAAAAAAA"),
}


@pytest.mark.parametrize("violation", sorted(CLAIM_VIOLATIONS))
def test_id_token_breaking_a_claim_rule_is_refused(world: World, violation: str) -> None:
    world.op.hooks.id_token_claims = _claims(CLAIM_VIOLATIONS[violation])

    outcome = world.login(headers=JSON)

    assert_refused_cleanly(world, outcome, 401, reason="id_token_invalid")
    assert outcome.refusal.json()["error"] == "not_verified"


def test_id_token_shared_with_an_audience_the_connection_trusts_is_accepted(
    world: World,
) -> None:
    world.put_connection(trusted_audiences=["reporting-api"])
    world.op.hooks.id_token_claims = _claims(_set(aud=[CLIENT_ID, "reporting-api"], azp=CLIENT_ID))
    assert world.login().landed


@pytest.mark.parametrize(
    "audience",
    ["Reporting-API", "reporting-api ", "reporting-api-2"],
    ids=["other-case", "trailing-space", "another-audience"],
)
def test_id_token_shared_with_a_look_alike_of_a_trusted_audience_is_refused(
    world: World, audience: str
) -> None:
    world.put_connection(trusted_audiences=["reporting-api"])
    world.op.hooks.id_token_claims = _claims(_set(aud=[CLIENT_ID, audience], azp=CLIENT_ID))

    outcome = world.login(headers=JSON)

    assert_refused_cleanly(world, outcome, 401, reason="id_token_invalid")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _attacker_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "key-1"}, private=True)


def test_unsigned_id_token_alg_none_is_refused(world: World) -> None:
    world.op.hooks.sign = "none"
    assert_refused_cleanly(world, world.login(), 401, reason="id_token_invalid")


def test_id_token_signed_by_another_key_under_the_ops_kid_is_refused(world: World) -> None:
    attacker = _attacker_key()
    world.op.hooks.sign = lambda header, claims: jwt.encode(header, claims, attacker)
    assert_refused_cleanly(world, world.login(), 401, reason="id_token_invalid")


def test_id_token_carrying_its_own_jwk_header_is_refused(world: World) -> None:
    attacker = RSAKey.generate_key(2048, parameters={"kid": "attacker"}, private=True)

    def sign(header: dict[str, Any], claims: dict[str, Any]) -> str:
        header = {**header, "kid": "attacker", "jwk": attacker.as_dict(private=False)}
        return jwt.encode(header, claims, attacker)

    world.op.hooks.sign = sign
    assert_refused_cleanly(world, world.login(), 401, reason="id_token_invalid")


def test_id_token_with_tampered_payload_is_refused(world: World) -> None:
    def sign(header: dict[str, Any], claims: dict[str, Any]) -> str:
        token = jwt.encode(header, claims, world.op.signing_key)
        head, _, signature = token.split(".")
        forged = _b64(json.dumps({**claims, "sub": "sub-admin"}).encode())
        return f"{head}.{forged}.{signature}"

    world.op.hooks.sign = sign
    assert_refused_cleanly(world, world.login(), 401, reason="id_token_invalid")


def test_hs256_token_keyed_with_the_ops_public_key_is_refused(world: World) -> None:
    # Key confusion: an attacker signs HS256 using the OP's public key as the HMAC secret.
    world.op.hooks.discovery = lambda d: {
        **d,
        "id_token_signing_alg_values_supported": ["RS256", "HS256"],
    }
    public_pem = world.op.signing_key.as_pem(private=False)

    def sign(header: dict[str, Any], claims: dict[str, Any]) -> str:
        # Signed by hand: JOSE libraries (rightly) refuse a public key as an HMAC secret.
        head = _b64(json.dumps({**header, "alg": "HS256"}).encode())
        body = _b64(json.dumps(claims).encode())
        mac = hmac.new(public_pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{_b64(mac)}"

    world.op.hooks.sign = sign
    world.start_adapter()  # fresh discovery cache
    world.put_connection()
    assert_refused_cleanly(world, world.login(), 401, reason="id_token_invalid")


def test_hs256_token_keyed_with_the_client_secret_is_accepted_when_the_op_advertises_it(
    world: World,
) -> None:
    world.op.hooks.discovery = lambda d: {**d, "id_token_signing_alg_values_supported": ["HS256"]}
    world.op.hooks.sign = world.op.sign_hs256(world.client_secret)
    world.start_adapter()
    world.put_connection()
    assert world.login().landed


def test_id_token_with_an_algorithm_the_op_does_not_advertise_is_refused(world: World) -> None:
    def sign(header: dict[str, Any], claims: dict[str, Any]) -> str:
        return jwt.encode(
            {**header, "alg": "RS512"}, claims, world.op.signing_key, algorithms=["RS512"]
        )

    world.op.hooks.sign = sign
    assert_refused_cleanly(world, world.login(), 401, reason="id_token_invalid")


def test_id_token_with_unknown_kid_is_refused_after_one_jwks_refresh(world: World) -> None:
    stranger = RSAKey.generate_key(2048, parameters={"kid": "stranger"}, private=True)
    world.op.hooks.sign = lambda header, claims: jwt.encode(
        {**header, "kid": "stranger"}, claims, stranger
    )
    assert_refused_cleanly(world, world.login(), 401, reason="id_token_invalid")


def test_encrypted_id_token_is_refused(world: World) -> None:
    world.op.hooks.sign = lambda header, claims: "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d"
    assert_refused_cleanly(world, world.login(), 401, reason="id_token_invalid")


def test_userinfo_for_another_subject_is_refused(world: World) -> None:
    # Without e-mail in the ID token the adapter asks userinfo, which answers for someone else.
    world.op.hooks.id_token_claims = _claims(_drop("email"))
    world.op.hooks.userinfo = lambda doc: {**doc, "sub": "sub-mallory"}
    assert_refused_cleanly(world, world.login(), 401, reason="userinfo_sub")


def test_userinfo_fills_claims_missing_from_the_id_token(world: World) -> None:
    world.op.hooks.id_token_claims = _claims(_drop("email"))
    outcome = world.login()
    assert outcome.landed
    assert [c["email"] for c in world.customers.values()] == ["ada@example.com"]


def test_callback_iss_of_another_issuer_is_refused(world: World) -> None:
    world.op.hooks.callback_params = lambda p: {**p, "iss": "https://evil.example"}
    assert_refused_cleanly(world, world.login(), 401, reason="callback_iss")


def test_callback_without_iss_is_refused_when_the_op_advertises_rfc9207(world: World) -> None:
    world.op.hooks.callback_params = lambda p: {k: v for k, v in p.items() if k != "iss"}
    assert_refused_cleanly(world, world.login(), 401, reason="callback_iss")


def test_callback_without_iss_is_accepted_when_the_op_does_not_advertise_rfc9207(
    world: World,
) -> None:
    world.op.advertise_iss_parameter = False
    assert world.login().landed


def test_op_error_access_denied_says_retrying_cannot_help(world: World) -> None:
    world.op.hooks.callback_params = lambda p: {
        "error": "access_denied",
        "error_description": "User is not assigned to the client application.\x00",
        "state": p["state"],
        "iss": p["iss"],
    }
    outcome = world.login()
    assert_refused_cleanly(world, outcome, 403, reason="idp_access_denied")
    page = outcome.refusal.text
    assert "administrator" in page and "start again" not in page.lower()
    # The IdP's own words reach the audit trail (printable characters only).
    [event] = world.events(kind="login", outcome="failure")
    assert event["details"]["detail"].endswith("User is not assigned to the client application.")
    # And the page offers the way back to the store.
    assert 'href="' + world.shop.storefront_url("acme1", 1) + '/"' in page


def test_op_error_login_required_is_refused_with_401(world: World) -> None:
    world.op.hooks.callback_params = lambda p: {
        "error": "login_required",
        "state": p["state"],
        "iss": p["iss"],
    }
    assert_refused_cleanly(world, world.login(), 401, reason="idp_refused")


def test_token_endpoint_failure_gives_502(world: World) -> None:
    world.op.hooks.token_status = 503
    assert_refused_cleanly(world, world.login(), 502, reason="idp_unreachable")


def test_token_response_without_bearer_type_gives_502(world: World) -> None:
    world.op.hooks.token_response = lambda body: {**body, "token_type": "mac"}
    assert_refused_cleanly(world, world.login(), 502, reason="idp_bad_response")


def test_discovery_naming_another_issuer_gives_502(world: World) -> None:
    world.op.hooks.discovery = lambda d: {**d, "issuer": "https://evil.example"}
    world.start_adapter()
    world.put_connection()
    outcome = world.login()
    assert outcome.start.status_code == 502
    assert world.links() == [] and world.login_states() == 0


def test_key_rotation_is_picked_up_without_a_restart(world: World) -> None:
    assert world.login().landed
    world.op.rotate_key()
    assert world.login().landed
    assert len(world.customers) == 1


def test_client_secret_post_is_used_when_the_op_supports_only_that(world: World) -> None:
    world.op.token_endpoint_auth_methods = ["client_secret_post"]
    world.start_adapter()
    world.put_connection()
    assert world.login().landed
    last = world.op.token_requests[-1]
    assert last["form"]["client_secret"] == world.client_secret and not last["authorization"]


def test_pkce_verifier_and_redirect_uri_reach_the_token_endpoint(world: World) -> None:
    assert world.login().landed
    form = world.op.token_requests[-1]["form"]
    assert 43 <= len(form["code_verifier"]) <= 128
    assert form["redirect_uri"] == f"{world.url}/sso/acme/okta/oidc/callback"


def test_repeated_callback_parameters_are_refused(world: World) -> None:
    world.op.hooks.callback_params = lambda p: p  # unchanged; the repetition is added below
    browser = world.browser()
    start = browser.get(f"{world.url}/sso/acme/okta/login")
    callback = browser.get(start.headers["location"]).headers["location"]
    answer = browser.get(callback + "&iss=https%3A%2F%2Fevil.example")
    assert answer.status_code == 400
    assert world.links() == [] and world.customers == {}


def test_op_that_does_not_support_pkce_s256_is_not_used(world: World) -> None:
    world.op.hooks.discovery = lambda d: {**d, "code_challenge_methods_supported": ["plain"]}
    world.start_adapter()
    world.put_connection()
    assert world.login().start.status_code == 502
    assert world.login_states() == 0


def test_email_verified_from_the_id_token_does_not_vouch_for_a_userinfo_email(
    world: World,
) -> None:
    # The ID token says "verified" but carries no address; userinfo gives an unverified one.
    world.op.hooks.id_token_claims = _claims(_drop("email"))
    world.op.hooks.userinfo = lambda doc: {**doc, "email_verified": False}
    outcome = world.login()
    assert outcome.refusal.status_code == 403
    assert world.customers == {}
