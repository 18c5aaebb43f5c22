"""What the BigCommerce customer record says, derived from the identity."""

from __future__ import annotations

import pytest

from adapter.core.customer_profile import MAX_NAME_LENGTH, customer_group, customer_names
from adapter.core.identity import Identity
from adapter.core.policy import GroupRule, OidcPolicy, SamlPolicy


def identity(**fields: object) -> Identity:
    return Identity(issuer="https://op.example", subject="u1", **fields)  # type: ignore[arg-type]


def oidc(**fields: object) -> OidcPolicy:
    return OidcPolicy(
        issuer="https://op.example",
        client_id="client",
        channel_ids=(1,),
        **fields,  # type: ignore[arg-type]
    )


def test_given_names_are_kept() -> None:
    assert customer_names(identity(first_name="Jane", last_name="Doe")) == ("Jane", "Doe")


def test_names_have_whitespace_collapsed() -> None:
    who = identity(first_name="  Mary \t Ann ", last_name=" van\nDyke ")
    assert customer_names(who) == ("Mary Ann", "van Dyke")


def test_names_are_cut_to_the_maximum_length() -> None:
    first, last = customer_names(identity(first_name="F" * 300, last_name="L" * 300))
    assert (len(first), len(last)) == (MAX_NAME_LENGTH, MAX_NAME_LENGTH)


@pytest.mark.parametrize(
    ("email", "expected_first"),
    [
        ("jane.doe@example.com", "Jane Doe"),
        ("john_smith@example.com", "John Smith"),
        ("x@example.com", "X"),
        ("@example.com", "Customer"),
        (None, "Customer"),
    ],
    ids=["dotted-local-part", "underscored-local-part", "short", "empty-local-part", "no-email"],
)
def test_missing_first_name_falls_back_on_the_email_local_part(
    email: str | None, expected_first: str
) -> None:
    assert customer_names(identity(email=email)) == (expected_first, "-")


def test_blank_first_name_counts_as_missing() -> None:
    assert customer_names(identity(first_name="   ", email="ann@example.com", last_name="Lee")) == (
        "Ann",
        "Lee",
    )


def test_missing_last_name_becomes_a_neutral_dash() -> None:
    assert customer_names(identity(first_name="Jane", last_name=" ")) == ("Jane", "-")


def test_first_matching_group_mapping_wins_in_mapping_order() -> None:
    connection = oidc(
        customer_group_id=1,
        group_mappings=(
            GroupRule(group="wholesale", customer_group_id=5),
            GroupRule(group="staff", customer_group_id=6),
        ),
    )
    # The identity lists "staff" first, but the connection's order decides.
    assert customer_group(identity(groups=("staff", "wholesale")), connection) == 5
    assert customer_group(identity(groups=("staff",)), connection) == 6


def test_without_matching_mapping_the_connection_default_applies() -> None:
    connection = oidc(
        customer_group_id=3, group_mappings=(GroupRule(group="staff", customer_group_id=6),)
    )
    assert customer_group(identity(groups=("Staff", "guests")), connection) == 3
    assert customer_group(identity(), connection) == 3


def test_without_mapping_or_default_no_group_is_set() -> None:
    assert customer_group(identity(groups=("staff",)), oidc()) is None


def test_saml_connections_map_groups_the_same_way() -> None:
    connection = SamlPolicy(
        channel_ids=(1,),
        group_mappings=(GroupRule(group="cn=buyers,ou=groups", customer_group_id=9),),
    )
    assert customer_group(identity(groups=("cn=buyers,ou=groups",)), connection) == 9
