"""Which company key, company and role a person gets (adapter/core/b2b.py)."""

from __future__ import annotations

import pytest

from adapter.core.b2b import NoCompanyKey, Role, chosen_role, company_key, mapped_company
from adapter.core.identity import Identity
from adapter.core.policy import B2bPolicy, CompanyRule, OidcPolicy, RoleRule, SamlPolicy

OIDC = OidcPolicy(channel_ids=(1,), issuer="https://op.example", client_id="c")
SAML = SamlPolicy(channel_ids=(1,))


def _person(**fields: object) -> Identity:
    base: dict[str, object] = {
        "issuer": "https://op.example",
        "subject": "s",
        "email": "Ada@Contoso.COM",
        "email_verified": True,
        "groups": ("engineering",),
        "claims": {"tid": "tenant-1", "org": "contoso"},
    }
    return Identity(**{**base, **fields})  # type: ignore[arg-type]


def test_the_email_domain_of_a_verified_address_is_the_key() -> None:
    assert company_key(_person(), OIDC, B2bPolicy()) == "contoso.com"


@pytest.mark.parametrize(
    "person", [_person(email_verified=False), _person(email=None)], ids=["unverified", "none"]
)
def test_no_verified_email_names_no_company(person: Identity) -> None:
    with pytest.raises(NoCompanyKey):
        company_key(person, OIDC, B2bPolicy())


def test_a_connection_that_vouches_for_its_emails_may_use_them() -> None:
    vouched = OidcPolicy(channel_ids=(1,), issuer="x", client_id="c", email_verified=True)
    assert company_key(_person(email_verified=False), vouched, B2bPolicy()) == "contoso.com"


def test_tenant_is_the_tid_for_oidc_and_the_idp_for_saml() -> None:
    tenant = B2bPolicy(company_from="tenant")
    assert company_key(_person(), OIDC, tenant) == "tenant-1"
    with pytest.raises(NoCompanyKey):
        company_key(_person(claims={}), OIDC, tenant)
    saml_person = _person(issuer="https://idp.example/metadata", claims={"attributes": {}})
    assert company_key(saml_person, SAML, tenant) == "https://idp.example/metadata"


def test_a_claim_or_a_single_valued_attribute_names_the_company() -> None:
    by_claim = B2bPolicy(company_from="claim", company_claim="org")
    assert company_key(_person(), OIDC, by_claim) == "contoso"
    with pytest.raises(NoCompanyKey):
        company_key(_person(claims={"org": ["a", "b"]}), OIDC, by_claim)
    with pytest.raises(NoCompanyKey):
        company_key(_person(claims={"org": True}), OIDC, by_claim)
    attributes = {"attributes": {"org": ["fabrikam"]}}
    assert company_key(_person(claims=attributes), SAML, by_claim) == "fabrikam"
    two = {"attributes": {"org": ["a", "b"]}}
    with pytest.raises(NoCompanyKey):
        company_key(_person(claims=two), SAML, by_claim)


def test_fixed_takes_the_single_company() -> None:
    fixed = B2bPolicy(company_from="fixed", companies=(CompanyRule("everyone", 7),))
    assert company_key(_person(email=None), OIDC, fixed) == "everyone"


def test_keys_map_to_companies_case_insensitively() -> None:
    b2b = B2bPolicy(companies=(CompanyRule("Contoso.com", 12),))
    assert mapped_company(b2b, "contoso.COM") == 12
    assert mapped_company(b2b, "contoso.co") is None


def test_the_first_matching_group_gives_the_role_else_the_default() -> None:
    rules = (
        RoleRule("finance", role="admin"),
        RoleRule("engineering", company_role_id=31),
        RoleRule("engineering", role="senior_buyer"),
    )
    assert chosen_role(_person(), B2bPolicy(role_mappings=rules)) == Role(2, 31)
    assert chosen_role(_person(groups=()), B2bPolicy(role_mappings=rules)) == Role(2)
    assert chosen_role(_person(groups=("finance",)), B2bPolicy(role_mappings=rules)) == Role(0)
    assert chosen_role(_person(groups=()), B2bPolicy(default_role="senior_buyer")) == Role(1)
    assert Role(2, 31).label == "company_role:31" and Role(1).label == "senior_buyer"
