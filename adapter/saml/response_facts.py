"""What the Web Browser SSO Profile's rules look at in a response, as plain values.

The rules (`browser_sso`) run on these records whichever reader produced them: the adapter's
own single-parse reader (`response_reader`, reading the lxml tree it verified) or pysaml2's
object model (the `pysaml2` reader). Instants stay the strings the IdP sent; the rules read
them.

`read_response` and `read_assertion` read the records from verified lxml elements. Text is
read from a tree parsed without comments, so a comment inside a value cannot shorten what is
read (the signature never covered the comment either).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


@dataclass(frozen=True)
class Issuer:
    value: str
    format: str | None


@dataclass(frozen=True)
class NameId:
    value: str | None
    format: str | None
    name_qualifier: str | None
    sp_name_qualifier: str | None


@dataclass(frozen=True)
class Confirmation:
    method: str | None
    has_data: bool
    recipient: str | None = None
    not_before: str | None = None
    not_on_or_after: str | None = None
    in_response_to: str | None = None


@dataclass(frozen=True)
class ResponseFacts:
    signed: bool
    version: str | None
    issue_instant: str | None
    destination: str | None
    in_response_to: str | None
    issuer: Issuer | None


@dataclass(frozen=True)
class AssertionFacts:
    id: str
    version: str | None
    issuer: Issuer | None
    has_subject: bool
    name_id: NameId | None
    confirmations: tuple[Confirmation, ...]
    has_conditions: bool
    not_before: str | None
    not_on_or_after: str | None
    # One set of audiences per AudienceRestriction element.
    audience_restrictions: tuple[frozenset[str], ...]
    # Condition elements of a type this SP does not understand (Core 2.5.1: refuse them).
    unknown_conditions: int
    authn_statements: int
    session_not_on_or_after: str | None
    attributes: dict[str, list[str]] = field(default_factory=dict)


def _q(namespace: str, local: str) -> str:
    return f"{{{namespace}}}{local}"


def text_of(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    return (element.text or "").strip()


def _issuer(parent: etree._Element) -> Issuer | None:
    element = parent.find(_q(SAML, "Issuer"))
    if element is None:
        return None
    return Issuer(value=text_of(element) or "", format=element.get("Format"))


def read_response(root: etree._Element) -> ResponseFacts:
    return ResponseFacts(
        signed=root.find(_q(DS, "Signature")) is not None,
        version=root.get("Version"),
        issue_instant=root.get("IssueInstant"),
        destination=root.get("Destination"),
        in_response_to=root.get("InResponseTo"),
        issuer=_issuer(root),
    )


def _name_id(element: etree._Element | None) -> NameId | None:
    if element is None:
        return None
    return NameId(
        value=text_of(element) or None,
        format=element.get("Format"),
        name_qualifier=element.get("NameQualifier"),
        sp_name_qualifier=element.get("SPNameQualifier"),
    )


def _confirmation(element: etree._Element) -> Confirmation:
    data = element.find(_q(SAML, "SubjectConfirmationData"))
    if data is None:
        return Confirmation(method=element.get("Method"), has_data=False)
    return Confirmation(
        method=element.get("Method"),
        has_data=True,
        recipient=data.get("Recipient"),
        not_before=data.get("NotBefore"),
        not_on_or_after=data.get("NotOnOrAfter"),
        in_response_to=data.get("InResponseTo"),
    )


def _attributes(assertion: etree._Element) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for attribute in assertion.iterfind(
        f"{_q(SAML, 'AttributeStatement')}/{_q(SAML, 'Attribute')}"
    ):
        values = found.setdefault(attribute.get("Name") or "", [])
        for value in attribute.iterfind(_q(SAML, "AttributeValue")):
            # A value with elements inside is structured data, not a string: never half-read.
            if len(value) == 0 and value.text and value.text.strip():
                values.append(value.text.strip())
    return found


def read_assertion(assertion: etree._Element) -> AssertionFacts:
    """The assertion's facts, its NameID and attributes already decrypted in place."""
    subject = assertion.find(_q(SAML, "Subject"))
    conditions = assertion.find(_q(SAML, "Conditions"))
    restrictions: tuple[frozenset[str], ...] = ()
    unknown = 0
    if conditions is not None:
        restrictions = tuple(
            frozenset(text_of(a) or "" for a in r.iterfind(_q(SAML, "Audience")))
            for r in conditions.iterfind(_q(SAML, "AudienceRestriction"))
        )
        unknown = len(conditions.findall(_q(SAML, "Condition")))
    statements = assertion.findall(_q(SAML, "AuthnStatement"))
    return AssertionFacts(
        id=assertion.get("ID") or "",
        version=assertion.get("Version"),
        issuer=_issuer(assertion),
        has_subject=subject is not None,
        name_id=_name_id(subject.find(_q(SAML, "NameID")) if subject is not None else None),
        confirmations=tuple(
            _confirmation(c) for c in subject.iterfind(_q(SAML, "SubjectConfirmation"))
        )
        if subject is not None
        else (),
        has_conditions=conditions is not None,
        not_before=conditions.get("NotBefore") if conditions is not None else None,
        not_on_or_after=conditions.get("NotOnOrAfter") if conditions is not None else None,
        audience_restrictions=restrictions,
        unknown_conditions=unknown,
        authn_statements=len(statements),
        session_not_on_or_after=statements[0].get("SessionNotOnOrAfter") if statements else None,
        attributes=_attributes(assertion),
    )
