"""Settings that cannot work together, each named with what to change."""

from __future__ import annotations

from adapter.core.policy import OidcPolicy, SamlPolicy
from adapter.core.warnings import (
    NAMEID_EMAIL,
    NAMEID_PERSISTENT,
    connection_warnings,
    unreachable_channels,
)

SAML = SamlPolicy(channel_ids=(1,), idp_metadata_xml="<md/>", email_verified=True)
OIDC = OidcPolicy(channel_ids=(1,), issuer="https://example.okta.com", client_id="c")


def codes(policy: OidcPolicy | SamlPolicy, formats: tuple[str, ...] = ()) -> list[str]:
    return [w.code for w in connection_warnings(policy, idp_name_id_formats=formats)]


def test_a_saml_connection_that_may_create_without_email_verified_never_can() -> None:
    unvouched = SamlPolicy(channel_ids=(1,), idp_metadata_xml="<md/>")
    assert codes(unvouched) == ["saml_email_never_verified"]
    assert codes(SAML) == []
    # Neither creating nor linking by e-mail: nothing depends on the e-mail.
    assert codes(SamlPolicy(channel_ids=(1,), idp_metadata_xml="x", create_customers=False)) == []


def test_an_entra_oidc_connection_relying_on_email_verified() -> None:
    entra = OidcPolicy(
        channel_ids=(1,),
        issuer="https://login.microsoftonline.com/tenant-id/v2.0",
        client_id="c",
    )
    assert codes(entra) == ["entra_sends_no_email_verified"]
    assert codes(OidcPolicy(**{**entra.__dict__, "email_verified": True})) == []
    assert codes(OIDC) == []  # Okta sends email_verified


def test_e_mail_nameids_without_a_subject_attribute_refuse_every_login() -> None:
    [warning] = connection_warnings(SAML, idp_name_id_formats=(NAMEID_EMAIL,))
    assert warning.code == "saml_nameid_not_persistent" and warning.field == "subject_attribute"
    assert "e-mail NameIDs" in warning.message
    assert codes(SAML, (NAMEID_EMAIL, NAMEID_PERSISTENT)) == []
    assert codes(SAML, ()) == []  # the metadata does not say: no guess
    keyed = SamlPolicy(channel_ids=(1,), idp_metadata_xml="x", email_verified=True,
                       subject_attribute="oid")  # fmt: skip
    assert codes(keyed, (NAMEID_EMAIL,)) == []


def test_a_channel_no_connection_reaches() -> None:
    [warning] = unreachable_channels([1, 2, 3], [[1], [1, 3]])
    assert warning.code == "channel_unreachable" and warning.field == "channels[2]"
    assert unreachable_channels([1], [[1]]) == []
