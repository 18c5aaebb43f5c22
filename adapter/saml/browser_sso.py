"""What the Web Browser SSO Profile demands of a response, checked after pysaml2 verified it.

pysaml2 checks the signatures and much of SAML 2.0, but several rules only when the element
they concern is present, or more loosely than the standards state them. Each rule here is
named after the section that states it (Core: saml-core-2.0-os, Profiles:
saml-profiles-2.0-os, Bindings: saml-bindings-2.0-os), and runs before anything is linked or
created.

Pure: takes the objects pysaml2 built from the elements it verified and what we expect; gives
the instant after which the assertion is no longer usable, or raises NotVerified with the rule
that failed in `detail` (logged, never shown).
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from saml2.time_util import str_to_time

from adapter.errors import NotVerified

BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
NAMEID_FORMAT_ENTITY = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"


def refuse(rule: str) -> NotVerified:
    return NotVerified(f"saml: {rule}", code="saml_response_invalid")


@dataclass(frozen=True)
class BrowserSsoExpectations:
    sp_entity_id: str
    acs_url: str
    idp_entity_id: str
    # None for an IdP-initiated response: then nothing in it may claim to answer a request.
    outstanding_request_id: str | None


def _instant(value: str) -> datetime:
    # Read the way pysaml2 read it when it checked the window, so both agree on the instant.
    try:
        return datetime.fromtimestamp(calendar.timegm(str_to_time(value)), UTC)
    except (AttributeError, ValueError, OverflowError):
        raise refuse("unreadable instant") from None


def _check_issuer(issuer: Any, what: str, expected: BrowserSsoExpectations) -> None:
    # Profiles 4.1.4.2: the Issuer is the IdP, in the entity format or with none stated.
    if issuer is None or (issuer.text or "").strip() != expected.idp_entity_id:
        raise refuse(f"{what} issuer is not the IdP")
    if issuer.format not in (None, NAMEID_FORMAT_ENTITY):
        raise refuse(f"{what} issuer format is not entity")


def check_response(response: Any, expected: BrowserSsoExpectations) -> None:
    """The Response element (samlp:Response as pysaml2 parsed it)."""
    # Bindings 3.5.5.2: a signed message names its Destination, which must be this ACS. An
    # unsigned Response may omit it: nothing protects an unsigned attribute, so demanding it
    # would stop no one, and the signed Recipient (rule 4.1.4.2 below) already binds the
    # assertion to this ACS. Present, signed or not, it must be this ACS.
    if response.signature is not None and not response.destination:
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


def _check_audiences(assertion: Any, expected: BrowserSsoExpectations) -> None:
    # Profiles 4.1.4.2: the assertion carries an AudienceRestriction naming this SP.
    # Core 2.5.1.4: with several AudienceRestriction elements, every one must name us (one
    # restriction's Audience list is a choice; the restrictions together are all required).
    conditions = assertion.conditions
    restrictions = conditions.audience_restriction if conditions is not None else []
    if not restrictions:
        raise refuse("no AudienceRestriction")
    for restriction in restrictions:
        audiences = {(a.text or "").strip() for a in restriction.audience or []}
        if expected.sp_entity_id not in audiences:
            raise refuse("an AudienceRestriction does not name this SP")


def _check_name_id(name_id: Any, expected: BrowserSsoExpectations) -> None:
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
    confirmations: Sequence[Any], expected: BrowserSsoExpectations
) -> list[datetime]:
    # Profiles 4.1.4.2: a bearer SubjectConfirmation whose data names this ACS as Recipient
    # and a NotOnOrAfter bounding delivery, and, when answering a request, that request's ID
    # as InResponseTo. Other methods are refused: this ACS only takes bearer assertions, and
    # pysaml2 runs no time check on them (and drops a holder-of-key without a key silently).
    # The list is the assertion's own, before pysaml2 kept only those it could confirm.
    # (No reason below puts a word after "bearer": redaction would take it for a credential.)
    if not confirmations:
        raise refuse("no SubjectConfirmation")
    windows = []
    for confirmation in confirmations:
        if confirmation.method != BEARER:
            raise refuse(f"SubjectConfirmation method {confirmation.method} is not bearer")
        data = confirmation.subject_confirmation_data
        if data is None:
            raise refuse("SubjectConfirmation without data")
        if data.recipient != expected.acs_url:
            raise refuse("confirmation Recipient is not this ACS")
        if not data.not_on_or_after:
            raise refuse("SubjectConfirmationData without NotOnOrAfter")
        windows.append(_instant(data.not_on_or_after))
        # A response captured on its way to one browser, its unsigned InResponseTo removed,
        # must not pass as IdP-initiated elsewhere: the signed one here still names a request.
        if expected.outstanding_request_id is None and data.in_response_to:
            raise refuse("confirmation InResponseTo without an outstanding request")
        if (
            expected.outstanding_request_id is not None
            and data.in_response_to != expected.outstanding_request_id
        ):
            raise refuse("confirmation InResponseTo is not this browser's request")
    return windows


def check_assertion(
    assertion: Any,
    name_id: Any,
    confirmations: Sequence[Any],
    expected: BrowserSsoExpectations,
) -> datetime:
    """The assertion pysaml2 verified, its (decrypted) NameID, and its SubjectConfirmations as
    the IdP sent them. Returns the latest instant at which any of its windows closes: until
    then the assertion is replayable, so the replay ledger keeps it at least that long."""
    _check_issuer(assertion.issuer, "assertion", expected)
    _check_audiences(assertion, expected)
    _check_name_id(name_id, expected)
    windows = _check_confirmations(confirmations, expected)
    if assertion.conditions.not_on_or_after:
        windows.append(_instant(assertion.conditions.not_on_or_after))
    return max(windows)
