"""The ACS's reader of a SAML response: parsed once, verified on that tree, read from it.

One lxml parse (no document type, no entities, no network, no comments, bounded size); the
document checks (`check_document`); the protocol schema, compiled by libxml2; the status; the
enveloped signatures of the Response and of the Assertion verified with python-xmlsec on the
same tree with the IdP's metadata keys; the encrypted assertion, NameID and attributes
decrypted in place with the SP's key (the assertion's own signature is verified after it is
decrypted, the rest after the signature that covers them); and the facts the profile's rules
need read from the very elements that were verified. At least one of the two signatures must
cover the assertion.

Nothing here decides whether the response is acceptable beyond its signatures and its form:
that is `browser_sso`, which both readers feed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import xmlsec
from lxml import etree

from adapter.errors import BadRequest, NotVerified
from adapter.saml import schema
from adapter.saml.browser_sso import refuse
from adapter.saml.response_facts import (
    SAML,
    SAMLP,
    AssertionFacts,
    ResponseFacts,
    read_assertion,
    read_response,
)
from adapter.saml.signatures import (
    DecryptionFailed,
    SignatureInvalid,
    decrypt,
    enveloped_signature,
    parser,
    verify_enveloped,
)

DS = "http://www.w3.org/2000/09/xmldsig#"
XENC = "http://www.w3.org/2001/04/xmlenc#"
STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
# Where SAML puts encrypted content; anywhere else an EncryptedData could decrypt to a second,
# unsigned assertion.
ENCRYPTED_PARENTS = frozenset(
    f"{{{SAML}}}{name}" for name in ("EncryptedAssertion", "EncryptedID", "EncryptedAttribute")
)


@dataclass(frozen=True)
class ReadResponse:
    response: ResponseFacts
    assertion: AssertionFacts


def parse(raw: bytes) -> etree._Element:
    """The response document, refused as malformed unless it is plain XML with a Response."""
    try:
        root = etree.fromstring(raw, parser())
    except etree.XMLSyntaxError:
        raise BadRequest("SAMLResponse is not XML", code="saml_malformed") from None
    info = root.getroottree().docinfo
    # No document type declaration at all, not only no entities: an ATTLIST default is
    # applied by the parser that builds what we read, yet is covered by no signature.
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise BadRequest("SAMLResponse uses a DTD or entities", code="saml_malformed")
    if root.tag != f"{{{SAMLP}}}Response":
        raise BadRequest("SAMLResponse is not a Response", code="saml_malformed")
    return root


def _uses_sha1(scope: etree._Element) -> bool:
    for method in scope.iter(f"{{{DS}}}SignatureMethod", f"{{{DS}}}DigestMethod"):
        if "sha1" in (method.get("Algorithm") or "").lower():
            return True
    return False


def check_document(root: etree._Element, *, allow_sha1: bool) -> None:
    """Checks on the document itself, before any cryptography (and on a decrypted assertion
    again)."""
    assertions = list(root.iter(f"{{{SAML}}}Assertion", f"{{{SAML}}}EncryptedAssertion"))
    if len(assertions) != 1:
        raise refuse(f"{len(assertions)} assertions instead of exactly one")
    for data in root.iter(f"{{{XENC}}}EncryptedData"):
        parent = data.getparent()
        if parent is None or parent.tag not in ENCRYPTED_PARENTS:
            raise refuse("EncryptedData outside an encrypted SAML element")
    if not allow_sha1 and _uses_sha1(root):
        raise refuse("SHA-1 signature or digest")


def _check_schema(element: etree._Element) -> None:
    problem = schema.problem(element)
    if problem:
        raise refuse(f"not valid SAML 2.0: {problem}")


def _check_status(root: etree._Element) -> None:
    code = root.find(f"{{{SAMLP}}}Status/{{{SAMLP}}}StatusCode")
    if code is None or code.get("Value") != STATUS_SUCCESS:
        raise NotVerified(
            f"saml: IdP status {code.get('Value') if code is not None else None}",
            code="idp_refused",
        )


def _verify(element: etree._Element, keys: Sequence[xmlsec.Key], what: str) -> bool:
    try:
        signature = enveloped_signature(element)
        if signature is None:
            return False
        verify_enveloped(element, signature, keys)
    except SignatureInvalid as exc:
        raise refuse(f"{what} signature: {exc}") from None
    return True


def _decrypt(encrypted: etree._Element, private_key_pem: str, wanted: str) -> etree._Element:
    """The one element an encrypted SAML element (EncryptedAssertion, EncryptedID,
    EncryptedAttribute) holds, decrypted, in a document of its own."""
    data = encrypted.findall(f"{{{XENC}}}EncryptedData")
    if len(data) != 1:
        raise refuse(f"{len(data)} EncryptedData in one encrypted element")
    try:
        decrypted = decrypt(data[0], private_key_pem)
    except DecryptionFailed as exc:
        raise refuse(str(exc)) from None
    if decrypted.tag != f"{{{SAML}}}{wanted}":
        raise refuse(f"an encrypted element does not hold a {wanted.lower()}")
    return decrypted


def read_verified(
    raw: bytes,
    *,
    idp_keys: Sequence[xmlsec.Key],
    sp_private_key_pem: str,
    allow_sha1: bool,
) -> ReadResponse:
    root = parse(raw)
    check_document(root, allow_sha1=allow_sha1)
    _check_schema(root)
    _check_status(root)
    assertion = next(root.iter(f"{{{SAML}}}Assertion", f"{{{SAML}}}EncryptedAssertion"))
    if assertion.getparent() is not root:
        raise refuse("the assertion is not a child of the response")
    # The Response's signature first: it covers the encrypted assertion as it came.
    response_signed = _verify(root, idp_keys, "response")
    if assertion.tag == f"{{{SAML}}}EncryptedAssertion":
        assertion = _decrypt(assertion, sp_private_key_pem, "Assertion")
        # What was hidden is held to the same rules: one assertion, no stray ciphertext, no
        # SHA-1 inside, valid SAML.
        check_document(assertion, allow_sha1=allow_sha1)
        _check_schema(assertion)
    assertion_signed = _verify(assertion, idp_keys, "assertion")
    if not (response_signed or assertion_signed):
        raise refuse("neither the response nor the assertion is signed")
    # Covered by a verified signature now: what they hide may be read.
    for wrapper, wanted in [
        *((w, "NameID") for w in assertion.iter(f"{{{SAML}}}EncryptedID")),
        *((w, "Attribute") for w in assertion.iter(f"{{{SAML}}}EncryptedAttribute")),
    ]:
        parent = wrapper.getparent()
        assert parent is not None  # found below the assertion
        parent.replace(wrapper, _decrypt(wrapper, sp_private_key_pem, wanted))
    return ReadResponse(response=read_response(root), assertion=read_assertion(assertion))
