"""IdP metadata: what is accepted, and each way it is refused with a reason."""

from __future__ import annotations

import pytest

from adapter.saml.metadata import REDIRECT_BINDING, InvalidMetadata, parse_idp_metadata
from tests.support.certificates import idp_metadata, self_signed


def test_metadata_gives_entity_id_sso_url_and_signing_certificate() -> None:
    parsed = parse_idp_metadata(idp_metadata())
    assert parsed.entity_id == "https://idp.example.test/metadata"
    assert parsed.sso_urls[REDIRECT_BINDING] == "https://idp.example.test/sso"
    assert parsed.signing_certificates == (self_signed()[1],)


def test_utf8_byte_order_mark_is_tolerated() -> None:
    assert parse_idp_metadata(b"\xef\xbb\xbf" + idp_metadata().encode()).entity_id


def test_several_signing_certificates_are_all_kept_for_a_key_rollover() -> None:
    old, new = self_signed("old.example")[1], self_signed("new.example")[1]
    parsed = parse_idp_metadata(idp_metadata(certificates=(old, new)))
    assert parsed.signing_certificates == (old, new)


def test_a_key_without_use_serves_for_signing() -> None:
    assert parse_idp_metadata(idp_metadata(use=None)).signing_certificates


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ("not xml at all", "does not parse"),
        ("<a><b></a>", "does not parse"),
        (
            '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>',
            "DTD or entities",
        ),
        ('<?xml version="1.0"?><!DOCTYPE md:EntityDescriptor>' + idp_metadata()[38:], "DTD"),
        (
            '<?xml version="1.0"?><!DOCTYPE md:EntityDescriptor '
            '[<!ATTLIST md:IDPSSODescriptor WantAuthnRequestsSigned CDATA "false">]>'
            + idp_metadata()[38:],
            "DTD",
        ),
        ("<x/>", "not a SAML 2.0 EntityDescriptor"),
        (idp_metadata(use="encryption"), "no usable signing certificate"),
        (idp_metadata().replace("HTTP-Redirect", "HTTP-Artifact"), "HTTP-Redirect"),
        (idp_metadata().replace("IDPSSODescriptor", "SPSSODescriptor"), "no identity provider"),
        (idp_metadata().replace('entityID="https://idp.example.test/metadata"', ""), "entityID"),
    ],
    ids=[
        "text",
        "broken",
        "dtd",
        "doctype",
        "attlist_default",
        "other_root",
        "encryption_key_only",
        "no_redirect",
        "sp_only",
        "no_entity_id",
    ],
)
def test_unusable_metadata_is_refused_with_the_reason(document: str, reason: str) -> None:
    with pytest.raises(InvalidMetadata, match=reason):
        parse_idp_metadata(document)
