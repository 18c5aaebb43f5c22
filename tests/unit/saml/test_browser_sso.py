"""The Web Browser SSO Profile's rules (adapter/saml/browser_sso.py), one at a time.

Each refusal breaks exactly one rule of an otherwise acceptable assertion or response, built
as pysaml2 builds them from XML, and checks the rule named in `detail`. The flow tests
(tests/flows/test_saml_refusals.py) send the same breaches, signed, through the ACS.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from saml2 import saml, samlp

from adapter.errors import NotVerified
from adapter.saml.browser_sso import BrowserSsoExpectations, check_assertion, check_response

SP = "https://sso.example/sso/acme/entra/saml/metadata"
ACS = "https://sso.example/sso/acme/entra/saml/acs"
IDP = "https://idp.example/metadata"
REQUEST = "id-request-1"
ASSERTION_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
PROTOCOL_NS = "urn:oasis:names:tc:SAML:2.0:protocol"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
EXPECTED = BrowserSsoExpectations(
    sp_entity_id=SP, acs_url=ACS, idp_entity_id=IDP, outstanding_request_id=REQUEST
)

CONFIRMATION = (
    f'<saml:SubjectConfirmation Method="{BEARER}"><saml:SubjectConfirmationData '
    f'NotOnOrAfter="2030-01-01T00:05:00Z" Recipient="{ACS}" InResponseTo="{REQUEST}"/>'
    "</saml:SubjectConfirmation>"
)
CONDITIONS = (
    '<saml:Conditions NotBefore="2030-01-01T00:00:00Z" NotOnOrAfter="2030-01-01T00:10:00Z">'
    f"<saml:AudienceRestriction><saml:Audience>{SP}</saml:Audience></saml:AudienceRestriction>"
    "</saml:Conditions>"
)
NAME_ID = (
    '<saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">ada</saml:NameID>'
)


def _assertion(
    *,
    issuer: str = f"<saml:Issuer>{IDP}</saml:Issuer>",
    name_id: str = NAME_ID,
    confirmations: str = CONFIRMATION,
    conditions: str = CONDITIONS,
) -> saml.Assertion:
    xml = (
        f'<saml:Assertion xmlns:saml="{ASSERTION_NS}" ID="a1" Version="2.0" '
        f'IssueInstant="2030-01-01T00:00:00Z">{issuer}<saml:Subject>{name_id}{confirmations}'
        f"</saml:Subject>{conditions}</saml:Assertion>"
    )
    return saml.assertion_from_string(xml)


def _check(assertion: saml.Assertion, expected: BrowserSsoExpectations = EXPECTED) -> datetime:
    return check_assertion(
        assertion, assertion.subject.name_id, assertion.subject.subject_confirmation, expected
    )


def _response(
    attributes: str = f'Destination="{ACS}" InResponseTo="{REQUEST}"', signed: bool = False
):  # type: ignore[no-untyped-def]
    signature = (
        '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo/>'
        "<ds:SignatureValue/></ds:Signature>"
        if signed
        else ""
    )
    xml = (
        f'<samlp:Response xmlns:samlp="{PROTOCOL_NS}" xmlns:saml="{ASSERTION_NS}" ID="r1" '
        f'Version="2.0" IssueInstant="2030-01-01T00:00:00Z" {attributes}>'
        f"<saml:Issuer>{IDP}</saml:Issuer>{signature}<samlp:Status><samlp:StatusCode "
        'Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:Response>'
    )
    return samlp.response_from_string(xml)


def _refused(rule: str) -> Any:
    return pytest.raises(NotVerified, match=rule)


def test_an_acceptable_assertion_gives_its_latest_window() -> None:
    # The Conditions window closes after the confirmation's: the ledger keeps it that long.
    assert _check(_assertion()) == datetime(2030, 1, 1, 0, 10, tzinfo=UTC)


def test_several_audiences_in_one_restriction_are_a_choice() -> None:
    either = CONDITIONS.replace(
        "<saml:Audience>", "<saml:Audience>https://other.example</saml:Audience><saml:Audience>"
    )
    assert _check(_assertion(conditions=either))


@pytest.mark.parametrize(
    ("conditions", "rule"),
    [
        ("", "no AudienceRestriction"),
        ('<saml:Conditions NotOnOrAfter="2030-01-01T00:10:00Z"/>', "no AudienceRestriction"),
        (
            CONDITIONS.replace(
                "</saml:Conditions>",
                "<saml:AudienceRestriction><saml:Audience>https://other.example</saml:Audience>"
                "</saml:AudienceRestriction></saml:Conditions>",
            ),
            "an AudienceRestriction does not name this SP",
        ),
    ],
    ids=["no_conditions", "no_restriction", "second_restriction_for_another"],
)
def test_audience_restrictions(conditions: str, rule: str) -> None:
    with _refused(rule):
        _check(_assertion(conditions=conditions))


@pytest.mark.parametrize(
    ("confirmations", "rule"),
    [
        ("", "no SubjectConfirmation"),
        (
            f'<saml:SubjectConfirmation Method="{BEARER}"/>',
            "SubjectConfirmation without data",
        ),
        (
            CONFIRMATION.replace(BEARER, "urn:oasis:names:tc:SAML:2.0:cm:sender-vouches"),
            "not bearer",
        ),
        (
            CONFIRMATION + CONFIRMATION.replace(f'Recipient="{ACS}"', f'Recipient="{SP}"'),
            "Recipient",
        ),
        (CONFIRMATION.replace('NotOnOrAfter="2030-01-01T00:05:00Z" ', ""), "without NotOnOrAfter"),
        (CONFIRMATION.replace(REQUEST, "id-other"), "InResponseTo is not this browser's"),
        (
            CONFIRMATION.replace(f' InResponseTo="{REQUEST}"', ""),
            "InResponseTo is not this browser's",
        ),
    ],
    ids=[
        "none",
        "no_data",
        "sender_vouches",
        "second_for_another_recipient",
        "no_expiry",
        "other_request",
        "no_request",
    ],
)
def test_subject_confirmations(confirmations: str, rule: str) -> None:
    with _refused(rule):
        _check(_assertion(confirmations=confirmations))


def test_an_idp_initiated_assertion_must_not_name_a_request() -> None:
    unsolicited = BrowserSsoExpectations(
        sp_entity_id=SP, acs_url=ACS, idp_entity_id=IDP, outstanding_request_id=None
    )
    with _refused("confirmation InResponseTo without an outstanding request"):
        _check(_assertion(), unsolicited)
    bare = CONFIRMATION.replace(f' InResponseTo="{REQUEST}"', "")
    assert _check(_assertion(confirmations=bare), unsolicited)


@pytest.mark.parametrize(
    ("name_id", "rule"),
    [
        (
            NAME_ID.replace("<saml:NameID ", '<saml:NameID SPNameQualifier="https://x" '),
            "another SP",
        ),
        (
            NAME_ID.replace("<saml:NameID ", '<saml:NameID NameQualifier="https://x" '),
            "another IdP",
        ),
    ],
    ids=["sp_name_qualifier", "name_qualifier"],
)
def test_nameid_qualifiers(name_id: str, rule: str) -> None:
    with _refused(rule):
        _check(_assertion(name_id=name_id))
    ours = NAME_ID.replace(
        "<saml:NameID ", f'<saml:NameID SPNameQualifier="{SP}" NameQualifier="{IDP}" '
    )
    assert _check(_assertion(name_id=ours))


def test_issuer_in_another_format_is_refused() -> None:
    persistent = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
    issuer = f'<saml:Issuer Format="{persistent}">{IDP}</saml:Issuer>'
    with _refused("assertion issuer format is not entity"):
        _check(_assertion(issuer=issuer))


def test_response_destination() -> None:
    check_response(_response(), EXPECTED)
    check_response(_response(f'InResponseTo="{REQUEST}"'), EXPECTED)  # unsigned: may omit it
    with _refused("signed Response without Destination"):
        check_response(_response(f'InResponseTo="{REQUEST}"', signed=True), EXPECTED)
    with _refused("Destination is not this ACS"):
        check_response(_response(f'Destination="{SP}" InResponseTo="{REQUEST}"'), EXPECTED)


def test_response_in_response_to() -> None:
    with _refused("Response InResponseTo is not this browser's request"):
        check_response(_response(f'Destination="{ACS}"'), EXPECTED)
    unsolicited = BrowserSsoExpectations(
        sp_entity_id=SP, acs_url=ACS, idp_entity_id=IDP, outstanding_request_id=None
    )
    with _refused("Response InResponseTo without an outstanding request"):
        check_response(_response(), unsolicited)
