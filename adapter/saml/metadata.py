"""Reading an IdP's SAML metadata: its entity id, where to send requests, its signing keys.

Parsed with defusedxml, refusing any document type declaration (not only entities: an
ATTLIST default would add attributes the document does not carry) and any external reference.
pysaml2 parses the same document again when it loads it; this parse comes first on every path
(saving a connection, whether the document was given or fetched from a URL, and the registry
before it builds a service provider from stored or refetched metadata), so it keeps DTDs from
pysaml2 too. A document that does not parse, names no IdP, or carries no usable signing
certificate is refused with the reason, so an operator hears about it when saving the
connection, not at the first login.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
REDIRECT_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
POST_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
MAX_METADATA_BYTES = 2 * 1024 * 1024


class InvalidMetadata(ValueError):
    pass


@dataclass(frozen=True)
class IdpMetadata:
    entity_id: str
    sso_urls: dict[str, str]  # binding -> location
    signing_certificates: tuple[str, ...]  # PEM
    want_authn_requests_signed: bool
    # The NameID formats the IdP says it sends (empty: it does not say).
    name_id_formats: tuple[str, ...] = ()


def _certificates(idp: Element) -> tuple[str, ...]:
    pems = []
    for descriptor in idp.findall(f"{{{MD}}}KeyDescriptor"):
        # A key without "use" serves both; an encryption-only key never verifies signatures.
        if descriptor.get("use") not in (None, "signing"):
            continue
        for node in descriptor.iter(f"{{{DS}}}X509Certificate"):
            text = "".join((node.text or "").split())
            try:
                certificate = x509.load_der_x509_certificate(base64.b64decode(text, validate=True))
            except (ValueError, binascii.Error):
                continue
            pems.append(certificate.public_bytes(serialization.Encoding.PEM).decode())
    return tuple(dict.fromkeys(pems))  # several certificates: an IdP rolling its key over


def parse_idp_metadata(document: str | bytes) -> IdpMetadata:
    raw = document.encode() if isinstance(document, str) else document
    if len(raw) > MAX_METADATA_BYTES:
        raise InvalidMetadata("metadata is larger than 2 MiB")
    raw = raw.removeprefix(b"\xef\xbb\xbf")  # Entra's federation metadata starts with a BOM
    try:
        root = fromstring(raw.lstrip(), forbid_dtd=True)
    except DefusedXmlException:
        raise InvalidMetadata("metadata uses a DTD or entities, which are refused") from None
    except ParseError as exc:
        raise InvalidMetadata(f"metadata does not parse as XML ({exc})") from None
    if root.tag == f"{{{MD}}}EntitiesDescriptor":
        entities = [
            e
            for e in root.iter(f"{{{MD}}}EntityDescriptor")
            if e.find(f"{{{MD}}}IDPSSODescriptor") is not None
        ]
        if len(entities) != 1:
            raise InvalidMetadata("an EntitiesDescriptor must hold exactly one identity provider")
        root = entities[0]
    if root.tag != f"{{{MD}}}EntityDescriptor":
        raise InvalidMetadata("metadata is not a SAML 2.0 EntityDescriptor")
    entity_id = root.get("entityID")
    if not entity_id:
        raise InvalidMetadata("EntityDescriptor has no entityID")
    idp = root.find(f"{{{MD}}}IDPSSODescriptor")
    if idp is None:
        raise InvalidMetadata("metadata describes no identity provider (IDPSSODescriptor)")
    sso_urls = {}
    for service in idp.findall(f"{{{MD}}}SingleSignOnService"):
        binding, location = service.get("Binding"), service.get("Location")
        if binding and location and binding not in sso_urls:
            sso_urls[binding] = location
    if REDIRECT_BINDING not in sso_urls:
        raise InvalidMetadata(
            "the IdP offers no SingleSignOnService with the HTTP-Redirect binding"
        )
    certificates = _certificates(idp)
    if not certificates:
        raise InvalidMetadata("the IdP metadata carries no usable signing certificate")
    return IdpMetadata(
        entity_id=entity_id,
        sso_urls=sso_urls,
        signing_certificates=certificates,
        want_authn_requests_signed=idp.get("WantAuthnRequestsSigned") in ("true", "1"),
        name_id_formats=tuple(
            (node.text or "").strip()
            for node in idp.findall(f"{{{MD}}}NameIDFormat")
            if (node.text or "").strip()
        ),
    )
