"""Key pairs and self-signed certificates made in the test suite."""

from __future__ import annotations

import base64
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from adapter.saml.keys import self_signed_pair


@cache
def self_signed(common_name: str = "idp.example.test") -> tuple[str, str]:
    """(private key PEM, certificate PEM), made here once per name."""
    return self_signed_pair(common_name, years=1)


def certificate_base64(certificate_pem: str) -> str:
    der = x509.load_pem_x509_certificate(certificate_pem.encode()).public_bytes(
        serialization.Encoding.DER
    )
    return base64.b64encode(der).decode()


def idp_metadata(
    entity_id: str = "https://idp.example.test/metadata",
    sso_url: str = "https://idp.example.test/sso",
    certificates: tuple[str, ...] | None = None,
    use: str | None = "signing",
) -> str:
    certificates = certificates or (self_signed()[1],)
    use_attribute = f' use="{use}"' if use else ""
    keys = "".join(
        f"""<md:KeyDescriptor{use_attribute}><ds:KeyInfo><ds:X509Data><ds:X509Certificate>
{certificate_base64(pem)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"""
        for pem in certificates
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    {keys}
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location="{sso_url}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"""
