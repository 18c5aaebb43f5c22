"""A connection's rules as the core reads them: frozen, already validated, free of any schema
library.

The admin API's bodies (`adapter.schemas`) are the shape an operator writes; these are the
shape a login obeys. `adapter.services.configuration` builds one from the other, so that the
core and the protocol packages never depend on how configuration is submitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class GroupRule:
    """Members of `group` (as the IdP names it) join customer group `customer_group_id`."""

    group: str
    customer_group_id: int


@dataclass(frozen=True)
class CompanyRule:
    """People whose company key is `key` belong to B2B Edition company `company_id`."""

    key: str
    company_id: int


@dataclass(frozen=True)
class RoleRule:
    """Members of `group` get a built-in B2B role (`role`) or a custom one
    (`company_role_id`): exactly one of the two is set."""

    group: str
    role: Literal["admin", "senior_buyer", "junior_buyer"] | None = None
    company_role_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class B2bPolicy:
    """How a person signing in through the connection lands in a B2B Edition company."""

    company_from: Literal["email_domain", "tenant", "claim", "fixed"] = "email_domain"
    company_claim: str | None = None
    companies: tuple[CompanyRule, ...] = ()
    create_companies: bool = False
    company_customer_group_id: int | None = None
    role_mappings: tuple[RoleRule, ...] = ()
    default_role: Literal["admin", "senior_buyer", "junior_buyer"] = "junior_buyer"


DeactivationAction = Literal[
    "block", "customer_group", "remove_channels", "b2b_deactivate", "delete_customer"
]


@dataclass(frozen=True, kw_only=True)
class ProvisioningPolicy:
    """What the connection's SCIM endpoint does with the people an IdP provisions."""

    # The SCIM attribute that carries the login subject.
    subject_attribute: Literal["externalId", "userName"] = "externalId"
    # An active user gets their customer and link at once, not at their first login.
    provision_customers: bool = False
    # `block` is always among them.
    on_deactivate: tuple[DeactivationAction, ...] = ("block",)
    deactivated_customer_group_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class ConnectionPolicy:
    """What every connection decides, whatever its protocol."""

    channel_ids: tuple[int, ...]
    create_customers: bool = True
    link_by_email: bool = False
    customer_group_id: int | None = None
    group_mappings: tuple[GroupRule, ...] = ()
    profile_sync: Literal["on_create", "every_login"] = "on_create"
    # An existing customer who may not use the requested channel: add the channel (true) or
    # refuse (false).
    add_channel_to_customer: bool = False
    # The operator vouches that the IdP only asserts e-mail addresses it verified.
    email_verified: bool = False
    # B2B Edition: where its people land as buyers (None: plain customers).
    b2b: B2bPolicy | None = None
    # SCIM provisioning (None: the connection has no SCIM endpoint settings; tokens still work
    # with the defaults).
    scim: ProvisioningPolicy | None = None


@dataclass(frozen=True, kw_only=True)
class OidcPolicy(ConnectionPolicy):
    protocol: Literal["oidc"] = "oidc"
    issuer: str
    client_id: str
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    subject_claim: str = "sub"
    allowed_tenants: tuple[str, ...] | None = None
    groups_claim: str | None = None
    trusted_audiences: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class SamlPolicy(ConnectionPolicy):
    protocol: Literal["saml"] = "saml"
    idp_metadata_xml: str | None = None
    idp_metadata_url: str | None = None
    subject_attribute: str | None = None
    email_attribute: str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
    first_name_attribute: str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"
    last_name_attribute: str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"
    allow_idp_initiated: bool = False
    sign_requests: bool = False
    allow_sha1: bool = False
    groups_attribute: str | None = None
