"""The compiled schema validator refuses exactly what pysaml2's own validator refuses."""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterator

import pytest
import saml2.sigver
from lxml import etree
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor
from saml2.xml.schema import XMLSchemaError
from saml2.xml.schema import validate as pysaml2_validate

from adapter.saml import schema
from tests.support.saml_idp import SandboxSamlIdp

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
SP = "https://sp.example.test/metadata"
ACS = "https://sp.example.test/acs"


@pytest.fixture(autouse=True)
def _keep_elementtree_prefixes() -> Iterator[None]:
    # pysaml2's validator (xmlschema) registers the prefixes it meets with ElementTree,
    # process-wide; left in place they would change how later tests' IdP writes responses.
    saved = dict(ElementTree._namespace_map)
    yield
    ElementTree._namespace_map.clear()
    ElementTree._namespace_map.update(saved)


@functools.cache
def response_xml() -> str:
    idp = SandboxSamlIdp("https://idp.example.test")
    config = SPConfig()
    config.load(
        {
            "entityid": SP,
            "service": {
                "sp": {
                    "endpoints": {
                        "assertion_consumer_service": [
                            (ACS, "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST")
                        ]
                    }
                }
            },
        }
    )
    idp.trust_sp(str(entity_descriptor(config)))
    return idp.respond("id-request-1", ACS, SP, sign_response=False, sign_assertion=False)


def edit(change: Callable[[etree._Element], None]) -> Callable[[str], str]:
    def apply(xml: str) -> str:
        root = etree.fromstring(xml.encode())
        change(root)
        return etree.tostring(root, encoding="unicode")

    return apply


def _first(root: etree._Element, path: str) -> etree._Element:
    found = root.find(path, {"samlp": SAMLP, "saml": SAML})
    assert found is not None, path
    return found


def _move_status_before_issuer(root: etree._Element) -> None:
    _first(root, "saml:Issuer").addprevious(_first(root, "samlp:Status"))


def _move_subject_after_conditions(root: etree._Element) -> None:
    _first(root, "saml:Assertion/saml:Conditions").addnext(
        _first(root, "saml:Assertion/saml:Subject")
    )


def _assertion_only(xml: str) -> str:
    root = etree.fromstring(xml.encode())
    return etree.tostring(_first(root, "saml:Assertion"), encoding="unicode")


VALID = {
    "response as the IdP sent it": lambda xml: xml,
    "the assertion alone": _assertion_only,
    "a foreign element in Extensions": edit(
        lambda r: _first(r, "saml:Issuer").addnext(
            etree.fromstring(
                f'<samlp:Extensions xmlns:samlp="{SAMLP}"><x xmlns="urn:x"/></samlp:Extensions>'
            )
        )
    ),
}

INVALID = {
    "an element the schema does not know": edit(
        lambda r: _first(r, "saml:Issuer").addnext(etree.Element(f"{{{SAMLP}}}Bogus"))
    ),
    "an attribute the schema does not know": edit(lambda r: r.set("Bogus", "1")),
    "ID missing": edit(lambda r: r.attrib.pop("ID")),
    "IssueInstant not a time": edit(lambda r: r.set("IssueInstant", "yesterday")),
    "Status before Issuer": edit(_move_status_before_issuer),
    "Subject after Conditions": edit(_move_subject_after_conditions),
    "Status without StatusCode": edit(
        lambda r: _first(r, "samlp:Status").remove(_first(r, "samlp:Status/samlp:StatusCode"))
    ),
    "two Issuers": edit(
        lambda r: _first(r, "saml:Issuer").addnext(etree.Element(f"{{{SAML}}}Issuer"))
    ),
    "not well-formed": lambda xml: xml[:-20],
    "a root of another namespace": lambda xml: '<Response xmlns="urn:x" ID="a"/>',
}


@pytest.mark.parametrize("name", VALID)
def test_both_validators_accept(name: str) -> None:
    document = VALID[name](response_xml())
    pysaml2_validate(document)
    schema.validate(document)


@pytest.mark.parametrize("name", INVALID)
def test_both_validators_refuse(name: str) -> None:
    document = INVALID[name](response_xml())
    with pytest.raises(XMLSchemaError):
        pysaml2_validate(document)
    with pytest.raises(XMLSchemaError):
        schema.validate(document)


def test_a_document_type_declaration_is_not_expanded() -> None:
    document = (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e "x">]>'
        f'<samlp:Response xmlns:samlp="{SAMLP}" ID="&e;" Version="2.0" '
        'IssueInstant="2026-01-01T00:00:00Z"><samlp:Status><samlp:StatusCode '
        'Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:Response>'
    )
    with pytest.raises(XMLSchemaError):
        schema.validate(document)


def test_the_service_provider_puts_the_compiled_validator_in_pysaml2s_place() -> None:
    import adapter.saml.service_provider  # noqa: F401  (installs on import)

    assert saml2.sigver.validate_doc_with_schema is schema.validate
    with schema.pysaml2_default():
        assert saml2.sigver.validate_doc_with_schema is pysaml2_validate
    assert saml2.sigver.validate_doc_with_schema is schema.validate
