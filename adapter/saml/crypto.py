"""An in-process crypto backend for pysaml2, on python-xmlsec (libxmlsec1 bound in-process).

pysaml2's default backend runs the `xmlsec1` program for every signature check and every
decryption; on the ACS that subprocess is most of a login's cost. This backend does the same
two operations in-process with the same library and the same restrictions:

- the key is the certificate pysaml2 took from the IdP's metadata, nothing in the message;
- the signature verified is the one enveloped in the very element pysaml2 named (by tag and
  ID), whose single Reference points at that element: what is verified is what is read;
- the document is parsed without DTDs, entities or network access.

Signing (never on the ACS path) and encryption stay with the `xmlsec1` program.
"""

from __future__ import annotations

import xmlsec
from lxml import etree
from saml2.sigver import CryptoBackendXmlSec1, DecryptError, SignatureError

DS = "http://www.w3.org/2000/09/xmldsig#"
XENC = "http://www.w3.org/2001/04/xmlenc#"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"


def _parser() -> etree.XMLParser:
    # A fresh parser per document: no DTD, no entities, no network.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )


def _parse(document: str | bytes) -> etree._Element:
    raw = document.encode("utf-8") if isinstance(document, str) else document
    try:
        root = etree.fromstring(raw, _parser())
    except etree.XMLSyntaxError as exc:
        raise SignatureError(f"unparseable document: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise SignatureError("document type declarations are refused")
    return root


def _tag(node_name: str) -> str:
    # pysaml2 names nodes "urn:oasis:names:tc:SAML:2.0:assertion:Assertion".
    namespace, _, local = node_name.rpartition(":")
    return f"{{{namespace}}}{local}"


# pysaml2 has no type information: its backend class is Any to the type checker.
class InProcessXmlSecBackend(CryptoBackendXmlSec1):  # type: ignore[misc]
    def validate_signature(
        self,
        signedtext: str | bytes,
        cert_file: str,
        cert_type: str,
        node_name: str,
        node_id: str | None,
    ) -> bool:
        if cert_type != "pem" or not node_id:
            raise SignatureError("only PEM certificates and identified nodes are verified")
        root = _parse(signedtext)
        tag = _tag(node_name)
        nodes = [n for n in root.iter(tag) if n.get("ID") == node_id]
        if len(nodes) != 1:
            raise SignatureError(f"{len(nodes)} {node_name} nodes with ID {node_id}")
        node = nodes[0]
        signatures = node.findall(f"{{{DS}}}Signature")
        if len(signatures) != 1:
            raise SignatureError("the node does not carry exactly one enveloped signature")
        references = signatures[0].findall(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
        if len(references) != 1 or references[0].get("URI") != f"#{node_id}":
            raise SignatureError("the signature does not reference the node it envelops")
        try:
            context = xmlsec.SignatureContext()
            context.key = xmlsec.Key.from_file(cert_file, xmlsec.constants.KeyDataFormatCertPem)
            # Only this node's ID is resolvable: no other element can be what was signed.
            context.register_id(node, "ID")
            context.verify(signatures[0])
        except xmlsec.Error as exc:
            raise SignatureError(f"signature does not verify: {exc}") from None
        return True

    def decrypt(self, enctext: str | bytes, key_file: str) -> str:
        """Decrypt exactly one EncryptedData: the document itself (an encrypted NameID or
        attribute handed over alone), or the one inside the single EncryptedAssertion.
        Anything else is refused: decrypting every EncryptedData in a response would let an
        attacker add an unsigned assertion next to their own signed one."""
        root = _parse(enctext)
        if root.tag == f"{{{XENC}}}EncryptedData":
            target = root
        else:
            everything = root.findall(f".//{{{XENC}}}EncryptedData")
            wrapped = [
                e
                for e in everything
                if (parent := e.getparent()) is not None
                and parent.tag == f"{{{SAML}}}EncryptedAssertion"
            ]
            if len(everything) != 1 or len(wrapped) != 1:
                raise DecryptError(f"{len(everything)} EncryptedData where one assertion is due")
            target = wrapped[0]
        try:
            manager = xmlsec.KeysManager()
            manager.add_key(xmlsec.Key.from_file(key_file, xmlsec.constants.KeyDataFormatPem))
            decrypted = xmlsec.EncryptionContext(manager).decrypt(target)
        except xmlsec.Error as exc:
            raise DecryptError(f"decryption failed: {exc}") from None
        if target is root:
            return etree.tostring(decrypted, encoding="unicode")
        return etree.tostring(root, encoding="unicode")
