"""A SCIM conformance tool, scim2-tester, run against the live endpoint of a connection:
discovery, then create, read, query, replace, patch and delete of every resource type it
finds, with the values it makes up for every attribute the schemas publish."""

from __future__ import annotations

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

from tests.support.world import World


def test_scim2_tester_finds_nothing_wrong(world: World) -> None:
    token = world.admin().post("/stores/acme/connections/okta/scim-tokens").json()["token"]
    with httpx2.Client(
        base_url=f"{world.url}/scim/v2/acme/okta",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ) as http:
        results = check_server(SyncSCIMClient(http))
    ran = [r for r in results if r.status is not Status.SKIPPED]
    failed = [f"{r.title}: {r.reason}" for r in ran if r.status not in (Status.SUCCESS,)]
    assert len(ran) > 20, [r.title for r in results]
    assert failed == [], "\n".join(failed)
