"""Which B2B Edition company and role a person gets: pure rules on the identity and the
connection's `b2b` section.

B2B Edition numbers its built-in roles 0 (admin), 1 (senior buyer) and 2 (junior buyer); a
custom role is named by its `companyRoleId` instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapter.core.customer_profile import email_is_verified
from adapter.core.identity import Identity
from adapter.core.policy import B2bPolicy, ConnectionPolicy, SamlPolicy

BUILT_IN_ROLES = {"admin": 0, "senior_buyer": 1, "junior_buyer": 2}
MAX_COMPANY_KEY_LENGTH = 200  # B2B Edition's limit on a company name, which a new one takes


class NoCompanyKey(ValueError):
    """The identity carries nothing the connection can name a company by."""


@dataclass(frozen=True)
class Role:
    """A built-in role (`role`), or a custom role (`company_role_id`, with B2B Edition's
    `role` left to it)."""

    role: int
    company_role_id: int | None = None

    @property
    def label(self) -> str:
        if self.company_role_id is not None:
            return f"company_role:{self.company_role_id}"
        return next(name for name, number in BUILT_IN_ROLES.items() if number == self.role)


def company_key(identity: Identity, connection: ConnectionPolicy, b2b: B2bPolicy) -> str:
    """The key that names the person's company, as `company_from` says to find it."""
    if b2b.company_from == "fixed":
        return b2b.companies[0].key
    if b2b.company_from == "email_domain":
        # Only a verified address says where someone works: anyone can type any domain.
        if not identity.email or not email_is_verified(identity, connection):
            raise NoCompanyKey("no verified e-mail to take a company domain from")
        key = identity.email.rpartition("@")[2].strip().lower()
    elif b2b.company_from == "tenant":
        # SAML: the IdP itself; OIDC: the Entra ID tenant the token was issued in.
        if isinstance(connection, SamlPolicy):
            key = identity.issuer
        else:
            tenant = identity.claims.get("tid")
            if not isinstance(tenant, str):
                raise NoCompanyKey("the ID token carries no tid")
            key = tenant.strip()
    else:
        key = _claim_value(identity, connection, b2b.company_claim or "")
    if not key or len(key) > MAX_COMPANY_KEY_LENGTH:
        raise NoCompanyKey("the company key is empty or too long")
    return key


def _claim_value(identity: Identity, connection: ConnectionPolicy, name: str) -> str:
    if isinstance(connection, SamlPolicy):  # an attribute, with exactly one value
        values = identity.claims.get("attributes", {}).get(name, [])
        if len(values) != 1:
            raise NoCompanyKey(f"attribute {name!r} missing or not single-valued")
        return str(values[0]).strip()
    value = identity.claims.get(name)
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise NoCompanyKey(f"claim {name!r} missing or not a string")
    return str(value).strip()


def mapped_company(b2b: B2bPolicy, key: str) -> int | None:
    """The company the connection maps the key to (keys compare case-insensitively)."""
    wanted = key.casefold()
    return next((c.company_id for c in b2b.companies if c.key.casefold() == wanted), None)


def chosen_role(identity: Identity, b2b: B2bPolicy) -> Role:
    """The first role mapping among the person's groups, else the default role."""
    groups = set(identity.groups)
    for rule in b2b.role_mappings:
        if rule.group in groups:
            if rule.company_role_id is not None:
                return Role(
                    role=BUILT_IN_ROLES["junior_buyer"], company_role_id=rule.company_role_id
                )
            assert rule.role is not None
            return Role(role=BUILT_IN_ROLES[rule.role])
    return Role(role=BUILT_IN_ROLES[b2b.default_role])
