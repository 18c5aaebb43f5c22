"""From a SCIM user to the login subject it stands for.

A login turns the IdP's value into a subject one way (adapter.oidc.relying_party,
adapter.saml.identity); the value `subject_attribute` names is turned into one the same way,
so that the user an IdP provisions and the person who signs in are one link.
"""

from __future__ import annotations

from typing import Any

from adapter.core.policy import ProvisioningPolicy

MAX_SUBJECT_LENGTH = 512


def subject_value(user: Any, policy: ProvisioningPolicy) -> str | None:
    """The raw value of the subject attribute, or None when the user has none."""
    value = user.external_id if policy.subject_attribute == "externalId" else user.user_name
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


def login_subject(value: str | None, *, name_id_issuer: str | None) -> str | None:
    """The subject a login would have. `name_id_issuer`: the IdP's entity id when the
    connection keys logins on the SAML NameID (qualified by its IdP, as a login's is)."""
    if value is None:
        return None
    subject = value if name_id_issuer is None else f"{name_id_issuer}!{value}"
    return subject if len(subject) <= MAX_SUBJECT_LENGTH else None
