"""The frozen policy a connection body becomes (adapter.services.configuration).

Every field of a body but its secret must survive the conversion: the login reads the policy,
and `apply` detects a changed connection by comparing policies, so a field left out would be
both ignored and invisible to `apply`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from adapter.core.policy import GroupRule, OidcPolicy, SamlPolicy
from adapter.schemas import ANSWERED_FIELDS, OidcConnectionBody, SamlConnectionBody
from adapter.services.configuration import policy_from_body, policy_from_stored

OIDC = OidcConnectionBody(
    protocol="oidc",
    issuer="https://op.example",
    client_id="client",
    client_secret="s3cret",  # type: ignore[arg-type]
    channel_ids=[1, 2],
    create_customers=False,
    link_by_email=True,
    customer_group_id=4,
    group_mappings=[{"group": "staff", "customer_group_id": 6}],  # type: ignore[list-item]
    profile_sync="every_login",
    add_channel_to_customer=True,
    email_verified=True,
    scopes=["openid", "email"],
    subject_claim="oid",
    allowed_tenants=["t1"],
    groups_claim="groups",
    trusted_audiences=["api://other"],
)
SAML = SamlConnectionBody(
    protocol="saml",
    idp_metadata_url="https://idp.example/metadata",
    channel_ids=[1],
    subject_attribute="uid",
    email_attribute="mail",
    first_name_attribute="givenName",
    last_name_attribute="sn",
    allow_idp_initiated=True,
    sign_requests=True,
    allow_sha1=True,
    groups_attribute="memberOf",
    group_mappings=[{"group": "cn=buyers", "customer_group_id": 9}],  # type: ignore[list-item]
)


def _as_plain(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_as_plain(v) for v in value]
    if isinstance(value, GroupRule):
        return dataclasses.asdict(value)
    return value


@pytest.mark.parametrize("body", [OIDC, SAML], ids=["oidc", "saml"])
def test_every_field_of_a_body_but_its_secret_reaches_the_policy(
    body: OidcConnectionBody | SamlConnectionBody,
) -> None:
    policy = policy_from_body(body)
    # Not the secret, nor what only GET answers (read-only, never stored).
    dumped = body.model_dump(mode="json", exclude={"client_secret", *ANSWERED_FIELDS})
    assert {f.name for f in dataclasses.fields(policy)} == set(dumped)
    assert {name: _as_plain(getattr(policy, name)) for name in dumped} == dumped


def test_the_policy_is_frozen_and_keeps_no_secret() -> None:
    policy = policy_from_body(OIDC)
    assert isinstance(policy, OidcPolicy)
    assert not hasattr(policy, "client_secret")
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.link_by_email = False  # type: ignore[misc]


def test_a_stored_body_from_an_older_release_gets_todays_defaults() -> None:
    stored = SAML.model_dump(mode="json", exclude={"allow_sha1", "groups_attribute"})
    policy = policy_from_stored("saml", stored)
    assert isinstance(policy, SamlPolicy)
    assert (policy.allow_sha1, policy.groups_attribute) == (False, None)


def test_a_policys_defaults_are_the_bodys() -> None:
    # The policies repeat the bodies' defaults for code that builds one directly (tests).
    oidc = OidcConnectionBody(
        protocol="oidc", issuer="https://op.example", client_id="c", channel_ids=[1]
    )
    assert policy_from_body(oidc) == OidcPolicy(
        issuer="https://op.example", client_id="c", channel_ids=(1,)
    )
    assert policy_from_body(SamlConnectionBody(protocol="saml", channel_ids=[1])) == SamlPolicy(
        channel_ids=(1,)
    )
