"""One pipeline for every log record (ours and every library's): one JSON object a line, with
secrets, documents and attacker-shaped text redacted before anything is written."""

from __future__ import annotations

import base64
import json
import logging
import logging.config
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from adapter.logging import (
    REDACTED,
    configure_logging,
    get_logger,
    redact_mapping,
    redact_text,
    redact_value,
)

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
    # Back to the configuration every test runs under (tests/conftest.py).
    configure_logging("DEBUG", json=True)


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


@pytest.mark.usefixtures("restore_structlog")
def test_what_the_context_keeps_under_a_leading_underscore_is_no_field_of_a_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", json=True)
    with structlog.contextvars.bound_contextvars(
        request_id="req-1", _login_email="ada@example.com"
    ):
        get_logger("adapter.test").info("login_succeeded")
        logging.getLogger("some.library").warning("a library speaks")
    records = _lines(capsys.readouterr().out)
    assert [r["request_id"] for r in records] == ["req-1", "req-1"]
    assert not [r for r in records if "ada@example.com" in json.dumps(r)]


# -- every library's records, through the same pipeline -----------------------------------

SAML_DOCUMENT = (
    '<?xml version="1.0"?><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
    'ID="r1"><saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">'
    "<saml:AttributeValue>grace.hopper@navy.example</saml:AttributeValue>"
    "<saml:AttributeValue>Grace</saml:AttributeValue></saml:Assertion></samlp:Response>"
)
SAML_RESPONSE = base64.b64encode(SAML_DOCUMENT.encode()).decode()
FORGED = 'id-1\n{"event": "login_succeeded", "forged": "yes"}'
PEM_KEY = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"


def _lines(out: str) -> list[dict[str, Any]]:
    """Every line written, each of which must be one JSON object."""
    records = [json.loads(line) for line in out.splitlines()]
    assert all(isinstance(r, dict) for r in records)
    return records


@pytest.mark.usefixtures("restore_structlog")
def test_a_library_record_is_one_json_line_shaped_like_ours(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", json=True)
    structlog.contextvars.bind_contextvars(request_id="req-1")
    try:
        logging.getLogger("httpx").warning("upstream answered %s", 503)
    finally:
        structlog.contextvars.clear_contextvars()
    [record] = _lines(capsys.readouterr().out)
    assert record["event"] == "upstream answered 503"
    assert (record["level"], record["logger"], record["request_id"]) == (
        "warning",
        "httpx",
        "req-1",
    )
    assert record["timestamp"].endswith("Z")


@pytest.mark.usefixtures("restore_structlog")
def test_a_newline_in_a_library_message_cannot_start_a_line_of_its_own(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", json=True)
    logging.getLogger("somelibrary").warning("unexpected id %s", FORGED)
    [record] = _lines(capsys.readouterr().out)
    assert "forged" not in record
    assert record["event"] == f"unexpected id {FORGED}"


@pytest.mark.usefixtures("restore_structlog")
def test_pysaml2_refusals_at_error_are_not_written(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_logging("DEBUG", json=True)
    # Only the handlers the service has: not the test runner's capture.
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "_sso_adapter", False)]
    monkeypatch.setattr(root, "handlers", ours)
    logging.getLogger("saml2.response").error("Not the id I expected: %s != %s", FORGED, "id-2")
    logging.getLogger("saml2.response").error("Failed to verify signature on '%s'", SAML_DOCUMENT)
    logging.getLogger("saml2.response").debug("xmlstr: %s", SAML_DOCUMENT)
    try:
        raise ValueError(SAML_DOCUMENT)
    except ValueError:
        logging.getLogger("saml2.response").exception("EXCEPTION: %s", SAML_DOCUMENT)
    assert capsys.readouterr() == ("", "")


@pytest.mark.usefixtures("restore_structlog")
def test_what_pysaml2_calls_critical_keeps_its_wording_but_not_its_arguments_or_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", json=True)
    try:
        raise ValueError(SAML_DOCUMENT)
    except ValueError:
        logging.getLogger("saml2.sigver").critical("cannot check %s", SAML_DOCUMENT, exc_info=True)
    out = capsys.readouterr().out
    [record] = _lines(out)
    assert record["event"] == "cannot check %s"
    assert record["exc_type"] == "ValueError"
    assert "exception" not in record
    assert "grace" not in out.lower() and "Traceback" not in out


@pytest.mark.usefixtures("restore_structlog")
def test_libraries_say_nothing_below_warning_even_when_we_log_at_debug(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("DEBUG", json=True)
    logging.getLogger("sqlalchemy.engine.Engine").info("INSERT ... %r", ("a-secret-value",))
    logging.getLogger("httpcore.http11").debug("send_request_headers.started")
    logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
    logging.getLogger("xmlschema").info("loaded %s", SAML_DOCUMENT)
    get_logger("adapter.test").debug("ours_at_debug")
    # uvicorn sets its own loggers' levels when it starts a server (the test servers': WARNING).
    server_logger = logging.getLogger("uvicorn.error")
    level = server_logger.level
    server_logger.setLevel(logging.NOTSET)
    try:
        server_logger.info("Started server process [%d]", 1)
    finally:
        server_logger.setLevel(level)
    events = [r["event"] for r in _lines(capsys.readouterr().out)]
    assert events == ["ours_at_debug", "Started server process [1]"]


@pytest.mark.usefixtures("restore_structlog")
def test_uvicorns_plain_text_handlers_give_way_to_ours(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import copy

    from uvicorn.config import LOGGING_CONFIG

    # What uvicorn does when it is not told log_config=None.
    logging.config.dictConfig(copy.deepcopy(LOGGING_CONFIG))
    configure_logging("INFO", json=True)
    logging.getLogger("uvicorn.error").info("Uvicorn running on %s", "http://127.0.0.1:1")
    logging.getLogger("uvicorn.access").info('%s - "GET %s HTTP/1.1" 200', "127.0.0.1", "/x")
    captured = capsys.readouterr()
    assert captured.err == ""
    events = [r["event"] for r in _lines(captured.out)]
    assert events == ["Uvicorn running on http://127.0.0.1:1", '127.0.0.1 - "GET /x HTTP/1.1" 200']


@pytest.mark.usefixtures("restore_structlog")
def test_an_unexpected_error_is_one_record_with_a_redacted_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", json=True)
    try:
        raise RuntimeError(f"boom with {JWT} and {SAML_DOCUMENT}")
    except RuntimeError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    try:
        raise RuntimeError(f"second with {PEM_KEY}")
    except RuntimeError:
        get_logger("adapter.test").exception("admin_failed")
    out = capsys.readouterr().out
    first, second = _lines(out)
    assert first["event"] == "Exception in ASGI application" and first["level"] == "error"
    assert first["exception"].startswith("Traceback (most recent call last):")
    assert "RuntimeError: boom with [redacted]" in first["exception"]
    assert second["event"] == "admin_failed" and "RuntimeError" in second["exception"]
    for leaked in (JWT, "grace", "samlp", "MIIEvQ"):
        assert leaked not in out


@pytest.mark.usefixtures("restore_structlog")
def test_a_record_that_cannot_be_formatted_is_reported_without_its_arguments(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", json=True)
    record = logging.LogRecord(
        "somelibrary", logging.ERROR, __file__, 1, "%s and %s", ("only one " + FORGED,), None
    )
    # Straight to our handler: the test runner's own capture would raise on this record.
    [handler] = [h for h in logging.getLogger().handlers if getattr(h, "_sso_adapter", False)]
    handler.handle(record)
    captured = capsys.readouterr()
    assert captured.err == ""
    [line] = _lines(captured.out)
    assert line == {"event": "log_record_unwritable", "level": "error", "logger": "somelibrary"}


@pytest.mark.usefixtures("restore_structlog")
def test_warnings_become_records(capsys: pytest.CaptureFixture[str]) -> None:
    # The test runner records warnings itself, so the hook that configure_logging installs is
    # called directly, as the warnings module calls it outside tests.
    logging.captureWarnings(False)
    configure_logging("INFO", json=True)
    try:
        warnings.showwarning("deprecated thing", DeprecationWarning, "lib.py", 3)
    finally:
        logging.captureWarnings(False)
    captured = capsys.readouterr()
    assert captured.err == ""
    [record] = _lines(captured.out)
    assert record["logger"] == "py.warnings" and "deprecated thing" in record["event"]


@pytest.mark.usefixtures("restore_structlog")
def test_an_uncaught_exception_in_a_thread_is_one_record(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import threading

    configure_logging("INFO", json=True)
    hook = threading.excepthook

    def fail() -> None:
        raise RuntimeError(f"crashed on {SAML_DOCUMENT}")

    thread = threading.Thread(target=fail, name="worker-1")
    # pytest puts its own hook in place during a test; the one configured is called here.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(threading, "excepthook", hook)
        thread.start()
        thread.join()
    captured = capsys.readouterr()
    assert captured.err == ""
    [record] = _lines(captured.out)
    assert (record["event"], record["thread"]) == ("uncaught_exception", "worker-1")
    assert "RuntimeError: crashed on [redacted]" in record["exception"]


@pytest.mark.usefixtures("restore_structlog")
def test_the_console_renderer_escapes_newlines_too(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json=False)
    get_logger("adapter.test").warning("login_failed", detail=FORGED)
    logging.getLogger("somelibrary").warning("unexpected id %s", FORGED)
    assert len(capsys.readouterr().out.splitlines()) == 2


# -- what is cut out of any text -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        (f"XML parse error: {SAML_DOCUMENT}", "XML parse error: ", "grace"),
        ("unparseable: <saml:Assertion>Grace</saml:Assertion>", "unparseable: ", "Grace"),
        ('<Response ID="x"><NameID>grace</NameID></Response>', "", "grace"),
        (f"SAMLResponse {SAML_RESPONSE} refused", " refused", SAML_RESPONSE[:40]),
        (f"POST body SAMLResponse={SAML_RESPONSE[:60]}&RelayState=abc", "POST body", "abc"),
        (f"key {PEM_KEY} loaded", "key ", "MIIEvQ"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEvQIBADAN", "", "MIIEvQ"),
        ("header Authorization: Bearer s3cr3t-t0ken-value", "Bearer ", "s3cr3t"),
        ("GET /cb?code=one-time-code&state=abc123&channel_id=1", "channel_id=1", "one-time"),
        ("GET /saml/finish?token=abcdef123456", "/saml/finish?token=", "abcdef123456"),
    ],
)
def test_secret_and_document_shapes_are_cut_out_of_text(text: str, kept: str, gone: str) -> None:
    redacted = redact_text(text)
    assert kept in redacted
    assert gone not in redacted
    assert REDACTED in redacted


@pytest.mark.parametrize(
    "text",
    [
        'File "/srv/app/adapter/web/sso.py", line 12, in <module>',
        "<Request [b'GET']> sent",
        "a < b and c > d",
        "sha256 " + "ab" * 32,
        "saml: 2 assertions instead of exactly one",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact_text(text) == text


def test_an_overlong_value_is_cut_in_the_middle() -> None:
    attacker = "A." * 5000
    redacted = redact_value({"detail": f"start {attacker} end"})["detail"]
    assert len(redacted) < 1100
    assert redacted.startswith("start ") and redacted.endswith(" end")
    assert "characters cut" in redacted
