"""The adapter's database unreachable (a restart, a fail-over, an exhausted pool): every face
answers 503 with Retry-After and a reference, and the log says it in one line, no traceback."""

from __future__ import annotations

from typing import Any

import pytest

from adapter.db.hot_path import HotPathFailed
from tests.support.assertions import reference_of
from tests.support.faults import database_down, log_lines
from tests.support.world import ADMIN_TOKEN, World


def test_an_unreachable_database_answers_503_with_retry_after_and_one_warning_line(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    browser = world.browser()
    start = browser.get(f"{world.url}/sso/acme/okta/login")
    at_op = browser.get(start.headers["location"])
    capsys.readouterr()
    with database_down(world):
        page = browser.get(at_op.headers["location"])
        api = world.browser().get(
            f"{world.url}/sso/acme/okta/login", headers={"Accept": "application/json"}
        )
    assert page.status_code == 503, page.text[:300]
    assert page.headers["retry-after"] == "5"
    assert "try again in a few seconds" in page.text
    assert api.status_code == 503
    assert api.headers["retry-after"] == "5"
    assert api.json()["error"] == "database_unavailable"
    out = capsys.readouterr().out
    lines = log_lines(out, "login_failed")
    assert [line["reason"] for line in lines] == ["database_unavailable"] * 2
    # The failure could not be audited: the log line, with its reference, says so.
    assert {line["reference"] for line in lines} == {reference_of(page), api.json()["reference"]}
    assert all(line["audit_written"] is False for line in lines)
    assert "Traceback" not in out and "audit_write_failed" not in out


def test_the_admin_api_answers_503_while_the_database_is_unreachable(world: World) -> None:
    with world.admin(ADMIN_TOKEN) as admin, database_down(world):
        answer = admin.get("/stores")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    assert answer.json()["error"] == "database_unavailable"


def test_readiness_answers_503_while_the_database_is_unreachable(world: World) -> None:
    with database_down(world):
        assert world.browser().get(f"{world.url}/readyz").status_code == 503
    assert world.browser().get(f"{world.url}/readyz").status_code == 200


def test_a_failing_hot_path_statement_is_a_500_whose_log_names_the_statement(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """A statement refused for a reason other than an outage (here: as a constraint would
    refuse it) is an error of ours: 500 with a reference, and a log line an operator can act
    on, naming the statement and the driver's error class, never a value."""
    store = world.runtime.login_store

    class Refusing:
        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        async def take_state(self, key_hash: str) -> None:
            raise HotPathFailed("take_state: DataError")

    browser = world.browser()
    start = browser.get(f"{world.url}/sso/acme/okta/login")
    at_op = browser.get(start.headers["location"])
    capsys.readouterr()
    world.runtime.login_store = Refusing()  # type: ignore[assignment]
    try:
        page = browser.get(at_op.headers["location"])
    finally:
        world.runtime.login_store = store
    assert page.status_code == 500
    (line,) = log_lines(capsys.readouterr().out, "login_failed")
    assert line["reference"] == reference_of(page)
    assert line["detail"] == "HotPathFailed: take_state: DataError"
    assert line["level"] == "error"
