"""SCIM resources as Okta and Entra ID send them, read and patched with scim2-models."""

from __future__ import annotations

from typing import Any

import pytest

from adapter.core.policy import ProvisioningPolicy
from adapter.scim.queries import ExactMatch, read_query
from adapter.scim.resources import (
    GroupResource,
    ScimError,
    UserResource,
    patch_resource,
    read_group,
    read_user,
)
from adapter.scim.subjects import login_subject, subject_value

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": list(operations)}


def test_okta_test_addresses_are_kept_as_given() -> None:
    user = read_user(
        {"schemas": [USER], "userName": "a@okta.local", "emails": [{"value": "a@okta.local"}]}
    )
    assert user.emails[0].value == "a@okta.local"


def test_entra_string_booleans_and_capitalised_ops() -> None:
    user = read_user({"schemas": [USER], "userName": "u", "active": True})
    assert patch_resource(
        patch({"op": "Replace", "path": "active", "value": "False"}), user, resource_id="1"
    )
    assert user.active is False


def test_entra_replace_on_a_missing_work_email_adds_it() -> None:
    user = read_user({"schemas": [USER], "userName": "u"})
    patch_resource(
        patch({"op": "Replace", "path": 'emails[type eq "work"].value', "value": "u@x.example"}),
        user,
        resource_id="1",
    )
    assert [(e.type, e.value) for e in user.emails] == [("work", "u@x.example")]


def test_entra_manager_as_a_bare_id() -> None:
    user = read_user({"schemas": [USER, ENTERPRISE], "userName": "u"})
    patch_resource(
        patch({"op": "Add", "path": f"{ENTERPRISE}:manager", "value": "boss-id"}),
        user,
        resource_id="1",
    )
    assert user[ENTERPRISE].manager.value == "boss-id"


def test_entra_member_removal_with_a_value_array() -> None:
    group = read_group(
        {"schemas": [GROUP], "displayName": "G", "members": [{"value": "a"}, {"value": "b"}]}
    )
    patch_resource(
        patch({"op": "Remove", "path": "members", "value": [{"$ref": None, "value": "a"}]}),
        group,
        resource_id="g",
    )
    assert [m.value for m in group.members] == ["b"]


def test_okta_group_rename_carries_the_groups_own_id() -> None:
    group = read_group({"schemas": [GROUP], "displayName": "Old"})
    patch_resource(
        patch({"op": "replace", "value": {"id": "g1", "displayName": "New"}}),
        group,
        resource_id="g1",
    )
    assert group.display_name == "New"
    # Another id in the value is an attempt to change the id: refused.
    with pytest.raises(ScimError):
        patch_resource(
            patch({"op": "replace", "value": {"id": "other", "displayName": "X"}}),
            group,
            resource_id="g1",
        )


@pytest.mark.parametrize(
    "body",
    [
        {"Operations": []},
        {"schemas": [PATCH]},
        {"schemas": [PATCH], "Operations": [{"op": "explode", "path": "active", "value": 1}]},
        {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active["}]},
        ["not", "an", "object"],
    ],
)
def test_malformed_patches_are_scim_errors(body: Any) -> None:
    user = read_user({"schemas": [USER], "userName": "u"})
    with pytest.raises(ScimError) as refused:
        patch_resource(body, user, resource_id="1")
    assert refused.value.status == 400


def test_user_name_is_required_and_read_only_fields_are_the_servers() -> None:
    with pytest.raises(ScimError):
        read_user({"schemas": [USER], "displayName": "no userName"})
    user = read_user({"schemas": [USER], "userName": "u", "id": "client-chosen", "meta": {"x": 1}})
    assert user.id is None and user.meta is None


def test_the_filters_the_idps_send_are_answered_from_an_index() -> None:
    exact = read_query({"filter": 'userName eq "A@B"'}, UserResource, "users").exact
    assert exact == ExactMatch("username", "A@B")
    assert read_query({"filter": 'externalId eq "x"'}, UserResource, "users").exact == ExactMatch(
        "externalid", "x"
    )
    assert read_query(
        {"filter": 'displayName eq "G"'}, GroupResource, "groups"
    ).exact == ExactMatch("displayname", "G")
    # Anything else is evaluated by the library.
    assert read_query({"filter": 'userName sw "A"'}, UserResource, "users").exact is None
    assert read_query({"filter": 'emails.value eq "a"'}, UserResource, "users").exact is None


def test_paging_is_bounded() -> None:
    query = read_query({"startIndex": "0", "count": "100000"}, UserResource, "users")
    assert (query.start_index, query.count) == (1, 200)
    with pytest.raises(ScimError):
        read_query({"count": "many"}, UserResource, "users")


def test_the_subject_is_made_as_a_login_makes_it() -> None:
    user = read_user({"schemas": [USER], "userName": "  jane@x  ", "externalId": "00u1"})
    by_external = ProvisioningPolicy(subject_attribute="externalId")
    by_user_name = ProvisioningPolicy(subject_attribute="userName")
    assert login_subject(subject_value(user, by_external), name_id_issuer=None) == "00u1"
    assert login_subject(subject_value(user, by_user_name), name_id_issuer=None) == "jane@x"
    assert (
        login_subject(subject_value(user, by_user_name), name_id_issuer="https://idp/meta")
        == "https://idp/meta!jane@x"
    )
    nameless = read_user({"schemas": [USER], "userName": "u"})
    assert subject_value(nameless, by_external) is None
    assert login_subject("x" * 600, name_id_issuer=None) is None
