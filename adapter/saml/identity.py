"""From a verified assertion to the one identity record the rest of the adapter consumes."""

from __future__ import annotations

from adapter.core.identity import Identity
from adapter.core.policy import SamlPolicy
from adapter.errors import NotVerified
from adapter.saml.service_provider import NAMEID_FORMAT_PERSISTENT, VerifiedAssertion

MAX_SUBJECT_LENGTH = 512


def _first(attributes: dict[str, list[str]], name: str | None) -> str | None:
    if not name:
        return None
    values = [v.strip() for v in attributes.get(name, []) if v and v.strip()]
    return values[0] if values else None


def identity_from_assertion(assertion: VerifiedAssertion, body: SamlPolicy) -> Identity:
    if body.subject_attribute:
        values = assertion.attributes.get(body.subject_attribute, [])
        if len(values) != 1 or not values[0].strip():
            raise NotVerified(
                f"subject attribute {body.subject_attribute!r} missing or not single-valued",
                code="subject_missing",
            )
        subject = values[0].strip()
    else:
        # Only a persistent NameID identifies a person over time; a transient one changes at
        # every login and an e-mail NameID can be re-assigned. Qualified by the IdP, so a
        # connection pointed at another IdP can never match an old link.
        if assertion.name_id_format != NAMEID_FORMAT_PERSISTENT or not assertion.name_id:
            raise NotVerified(
                f"NameID format {assertion.name_id_format} is not persistent",
                code="subject_missing",
            )
        subject = f"{assertion.issuer}!{assertion.name_id}"
    if len(subject) > MAX_SUBJECT_LENGTH:
        raise NotVerified("subject too long", code="subject_missing")
    groups = tuple(
        v for v in assertion.attributes.get(body.groups_attribute or "", []) if v.strip()
    )
    return Identity(
        issuer=assertion.issuer,
        subject=subject,
        email=_first(assertion.attributes, body.email_attribute),
        email_verified=False,  # SAML carries no such claim: the connection vouches, or not
        first_name=_first(assertion.attributes, body.first_name_attribute),
        last_name=_first(assertion.attributes, body.last_name_attribute),
        groups=groups,
        claims={"name_id": assertion.name_id, "attributes": assertion.attributes},
    )
