"""Secrets are redacted in one logging processor, before anything is written."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import structlog

from adapter.logging import REDACTED, configure_logging, get_logger, redact_mapping

# A real-looking compact JWS (header {"alg":"RS256","typ":"JWT"}).
JWT = (
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibm9uY2UiOiJuLTBTNl9XekEyTWoifQ"
    ".c2lnbmF0dXJlLWJ5dGVzLWhlcmU"
)
CLIENT_SECRET = "cs-7f3a9b1c2d4e5f60718293a4b5c6d7e8"


@pytest.mark.parametrize(
    "key",
    [
        "client_secret",
        "api_token",
        "id_token",
        "access_token",
        "refresh_token",
        "password",
        "new_passwd",
        "Authorization",
        "Cookie",
        "set-cookie",
        "login_jwt",
        "SAMLResponse",
        "assertion",
        "code_verifier",
        "nonce",
        "code",
        "state",
        "api_key",
        "private_key",
    ],
)
def test_value_under_a_secret_name_is_redacted(key: str) -> None:
    assert redact_mapping({key: "value-that-must-not-appear"}) == {key: REDACTED}


def test_secret_names_are_redacted_inside_nested_mappings_and_lists() -> None:
    event = {
        "request": {"headers": {"Authorization": "Bearer abc", "Accept": "text/html"}},
        "connections": [{"slug": "okta", "client_secret": CLIENT_SECRET}],
    }
    assert redact_mapping(event) == {
        "request": {"headers": {"Authorization": REDACTED, "Accept": "text/html"}},
        "connections": [{"slug": "okta", "client_secret": REDACTED}],
    }


def test_jwt_inside_an_ordinary_value_is_cut_out() -> None:
    event = {
        "event": f"login redirect to /login/token/{JWT} issued",
        "url": f"https://shop.example/login/token/{JWT}?x=1",
        "history": ["ok", f"bearer {JWT}"],
    }
    assert redact_mapping(event) == {
        "event": f"login redirect to /login/token/{REDACTED} issued",
        "url": f"https://shop.example/login/token/{REDACTED}?x=1",
        "history": ["ok", f"bearer {REDACTED}"],
    }


def test_ordinary_values_are_left_alone() -> None:
    event = {
        "event": "login completed",
        "store": "acme",
        "customer_id": 42,
        "email_verified": True,
        "groups": ["staff", "buyers"],
        "redirect_to": "/account.php",
        "elapsed": 0.25,
        "missing": None,
    }
    assert redact_mapping(event) == event


@pytest.fixture
def restore_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


@pytest.mark.usefixtures("restore_structlog")
def test_logged_event_never_shows_a_client_secret_or_a_jwt(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("DEBUG", json=True)
    log = get_logger("adapter.test")
    log.info(
        "token endpoint answered",
        client_secret=CLIENT_SECRET,
        response={"id_token": JWT, "expires_in": 300},
        note=f"id_token was {JWT}",
        store="acme",
    )
    out = capsys.readouterr().out
    assert CLIENT_SECRET not in out
    assert JWT not in out
    assert JWT.split(".")[1] not in out
    record = json.loads(out)
    assert record["event"] == "token endpoint answered"
    assert record["store"] == "acme"
    assert record["client_secret"] == REDACTED
    assert record["response"] == {"id_token": REDACTED, "expires_in": 300}
    assert record["note"] == f"id_token was {REDACTED}"


@pytest.mark.usefixtures("restore_structlog")
def test_secrets_bound_to_the_context_are_redacted_too(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", json=True)
    structlog.contextvars.bind_contextvars(state="opaque-state-value", connection="okta")
    try:
        get_logger("adapter.test").warning("callback refused", detail=f"bad token {JWT}")
    finally:
        structlog.contextvars.clear_contextvars()
    out = capsys.readouterr().out
    assert "opaque-state-value" not in out
    assert JWT not in out
    assert json.loads(out)["connection"] == "okta"
