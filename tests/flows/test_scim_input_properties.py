"""Whatever an IdP (or anyone holding a token) sends to the SCIM endpoint, the answer is a
SCIM document or a SCIM error with a reference id, never a server error: made-up users,
groups, PATCH bodies, filters and paging, near the shapes Okta and Entra ID send and far
from them."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.flows.test_scim_okta import PATCH, USER, scim_client
from tests.support.world import World

EXAMPLES = 60
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["True", "False", "", "work", "ada@example.com", "a@okta.local"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
user_keys = st.sampled_from(
    [
        "schemas",
        "userName",
        "externalId",
        "active",
        "emails",
        "name",
        "displayName",
        "groups",
        "password",
        "id",
        "meta",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "phoneNumbers",
    ]
)
users = st.one_of(
    st.fixed_dictionaries(
        {"schemas": st.just([USER]), "userName": st.text(min_size=1, max_size=20)},
        optional={k: json_values for k in ["active", "emails", "name", "externalId", "groups"]},
    ),
    st.dictionaries(user_keys, json_values, max_size=6),
    json_values,
)
paths = st.one_of(
    st.sampled_from(
        [
            "active",
            "name.givenName",
            'emails[type eq "work"].value',
            "emails[type eq ",
            "members",
            'members[value eq "x"]',
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            "id",
            "meta.created",
            "",
        ]
    ),
    st.text(max_size=20),
)
operations = st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "Replace", "remove", "REMOVE", "copy", ""])},
    optional={"path": paths, "value": json_values},
)
patches = st.one_of(
    st.fixed_dictionaries(
        {"schemas": st.just([PATCH]), "Operations": st.lists(operations, max_size=3)}
    ),
    json_values,
)
filters = st.one_of(
    st.sampled_from(
        [
            'userName eq "ada@example.com"',
            "userName eq ada",
            'emails[type eq "work"].value co "@"',
            'active eq true and userName sw "a"',
            "not (userName pr)",
            'meta.lastModified gt "2011-05-13T04:42:34Z"',
            "((((",
            "",
        ]
    ),
    st.text(max_size=30),
)


@pytest.fixture
def scim(world: World) -> httpx.Client:
    world.put_connection(email_verified=True, scim={"provision_customers": True})
    return scim_client(world)


def check(answer: httpx.Response) -> None:
    assert answer.status_code < 500 or answer.status_code in (502, 503), answer.text
    if answer.status_code == 204:
        return
    assert answer.headers["content-type"].startswith("application/scim+json"), answer.text
    body = answer.json()
    if answer.status_code >= 400:
        assert body["schemas"] == [ERROR] and "reference" in body["detail"]


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(user=users, patch=patches, again=users)
def test_users_of_any_shape(scim: httpx.Client, user: Any, patch: Any, again: Any) -> None:
    created = scim.post("/Users", content=json.dumps(user))
    check(created)
    if created.status_code != 201:
        return
    user_id = created.json()["id"]
    check(scim.patch(f"/Users/{user_id}", content=json.dumps(patch)))
    check(scim.put(f"/Users/{user_id}", content=json.dumps(again)))
    check(scim.get(f"/Users/{user_id}"))
    check(scim.delete(f"/Users/{user_id}"))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    group=st.dictionaries(
        st.sampled_from(["schemas", "displayName", "members", "externalId", "id"]),
        json_values,
        max_size=4,
    ),
    patch=patches,
)
def test_groups_of_any_shape(scim: httpx.Client, group: Any, patch: Any) -> None:
    created = scim.post("/Groups", content=json.dumps(group))
    check(created)
    target = created.json()["id"] if created.status_code == 201 else "no-such-group"
    check(scim.patch(f"/Groups/{target}", content=json.dumps(patch)))
    check(scim.delete(f"/Groups/{target}"))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    scim_filter=filters,
    start=st.one_of(st.text(max_size=6), st.integers(-5, 10**12).map(str)),
    count=st.one_of(st.text(max_size=6), st.integers(-5, 10**12).map(str)),
    attributes=st.sampled_from(["", "userName", "members", "nope", "emails.value,,"]),
    kind=st.sampled_from(["Users", "Groups"]),
)
def test_queries_of_any_shape(
    scim: httpx.Client, scim_filter: str, start: str, count: str, attributes: str, kind: str
) -> None:
    params = {"filter": scim_filter, "startIndex": start, "count": count}
    check(scim.get(f"/{kind}", params={**params, "attributes": attributes}))
    check(scim.get(f"/{kind}", params={**params, "excludedAttributes": attributes}))
    check(scim.post(f"/{kind}/.search", json={**params, "attributes": [attributes]}))
