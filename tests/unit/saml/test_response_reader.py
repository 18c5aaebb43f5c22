"""The single-parse reader (adapter/saml/response_reader.py) against what only it could get
wrong: IDs that resolve elsewhere, signatures that select another part of the document,
encrypted parts. Responses come from pysaml2's IdP, signed for real; the flow tests
(tests/flows/test_saml_refusals.py) run every other refusal through this reader too.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

import pytest
from lxml import etree

from adapter.errors import NotVerified
from adapter.saml.service_provider import ServiceProvider, ServiceProviderSettings
from adapter.saml.signatures import SignatureInvalid, enveloped_signature, verify_enveloped
from tests.support.certificates import self_signed
from tests.support.saml_idp import SandboxSamlIdp, encrypt_for

SP = "https://adapter.example.test/sso/acme/entra/saml"
ACS = f"{SP}/acs"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"


class Pair:
    def __init__(self, provider: ServiceProvider, idp: SandboxSamlIdp, certificate: str):
        self.provider, self.idp, self.certificate = provider, idp, certificate

    def respond(self, **options: object) -> tuple[str, str]:
        request_id, _ = self.provider.authn_request(relay_state="r")
        return request_id, self.idp.respond(request_id, ACS, f"{SP}/metadata", **options)  # type: ignore[arg-type]

    def verify(self, xml: str, request_id: str) -> str | None:
        encoded = base64.b64encode(xml.encode()).decode()
        return self.provider.verify(encoded, request_id).name_id


@pytest.fixture
def pair(tmp_path) -> Iterator[Pair]:  # type: ignore[no-untyped-def]
    idp = SandboxSamlIdp("https://idp.example.test")
    key, certificate = self_signed("sp.example.test")
    provider = ServiceProvider(
        ServiceProviderSettings(
            entity_id=f"{SP}/metadata",
            acs_url=ACS,
            idp_entity_id=idp.entity_id,
            idp_metadata_xml=idp.metadata(),
            private_key_pem=key,
            certificate_pem=certificate,
            sign_requests=False,
            allow_idp_initiated=False,
            allow_sha1=False,
            clock_skew_seconds=60,
        ),
        str(tmp_path),
    )
    idp.trust_sp(provider.metadata())
    yield Pair(provider, idp, certificate)
    provider.close()


def _refused(rule: str):  # type: ignore[no-untyped-def]
    return pytest.raises(NotVerified, match=rule)


def _assertion_id(xml: str) -> str:
    match = re.search(r'<\w+:Assertion [^>]*\bID="([^"]+)"', xml)
    assert match
    return match.group(1)


def test_the_control_is_accepted(pair: Pair) -> None:
    request_id, xml = pair.respond(sign_response=True, sign_assertion=True)
    assert pair.verify(xml, request_id) == "ada-persistent-0001"


def test_an_xml_id_claiming_the_assertions_id_is_refused(pair: Pair) -> None:
    # xml:id is an ID to the parser before anyone registers one: the signature's reference
    # must not be able to resolve to this element instead of the signed assertion.
    request_id, xml = pair.respond(sign_response=False, sign_assertion=True)
    decoy = (
        f'<ns0:Extensions><e:decoy xmlns:e="urn:example:decoy" xml:id="{_assertion_id(xml)}"/>'
        "</ns0:Extensions><ns0:Status>"
    )
    edited = xml.replace("<ns0:Status>", decoy, 1)
    with _refused("not valid SAML 2.0"):  # the schema sees the ID twice
        pair.verify(edited, request_id)
    # Without the schema's help, the signature check itself refuses it.
    root = etree.fromstring(edited.encode())
    assertion = root.find(f"{{{SAML}}}Assertion")
    assert assertion is not None
    signature = enveloped_signature(assertion)
    assert signature is not None
    with pytest.raises(SignatureInvalid):
        verify_enveloped(assertion, signature, pair.provider._idp_keys)


def test_a_signature_with_an_xpath_transform_is_refused(pair: Pair) -> None:
    # Signed for real by the IdP's key, yet through a transform that could select anything.
    request_id, xml = pair.respond(sign_response=True, sign_assertion=False)
    xpath = (
        '<ns2:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116">'
        "<ns2:XPath>1</ns2:XPath></ns2:Transform></ns2:Transforms>"
    )
    edited = pair.idp.resign(xml.replace("</ns2:Transforms>", xpath, 1))
    assert "REC-xpath" in edited
    with _refused("signature transform other than enveloped and c14n"):
        pair.verify(edited, request_id)


def test_two_signatures_on_one_element_are_refused(pair: Pair) -> None:
    request_id, xml = pair.respond(sign_response=True, sign_assertion=False)
    root = etree.fromstring(xml.encode())
    signature = root.find(f"{{{DS}}}Signature")
    assert signature is not None
    signature.addnext(etree.fromstring(etree.tostring(signature)))
    with _refused("not valid SAML 2.0"):
        pair.verify(etree.tostring(root).decode(), request_id)
    with pytest.raises(SignatureInvalid, match="more than one enveloped signature"):
        enveloped_signature(root)


def test_a_response_signature_over_the_assertion_is_refused(pair: Pair) -> None:
    # A Response signature must cover the Response: one that references the assertion would
    # leave everything around it (Destination, InResponseTo) unprotected.
    request_id, xml = pair.respond(sign_response=True, sign_assertion=False)
    response_id = re.search(r'<\w+:Response [^>]*\bID="([^"]+)"', xml)
    assert response_id
    edited = xml.replace(f'URI="#{response_id.group(1)}"', f'URI="#{_assertion_id(xml)}"')
    with _refused("does not reference the element it envelops"):
        pair.verify(edited, request_id)


def test_an_element_saml_does_not_know_is_refused_even_where_unsigned(pair: Pair) -> None:
    request_id, xml = pair.respond(sign_response=False, sign_assertion=True)
    edited = xml.replace("<ns0:Status>", "<ns0:Unknown/><ns0:Status>", 1)
    with _refused("not valid SAML 2.0"):
        pair.verify(edited, request_id)


def _with_encrypted_name_id(pair: Pair, certificate: str) -> tuple[str, str]:
    """A signed response whose NameID is encrypted to `certificate`, signed again after."""
    request_id, xml = pair.respond(sign_response=True, sign_assertion=False)
    root = etree.fromstring(xml.encode())
    name_id = root.find(f".//{{{SAML}}}NameID")
    assert name_id is not None
    wrapper = etree.Element(f"{{{SAML}}}EncryptedID")
    name_id.addprevious(wrapper)
    wrapper.append(encrypt_for(certificate, name_id))
    return request_id, pair.idp.resign(etree.tostring(root).decode())


def test_an_encrypted_nameid_is_read_once_its_signature_verified(pair: Pair) -> None:
    request_id, edited = _with_encrypted_name_id(pair, pair.certificate)
    assert "ada-persistent-0001" not in edited
    assert pair.verify(edited, request_id) == "ada-persistent-0001"


def test_an_encrypted_nameid_that_does_not_decrypt_is_refused(pair: Pair) -> None:
    _, someone_else = self_signed("other.example.test")
    request_id, edited = _with_encrypted_name_id(pair, someone_else)
    with _refused("decryption failed"):
        pair.verify(edited, request_id)
