"""The whole log of a running `sso-adapter serve`, read back line by line after a successful
SAML login and after responses an attacker shaped (an encrypted assertion carrying somebody's
personal data, an InResponseTo smuggling a newline and a forged JSON event, a tampered
document, garbage): every line is one JSON object; none carries a SAML document, the personal
data of a refused assertion, a traceback or a secret; each refusal is one warning line."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from lxml import etree

from tests.support.assertions import reference_of
from tests.support.saml_idp import encrypt_for, form_fields, request_id_of
from tests.support.saml_world import CONNECTION, SamlWorld, saml_world
from tests.support.servers import ServerThread
from tests.support.world import ADMIN_TOKEN, Dispatcher, World

SSO_ADAPTER = str(Path(sys.executable).parent / "sso-adapter")
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"

# The person in the encrypted assertion that is refused: none of this may reach the log.
GRACE_EMAIL, GRACE_GIVEN, GRACE_SURNAME = "grace.hopper@navy.example", "Grace", "Hopperfield"
GRACE_SUBJECT = "grace-persistent-7781"
FORGED = '\n{"event": "login_succeeded", "forged": "yes", "customer_id": 1}'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    """One `sso-adapter serve` process whose stdout and stderr are kept in files."""

    url: str
    saml: SamlWorld
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    posted: list[str] = field(default_factory=list)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def lines(self) -> list[str]:
        text = self.stdout.read_text("utf-8") + self.stderr.read_text("utf-8")
        return text.splitlines()

    # -- a browser against this process -----------------------------------------------------

    def start(self, browser: httpx.Client) -> tuple[str, str]:
        start = browser.get(f"{self.url}/sso/acme/{CONNECTION}/login")
        assert start.status_code == 302, start.text
        fields = form_fields(browser.get(start.headers["location"]).text)
        return request_id_of(start.headers["location"]), fields["RelayState"]

    def post(self, browser: httpx.Client, xml: str, relay_state: str) -> httpx.Response:
        encoded = base64.b64encode(xml.encode()).decode()
        self.posted.append(encoded)
        answer = browser.post(
            f"{self.url}/sso/acme/{CONNECTION}/saml/acs",
            data={"SAMLResponse": encoded, "RelayState": relay_state},
        )
        if answer.status_code == 303:
            finish = answer.headers["location"].replace(self.saml.world.public_url, self.url)
            answer = browser.get(finish)
        return answer


@pytest.fixture(params=["single_parse", pytest.param("pysaml2", marks=pytest.mark.pysaml2_reader)])
def served(
    request: pytest.FixtureRequest,
    world: World,
    idp_server: tuple[ServerThread, Dispatcher],
    tmp_path: Path,
) -> Iterator[Served]:
    saml = saml_world(world, idp_server)
    port = _free_port()
    env = {
        **os.environ,
        "SSO_ADAPTER_DATABASE_URL": world.database_url,
        "SSO_ADAPTER_SECRET_KEY": world.secret_key,
        "SSO_ADAPTER_ADMIN_TOKEN": ADMIN_TOKEN,
        "SSO_ADAPTER_PUBLIC_URL": world.public_url,
        "SSO_ADAPTER_ALLOW_INSECURE_LOOPBACK": "true",
        # The most talkative level: even then no library may dump what it was given.
        "SSO_ADAPTER_LOG_LEVEL": "DEBUG",
        # Either reader: pysaml2's logs what it parses when it fails.
        "SSO_ADAPTER_SAML_RESPONSE_READER": request.param,
    }
    env.pop("SSO_ADAPTER_LOG_JSON", None)
    stdout, stderr = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [SSO_ADAPTER, "serve", "--port", str(port)], env=env, stdout=out, stderr=err
        )
    running = Served(f"http://127.0.0.1:{port}", saml, process, stdout, stderr)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{running.url}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, stderr.read_text()[-2000:]
            assert time.monotonic() < deadline, "sso-adapter serve did not become ready"
            time.sleep(0.1)
        yield running
    finally:
        running.stop()


def _encrypted_assertion_of_someone_else(served: Served, browser: httpx.Client) -> str:
    """A response whose (signed, then tampered) assertion for Grace is encrypted to the SP:
    the adapter decrypts it, then refuses it."""
    saml = served.saml
    request_id, relay = served.start(browser)
    xml = saml.idp.respond(
        request_id,
        saml.acs_url,
        saml.sp_entity_id,
        sign_response=False,
        sign_assertion=True,
        name_id=GRACE_SUBJECT,
        attributes={
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress": [GRACE_EMAIL],
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname": [GRACE_GIVEN],
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname": [GRACE_SURNAME],
        },
    )
    root = etree.fromstring(xml.encode())
    assertion = root.find(f"{{{SAML_NS}}}Assertion")
    # After signing: the signature no longer matches, which only shows after decryption.
    for value in assertion.iter(f"{{{SAML_NS}}}AttributeValue"):
        if value.text == GRACE_GIVEN:
            value.text = GRACE_GIVEN + "x"
    position = list(root).index(assertion)
    root.remove(assertion)
    with saml.world.engine.connect() as conn:
        sp_certificate = conn.exec_driver_sql(
            "SELECT sp_certificate FROM connections WHERE slug = 'entra'"
        ).scalar_one()
    wrapper = etree.Element(f"{{{SAML_NS}}}EncryptedAssertion", nsmap={"saml": SAML_NS})
    wrapper.append(encrypt_for(sp_certificate, assertion))
    root.insert(position, wrapper)
    answer = served.post(browser, etree.tostring(root).decode(), relay)
    assert answer.status_code == 401, answer.text[:500]
    return reference_of(answer)


def _forged_in_response_to(served: Served, browser: httpx.Client) -> str:
    saml = served.saml
    request_id, relay = served.start(browser)
    xml = saml.idp.respond(
        request_id + FORGED,
        saml.acs_url,
        saml.sp_entity_id,
        sign_response=False,
        sign_assertion=False,
    )
    answer = served.post(browser, xml, relay)
    assert answer.status_code in (400, 401), answer.text[:500]
    return reference_of(answer)


def _tampered(served: Served, browser: httpx.Client) -> str:
    saml = served.saml
    request_id, relay = served.start(browser)
    xml = saml.idp.respond(request_id, saml.acs_url, saml.sp_entity_id)
    answer = served.post(browser, xml.replace("ada-persistent-0001", "admin-0001"), relay)
    assert answer.status_code == 401, answer.text[:500]
    return reference_of(answer)


def _not_xml(served: Served, browser: httpx.Client) -> str:
    _, relay = served.start(browser)
    answer = served.post(browser, "<samlp:Response " + "A" * 5000, relay)
    assert answer.status_code == 400, answer.text[:500]
    return reference_of(answer)


def _too_many_fields(served: Served, browser: httpx.Client) -> str:
    _, relay = served.start(browser)
    fields = {f"field{i}": "x" for i in range(20)}
    answer = browser.post(
        f"{served.url}/sso/acme/{CONNECTION}/saml/acs", data={**fields, "RelayState": relay}
    )
    assert answer.status_code == 400, answer.text[:500]
    return reference_of(answer)


def _problems(
    lines: list[str], references: list[str], expected_subject: str, secrets: list[str]
) -> list[str]:
    """Everything wrong with the log, so that one run shows every broken promise."""
    problems = []
    records = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            problems.append(f"line {number} is not one JSON object: {line[:200]!r}")
        else:
            records.append(record)
    text = "\n".join(lines)

    # Each refusal is one line: a warning with its reason and reference, and nothing else
    # written while its request was handled.
    for reference in references:
        mentions = [r for r in records if reference in json.dumps(r)]
        if len(mentions) != 1:
            problems.append(f"{len(mentions)} lines name the reference {reference}")
            continue
        [line] = mentions
        if (line.get("level"), line.get("event")) != ("warning", "login_failed"):
            problems.append(f"the line of {reference} is not a login_failed warning: {line}")
        if not line.get("reason") or not line.get("detail"):
            problems.append(f"the line of {reference} gives no reason: {line}")
        same_request = [r for r in records if r.get("request_id") == line.get("request_id")]
        if same_request != [line]:
            problems.append(f"{len(same_request)} lines for the request refused as {reference}")
    # Garbage from outside raises no error-level alarm.
    for record in records:
        if record.get("level") not in ("debug", "info", "warning"):
            problems.append(f"a {record.get('level')} line: {str(record)[:200]}")

    # The forged event never stands as a record of its own.
    if [r for r in records if "forged" in r]:
        problems.append("the event forged in InResponseTo is a line of its own")
    succeeded = [r.get("subject") for r in records if r.get("event") == "login_succeeded"]
    if succeeded != [expected_subject]:
        problems.append(f"login_succeeded lines for {succeeded}")

    # What was in the refused encrypted assertion never shows, nor any SAML document, nor a
    # traceback, nor any secret the process holds or handed out.
    for personal in (GRACE_EMAIL, GRACE_GIVEN, GRACE_SURNAME, GRACE_SUBJECT):
        if personal in text:
            problems.append(f"personal data of a refused assertion: {personal}")
    for document_text in ("<samlp:", "<saml:", "<ns0:", "<ns1:", "Assertion", "xmlns"):
        if document_text in text:
            problems.append(f"SAML document text: {document_text}")
    if "Traceback" in text or re.search(r'File "[^"]+", line \d+', text):
        problems.append("a traceback")
    for secret in secrets:
        if secret in text:
            problems.append(f"a secret: {secret[:12]}…")
    if "PRIVATE KEY" in text:
        problems.append("a private key")
    return problems


def test_the_log_of_refused_and_accepted_saml_logins_is_one_redacted_json_stream(
    served: Served,
) -> None:
    saml = served.saml
    browser = saml.world.browser()
    references = [
        _encrypted_assertion_of_someone_else(served, browser),
        _forged_in_response_to(served, browser),
        _tampered(served, browser),
        _not_xml(served, browser),
        _too_many_fields(served, browser),
    ]
    request_id, relay = served.start(browser)
    good = served.post(
        browser, saml.idp.respond(request_id, saml.acs_url, saml.sp_entity_id), relay
    )
    assert good.status_code == 302 and good.headers["location"].startswith(saml.world.shop.base_url)
    login_jwt = good.headers["location"].rsplit("/", 1)[1]
    served.stop()

    secrets = [
        saml.world.secret_key,
        ADMIN_TOKEN,
        saml.world.shop_store.client_secret,
        saml.world.shop_store.api_token,
        login_jwt,
        login_jwt.split(".")[1],
        # The SAMLResponses as they were posted.
        *(encoded[:40] for encoded in served.posted),
    ]
    expected_subject = f"{saml.idp.entity_id}!ada-persistent-0001"
    assert _problems(served.lines(), references, expected_subject, secrets) == []


def test_a_refusal_that_quotes_a_document_is_cut_in_the_audit_trail_too(
    world: World, idp_server: tuple[ServerThread, Dispatcher], capsys: pytest.CaptureFixture[str]
) -> None:
    saml = saml_world(world, idp_server)
    browser = world.browser()
    request_id, relay = saml.start(browser)
    # pysaml2 quotes the InResponseTo it did not expect in the refusal it raises.
    smuggled = f'<saml:AttributeValue xmlns:saml="{SAML_NS}">{GRACE_EMAIL}</saml:AttributeValue>'
    xml = saml.idp.respond(
        request_id + smuggled,
        saml.acs_url,
        saml.sp_entity_id,
        sign_response=False,
        sign_assertion=False,
    )
    refusal = saml.post(browser, xml, relay).refusal
    assert refusal.status_code == 401
    reference = reference_of(refusal)
    [event] = [e for e in world.events(kind="login") if e["reference"] == reference]
    assert event["details"]["detail"].startswith("saml: ")
    assert GRACE_EMAIL not in json.dumps(dict(event), default=str)
    assert GRACE_EMAIL not in capsys.readouterr().out


@pytest.mark.parametrize("failure", ["database", "port"])
def test_serve_that_cannot_start_says_so_in_json_lines_only(
    world: World, tmp_path: Path, failure: str
) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    env = {
        **os.environ,
        "SSO_ADAPTER_DATABASE_URL": (
            f"sqlite:///{tmp_path}/missing/directory/adapter.db"
            if failure == "database"
            else world.database_url
        ),
        "SSO_ADAPTER_SECRET_KEY": world.secret_key,
        "SSO_ADAPTER_PUBLIC_URL": world.public_url,
        "SSO_ADAPTER_ALLOW_INSECURE_LOOPBACK": "true",
    }
    port = busy.getsockname()[1] if failure == "port" else _free_port()
    try:
        done = subprocess.run(
            [SSO_ADAPTER, "serve", "--port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        busy.close()
    assert done.returncode != 0
    lines = (done.stdout + done.stderr).splitlines()
    assert lines
    records = [json.loads(line) for line in lines]
    assert any(r["level"] == "error" for r in records), records
