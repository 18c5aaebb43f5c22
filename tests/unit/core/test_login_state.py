"""A login in flight is stored in one shape, read back as the record it was, and read from the
shape the previous release wrote (logins in flight during a rolling upgrade)."""

from __future__ import annotations

import json

import pytest

from adapter.core import login_state
from adapter.core.identity import Identity
from adapter.core.login_state import (
    InFlight,
    LinkInProgress,
    OidcAuthorization,
    SamlAsserted,
    SamlAuthnRequest,
    UnreadableLoginState,
)

ADA = Identity(
    issuer="https://idp.example.com",
    subject="https://idp.example.com!ada-0001",
    email="ada@example.com",
    email_verified=False,
    first_name="Ada",
    last_name="Lovelace",
    groups=("buyers", "admins"),
)
LINK = LinkInProgress(customer_id=41, email="ada@shop.example")
IDENTITY_AS_STORED = {
    "issuer": "https://idp.example.com",
    "subject": "https://idp.example.com!ada-0001",
    "email": "ada@example.com",
    "email_verified": False,
    "first_name": "Ada",
    "last_name": "Lovelace",
    "groups": ["buyers", "admins"],
}

FLIGHTS = [
    OidcAuthorization(nonce="n-1", code_verifier="v-1"),
    OidcAuthorization(nonce="n-1", code_verifier="v-1", link=LINK),
    SamlAuthnRequest(request_id="id-abc"),
    SamlAuthnRequest(request_id="id-abc", link=LinkInProgress(customer_id=7, email=None)),
    SamlAsserted(identity=ADA),
    SamlAsserted(identity=ADA, link=LINK),
]


@pytest.mark.parametrize("flight", FLIGHTS, ids=repr)
def test_every_login_in_flight_reads_back_as_the_record_it_was(flight: InFlight) -> None:
    stored = json.loads(json.dumps(login_state.dump(flight)))
    assert login_state.read(stored) == flight


def test_a_parked_identity_keeps_every_normalised_field_but_not_the_raw_claims() -> None:
    with_claims = Identity(**{**vars(ADA), "claims": {"name_id": "ada-0001"}})
    stored = json.loads(json.dumps(login_state.dump(SamlAsserted(identity=with_claims))))
    back = login_state.read(stored)
    assert isinstance(back, SamlAsserted)
    assert back.identity == ADA and back.identity.groups == ("buyers", "admins")
    assert back.identity.claims == {}


# What the previous release wrote: flat dictionaries, no tag.
PREVIOUS_RELEASE = [
    ({"nonce": "n-1", "code_verifier": "v-1"}, FLIGHTS[0]),
    (
        {
            "nonce": "n-1",
            "code_verifier": "v-1",
            "link_customer_id": 41,
            "link_customer_email": "ada@shop.example",
        },
        FLIGHTS[1],
    ),
    ({"saml_request_id": "id-abc"}, FLIGHTS[2]),
    (
        {"saml_request_id": "id-abc", "link_customer_id": 7, "link_customer_email": None},
        FLIGHTS[3],
    ),
    ({"identity": IDENTITY_AS_STORED}, FLIGHTS[4]),
    (
        {
            "identity": IDENTITY_AS_STORED,
            "link_customer_id": 41,
            "link_customer_email": "ada@shop.example",
        },
        FLIGHTS[5],
    ),
]


@pytest.mark.parametrize(("stored", "flight"), PREVIOUS_RELEASE, ids=repr)
def test_a_login_the_previous_release_kept_in_flight_reads_as_its_record(
    stored: dict[str, object], flight: InFlight
) -> None:
    assert login_state.read(stored) == flight


@pytest.mark.parametrize(("stored", "flight"), PREVIOUS_RELEASE, ids=repr)
def test_what_is_stored_now_still_has_every_key_the_previous_release_reads(
    stored: dict[str, object], flight: InFlight
) -> None:
    # A login started here may finish on a replica not yet upgraded.
    written = login_state.dump(flight)
    assert {k: v for k, v in written.items() if k != "kind"} == stored


@pytest.mark.parametrize(
    "stored",
    [
        {},
        {"kind": "carrier-pigeon", "nonce": "n"},
        {"kind": "oidc", "nonce": "n-1"},
        {"identity": {"issuer": "https://idp.example.com"}},
        {"saml_request_id": "id-abc", "link_customer_id": "forty-one"},
    ],
    ids=repr,
)
def test_a_state_in_no_known_shape_is_unreadable(stored: dict[str, object]) -> None:
    with pytest.raises(UnreadableLoginState):
        login_state.read(stored)
