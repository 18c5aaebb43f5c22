"""What the Web Browser SSO Profile demands of a response whose signatures have been verified.

Every rule the ACS promises beyond the signatures lives here, stated strictly: libraries
(pysaml2 among them) check several only when the element they concern is present, or more
loosely than the standards state them. Each rule is named after the section that states it
(Core: saml-core-2.0-os, Profiles: saml-profiles-2.0-os, Bindings: saml-bindings-2.0-os), and
runs before anything is linked or created.

Pure: takes the facts read from the verified elements (`response_facts`), what we expect and
the time; gives the instant after which the assertion is no longer usable, or raises
NotVerified with the rule that failed in `detail` (logged, never shown).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from adapter.errors import NotVerified
from adapter.saml.response_facts import (
    AssertionFacts,
    Confirmation,
    Issuer,
    NameId,
    ResponseFacts,
)

BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
NAMEID_FORMAT_ENTITY = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
# Core 3.2.2 leaves how old a response may be to the SP; its assertion's own windows bound
# how long it is usable, this only refuses the absurd.
MAX_RESPONSE_AGE_SECONDS = 24 * 3600
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?", re.ASCII
)


def refuse(rule: str) -> NotVerified:
    return NotVerified(f"saml: {rule}", code="saml_response_invalid")


@dataclass(frozen=True)
class BrowserSsoExpectations:
    sp_entity_id: str
    acs_url: str
    idp_entity_id: str
    # None for an IdP-initiated response: then nothing in it may claim to answer a request.
    outstanding_request_id: str | None


def instant(value: str) -> datetime:
    # xs:dateTime (Core 1.3.3 demands UTC; an offset is converted, none is read as UTC). The
    # pattern first: Python's ISO reader also takes forms xs:dateTime does not allow.
    if not _DATE_TIME.fullmatch(value):
        raise refuse("unreadable instant")
    try:
        read = datetime.fromisoformat(value)
    except ValueError:
        raise refuse("unreadable instant") from None
    return read.replace(tzinfo=UTC) if read.tzinfo is None else read.astimezone(UTC)


def _check_issuer(issuer: Issuer | None, what: str, expected: BrowserSsoExpectations) -> None:
    # Profiles 4.1.4.2: the Issuer is the IdP, in the entity format or with none stated.
    if issuer is None or issuer.value != expected.idp_entity_id:
        raise refuse(f"{what} issuer is not the IdP")
    if issuer.format not in (None, NAMEID_FORMAT_ENTITY):
        raise refuse(f"{what} issuer format is not entity")


def check_response(response: ResponseFacts, expected: BrowserSsoExpectations) -> None:
    """The samlp:Response element."""
    # Core 3.2.2: this profile speaks SAML 2.0 only.
    if response.version != "2.0":
        raise refuse("Response Version is not 2.0")
    # Bindings 3.5.5.2: a signed message names its Destination, which must be this ACS. An
    # unsigned Response may omit it: nothing protects an unsigned attribute, so demanding it
    # would stop no one, and the signed Recipient (rule 4.1.4.2 below) already binds the
    # assertion to this ACS. Present, signed or not, it must be this ACS.
    if response.signed and not response.destination:
        raise refuse("signed Response without Destination")
    if response.destination is not None and response.destination != expected.acs_url:
        raise refuse("Destination is not this ACS")
    _check_issuer(response.issuer, "response", expected)
    # Core 3.2.2: InResponseTo names the request this answers, and only a request we made.
    if expected.outstanding_request_id is None and response.in_response_to:
        raise refuse("Response InResponseTo without an outstanding request")
    if (
        expected.outstanding_request_id is not None
        and response.in_response_to != expected.outstanding_request_id
    ):
        raise refuse("Response InResponseTo is not this browser's request")


def _check_audiences(assertion: AssertionFacts, expected: BrowserSsoExpectations) -> None:
    # Profiles 4.1.4.2: the assertion carries an AudienceRestriction naming this SP.
    # Core 2.5.1.4: with several AudienceRestriction elements, every one must name us (one
    # restriction's Audience list is a choice; the restrictions together are all required).
    if not assertion.audience_restrictions:
        raise refuse("no AudienceRestriction")
    for audiences in assertion.audience_restrictions:
        if expected.sp_entity_id not in audiences:
            raise refuse("an AudienceRestriction does not name this SP")
    # Core 2.5.1: a condition the SP does not understand makes the assertion indeterminate.
    if assertion.unknown_conditions:
        raise refuse("a Condition of an unknown type")


def _check_name_id(name_id: NameId | None, expected: BrowserSsoExpectations) -> None:
    # Core 2.2.2/2.2.3: NameQualifier names the IdP that issued the identifier and
    # SPNameQualifier the SP it was issued for; either naming someone else means the
    # identifier is another party's.
    if name_id is None:
        return
    if name_id.sp_name_qualifier and name_id.sp_name_qualifier != expected.sp_entity_id:
        raise refuse("NameID SPNameQualifier names another SP")
    if name_id.name_qualifier and name_id.name_qualifier != expected.idp_entity_id:
        raise refuse("NameID NameQualifier names another IdP")


def _check_confirmations(
    confirmations: tuple[Confirmation, ...], expected: BrowserSsoExpectations
) -> list[datetime]:
    # Profiles 4.1.4.2: a bearer SubjectConfirmation whose data names this ACS as Recipient
    # and a NotOnOrAfter bounding delivery, and, when answering a request, that request's ID
    # as InResponseTo. Other methods are refused: this ACS only takes bearer assertions.
    # Every confirmation the IdP sent must meet this, not only one of them.
    # (No reason below puts a word after "bearer": redaction would take it for a credential.)
    if not confirmations:
        raise refuse("no SubjectConfirmation")
    windows = []
    for confirmation in confirmations:
        if confirmation.method != BEARER:
            raise refuse(f"SubjectConfirmation method {confirmation.method} is not bearer")
        if not confirmation.has_data:
            raise refuse("SubjectConfirmation without data")
        if confirmation.recipient != expected.acs_url:
            raise refuse("confirmation Recipient is not this ACS")
        if not confirmation.not_on_or_after:
            raise refuse("SubjectConfirmationData without NotOnOrAfter")
        windows.append(instant(confirmation.not_on_or_after))
        # A response captured on its way to one browser, its unsigned InResponseTo removed,
        # must not pass as IdP-initiated elsewhere: the signed one here still names a request.
        if expected.outstanding_request_id is None and confirmation.in_response_to:
            raise refuse("confirmation InResponseTo without an outstanding request")
        if (
            expected.outstanding_request_id is not None
            and confirmation.in_response_to != expected.outstanding_request_id
        ):
            raise refuse("confirmation InResponseTo is not this browser's request")
    return windows


def check_assertion(assertion: AssertionFacts, expected: BrowserSsoExpectations) -> datetime:
    """The verified assertion, its NameID decrypted. Returns the latest instant at which any
    of its windows closes: until then the assertion is replayable, so the replay ledger keeps
    it at least that long."""
    # Core 2.3.3: a SAML 2.0 assertion; Profiles 4.1.4.2: with a Subject and exactly the one
    # AuthnStatement this SP acts on.
    if assertion.version != "2.0":
        raise refuse("assertion Version is not 2.0")
    _check_issuer(assertion.issuer, "assertion", expected)
    if not assertion.has_subject:
        raise refuse("assertion without a subject")
    if assertion.authn_statements != 1:
        raise refuse(f"{assertion.authn_statements} AuthnStatements instead of one")
    _check_audiences(assertion, expected)
    _check_name_id(assertion.name_id, expected)
    windows = _check_confirmations(assertion.confirmations, expected)
    if assertion.not_on_or_after:
        windows.append(instant(assertion.not_on_or_after))
    return max(windows)


def _check_window(
    not_before: str | None, not_on_or_after: str | None, what: str, now: datetime, skew: float
) -> None:
    # Core 2.5.1.2 and 2.4.1.2: valid from NotBefore (inclusive) until NotOnOrAfter
    # (exclusive), each widened by the allowed clock skew; an empty window is no window.
    start = instant(not_before) if not_before else None
    end = instant(not_on_or_after) if not_on_or_after else None
    if start is not None and end is not None and start >= end:
        raise refuse(f"{what} NotBefore is not before its NotOnOrAfter")
    if start is not None and now.timestamp() + skew < start.timestamp():
        raise refuse(f"{what} not yet valid")
    if end is not None and now.timestamp() - skew >= end.timestamp():
        raise refuse(f"{what} expired")


def check_times(
    response: ResponseFacts, assertion: AssertionFacts, now: datetime, skew_seconds: float
) -> None:
    """Every time window in the response, at `now`, allowing `skew_seconds` either way."""
    if not response.issue_instant:
        raise refuse("Response without IssueInstant")
    issued = instant(response.issue_instant).timestamp()
    if issued > now.timestamp() + skew_seconds:
        raise refuse("Response issued in the future")
    if issued < now.timestamp() - skew_seconds - MAX_RESPONSE_AGE_SECONDS:
        raise refuse("Response issued more than a day ago")
    _check_window(assertion.not_before, assertion.not_on_or_after, "Conditions", now, skew_seconds)
    for confirmation in assertion.confirmations:
        _check_window(
            confirmation.not_before,
            confirmation.not_on_or_after,
            "SubjectConfirmationData",
            now,
            skew_seconds,
        )
    # Core 2.7.2: past SessionNotOnOrAfter the IdP has ended the session this asserts.
    if assertion.session_not_on_or_after:
        _check_window(None, assertion.session_not_on_or_after, "session", now, skew_seconds)
