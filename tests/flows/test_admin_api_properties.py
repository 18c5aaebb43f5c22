"""Property-based run of the admin API's own OpenAPI document against the live service:
no server error, no status, content type or body that the document does not describe."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.loopback_only import confine_to_loopback
from tests.support.world import ADMIN_TOKEN, World

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_admin_api_conforms_to_its_openapi_document(world: World) -> None:
    assert world.runtime is not None
    # Generated URLs (issuers, API bases) must never leave this machine.
    confine_to_loopback(world.runtime.idp_http)
    confine_to_loopback(world.runtime.bigcommerce_http)
    assert world.login().landed  # a link and events exist, so reads find something
    schema = schemathesis.openapi.from_url(f"{world.url}/admin/v1/openapi.json")
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    tested = []
    statuses: list[int] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def conforms(case: Any) -> None:
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            statuses.append(response.status_code)

        conforms()
        tested.append(operation.label)
    assert len(tested) == 19, tested
    # Many requests ran, and both accepted and refused ones among them.
    assert len(statuses) >= 200 and {200, 404, 422} <= set(statuses), sorted(set(statuses))
