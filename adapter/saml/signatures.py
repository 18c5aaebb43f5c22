"""Enveloped XML signatures and XML encryption on an lxml tree, with python-xmlsec.

`verify_enveloped` checks that one element carries one enveloped signature over exactly that
element, made by one of the keys given (the IdP's, from its metadata: nothing in the message
names the key). The signed element is the only one its Reference can resolve to, so what is
verified is what is read (the defence against signature wrapping). Only the transforms an
enveloped SAML signature needs are accepted: no XPath, no XSLT, nothing that could select
another part of the document.

`decrypt` decrypts one xenc:EncryptedData with the SP's key into a document of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import xmlsec
from lxml import etree

DS = "http://www.w3.org/2000/09/xmldsig#"

CANONICALIZATIONS = frozenset(
    {
        "http://www.w3.org/2001/10/xml-exc-c14n#",
        "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
    }
)
TRANSFORMS = CANONICALIZATIONS | {"http://www.w3.org/2000/09/xmldsig#enveloped-signature"}


_BY_ID = etree.XPath("id($wanted)")


class SignatureInvalid(Exception):
    """The element is not signed as required; the message says how."""


class DecryptionFailed(Exception):
    """The encrypted element cannot be decrypted with the SP's key."""


def _ds(local: str) -> str:
    return f"{{{DS}}}{local}"


def enveloped_signature(element: etree._Element) -> etree._Element | None:
    """The element's own ds:Signature (a direct child), None if unsigned; several refused."""
    signatures = element.findall(_ds("Signature"))
    if len(signatures) > 1:
        raise SignatureInvalid("more than one enveloped signature on one element")
    return signatures[0] if signatures else None


def verify_enveloped(
    element: etree._Element, signature: etree._Element, keys: Sequence[xmlsec.Key]
) -> None:
    node_id = element.get("ID")
    if not node_id:
        raise SignatureInvalid("the signed element has no ID")
    signed_info = signature.find(_ds("SignedInfo"))
    if signed_info is None:
        raise SignatureInvalid("signature without SignedInfo")
    method = signed_info.find(_ds("CanonicalizationMethod"))
    if method is None or method.get("Algorithm") not in CANONICALIZATIONS:
        raise SignatureInvalid("signature canonicalization is not an XML canonicalization")
    references = signed_info.findall(_ds("Reference"))
    if len(references) != 1 or references[0].get("URI") != f"#{node_id}":
        raise SignatureInvalid("the signature does not reference the element it envelops")
    for transform in references[0].iterfind(f"{_ds('Transforms')}/{_ds('Transform')}"):
        if transform.get("Algorithm") not in TRANSFORMS:
            raise SignatureInvalid("signature transform other than enveloped and c14n")
    failures = []
    for key in keys:
        context = xmlsec.SignatureContext()
        context.key = key
        try:
            # Only this element's ID is resolvable: no other element can be what was signed.
            context.register_id(element, "ID")
            resolved = _BY_ID(element.getroottree(), wanted=node_id)
            if resolved != [element]:
                raise SignatureInvalid("the signed element's ID resolves elsewhere")
            context.verify(signature)
            return
        except xmlsec.Error as exc:
            failures.append(str(exc))
    raise SignatureInvalid(f"signature does not verify with the IdP's keys: {failures[:1]}")


def decrypt(encrypted_data: etree._Element, private_key_pem: str) -> etree._Element:
    """Decrypt one xenc:EncryptedData (its key carried in an EncryptedKey inside it, as SAML
    IdPs send it) into the root of a document of its own. Decrypted in its place, its
    content would be parsed in the context of the response and its namespace prefixes
    reconciled with the response's: a signature inside would no longer verify."""
    alone = etree.fromstring(etree.tostring(encrypted_data), parser())
    try:
        manager = xmlsec.KeysManager()
        manager.add_key(
            xmlsec.Key.from_memory(private_key_pem.encode(), xmlsec.constants.KeyDataFormatPem)
        )
        decrypted = xmlsec.EncryptionContext(manager).decrypt(alone)
    except xmlsec.Error as exc:
        raise DecryptionFailed(f"decryption failed: {exc}") from None
    if not isinstance(decrypted, etree._Element) or decrypted.getparent() is not None:
        raise DecryptionFailed("the encrypted content is not one element")
    return decrypted


def parser() -> etree.XMLParser:
    """For SAML documents: no document type, no entities, no network, no comments (the text
    around a comment becomes one text node, as a signature's canonical form sees it). One
    per document: parsers keep state."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
