"""The Web Browser SSO Profile's rules (adapter/saml/browser_sso.py), one at a time.

Each refusal breaks exactly one rule of an otherwise acceptable assertion or response, read
from XML as the ACS reads it (`response_facts`), and checks the rule named in `detail`. The
flow tests (tests/flows/test_saml_refusals.py) send the same breaches, signed, through the
ACS.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lxml import etree

from adapter.errors import NotVerified
from adapter.saml.browser_sso import (
    BrowserSsoExpectations,
    check_assertion,
    check_response,
    check_times,
    instant,
)
from adapter.saml.response_facts import (
    AssertionFacts,
    ResponseFacts,
    read_assertion,
    read_response,
)

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
AUTHN_STATEMENT = (
    '<saml:AuthnStatement AuthnInstant="2030-01-01T00:00:00Z"><saml:AuthnContext>'
    "<saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:Password"
    "</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>"
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
    statements: str = AUTHN_STATEMENT,
    version: str = "2.0",
) -> AssertionFacts:
    xml = (
        f'<saml:Assertion xmlns:saml="{ASSERTION_NS}" ID="a1" Version="{version}" '
        f'IssueInstant="2030-01-01T00:00:00Z">{issuer}<saml:Subject>{name_id}{confirmations}'
        f"</saml:Subject>{conditions}{statements}</saml:Assertion>"
    )
    return read_assertion(etree.fromstring(xml))


def _check(assertion: AssertionFacts, expected: BrowserSsoExpectations = EXPECTED) -> datetime:
    return check_assertion(assertion, expected)


def _response(
    attributes: str = f'Destination="{ACS}" InResponseTo="{REQUEST}"',
    signed: bool = False,
    issued: str = "2030-01-01T00:00:00Z",
) -> ResponseFacts:
    signature = (
        '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo/>'
        "<ds:SignatureValue/></ds:Signature>"
        if signed
        else ""
    )
    xml = (
        f'<samlp:Response xmlns:samlp="{PROTOCOL_NS}" xmlns:saml="{ASSERTION_NS}" ID="r1" '
        f'Version="2.0" IssueInstant="{issued}" {attributes}>'
        f"<saml:Issuer>{IDP}</saml:Issuer>{signature}<samlp:Status><samlp:StatusCode "
        'Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:Response>'
    )
    return read_response(etree.fromstring(xml))


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


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"version": "1.1"}, "assertion Version is not 2.0"),
        ({"statements": ""}, "0 AuthnStatements instead of one"),
        ({"statements": AUTHN_STATEMENT * 2}, "2 AuthnStatements instead of one"),
        (
            {
                "conditions": CONDITIONS.replace(
                    "</saml:Conditions>",
                    '<saml:Condition xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                    'xsi:type="saml:Unknown"/></saml:Conditions>',
                )
            },
            "a Condition of an unknown type",
        ),
    ],
    ids=["version", "no_authn_statement", "two_authn_statements", "unknown_condition"],
)
def test_assertion_form(changes: dict[str, str], rule: str) -> None:
    with _refused(rule):
        _check(_assertion(**changes))


def test_a_response_in_another_version_is_refused() -> None:
    response = _response()
    with _refused("Response Version is not 2.0"):
        check_response(ResponseFacts(**{**response.__dict__, "version": "1.0"}), EXPECTED)


def _at(minutes: float) -> datetime:
    """An instant this many minutes after the assertions' 2030-01-01T00:00:00Z."""
    return datetime(2030, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)


def test_times_inside_every_window_pass() -> None:
    check_times(_response(), _assertion(), _at(1), 60)
    check_times(_response(), _assertion(), _at(-0.5), 60)  # within the skew of NotBefore


@pytest.mark.parametrize(
    ("now", "assertion", "rule"),
    [
        (_at(6.5), _assertion(), "SubjectConfirmationData expired"),
        (_at(10.5), _assertion(), "expired"),
        (_at(-2), _assertion(), "Conditions not yet valid"),
        (
            _at(1),
            _assertion(
                conditions=CONDITIONS.replace("NotBefore=", 'NotBefore="2030-01-01T00:10:00Z" x=')
            ),
            "Conditions NotBefore is not before its NotOnOrAfter",
        ),
        (
            _at(1),
            _assertion(
                confirmations=CONFIRMATION.replace(
                    "<saml:SubjectConfirmationData ",
                    '<saml:SubjectConfirmationData NotBefore="2030-01-01T00:03:00Z" ',
                )
            ),
            "SubjectConfirmationData not yet valid",
        ),
        (
            _at(1),
            _assertion(
                statements=AUTHN_STATEMENT.replace(
                    "<saml:AuthnStatement ",
                    '<saml:AuthnStatement SessionNotOnOrAfter="2030-01-01T00:00:00Z" ',
                )
            ),
            "session expired",
        ),
        (
            _at(1),
            _assertion(confirmations=CONFIRMATION.replace("2030-01-01T00:05:00Z", "tomorrow")),
            "unreadable instant",
        ),
    ],
    ids=[
        "confirmation_expired",
        "conditions_expired",
        "not_yet_valid",
        "empty_window",
        "confirmation_not_yet_valid",
        "session_over",
        "unreadable",
    ],
)
def test_time_windows(now: datetime, assertion: AssertionFacts, rule: str) -> None:
    with _refused(rule):
        check_times(_response(issued="2029-12-31T23:50:00Z"), assertion, now, 60)


def test_the_response_must_have_been_issued_lately() -> None:
    with _refused("Response issued in the future"):
        check_times(_response(issued="2030-01-01T00:02:00Z"), _assertion(), _at(0.5), 60)
    with _refused("Response issued more than a day ago"):
        check_times(_response(issued="2029-12-30T00:00:00Z"), _assertion(), _at(1), 60)


def test_instants_are_read_as_xs_date_time_only() -> None:
    assert instant("2030-01-01T00:00:00Z") == datetime(2030, 1, 1, tzinfo=UTC)
    assert instant("2030-01-01T02:00:00.1234567+02:00") == datetime(
        2030, 1, 1, 0, 0, 0, 123456, tzinfo=UTC
    )
    assert instant("2030-01-01T00:00:00") == datetime(2030, 1, 1, tzinfo=UTC)
    for unreadable in ("2030-01-01", "20300101T000000Z", "2030-01-01 00:00:00Z", "tomorrow", ""):
        with _refused("unreadable instant"):
            instant(unreadable)
