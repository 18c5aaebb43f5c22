"""Every body the adapter reads has a limit, applied before the body is read; malformed forms,
JSON and query strings are refused with 400 (413 for size), a reference id and an audit
event naming the precise reason, never with a server error."""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from adapter.web.bodies import ACS_FORM_LIMIT, ADMIN_BODY_LIMIT, JSON_BODY_LIMIT, LINK_FORM_LIMIT
from tests.support.assertions import reference_of
from tests.support.saml_world import SamlWorld, saml_world
from tests.support.servers import ServerThread
from tests.support.world import Dispatcher, World

FIFTY_MIB = 50 * 1024 * 1024


@pytest.fixture
def saml(world: World, idp_server: tuple[ServerThread, Dispatcher]) -> SamlWorld:
    return saml_world(world, idp_server)


def stalled_post(
    url: str,
    headers: dict[str, str],
    *,
    declared: int | None = None,
    chunked: int | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """POST the head of a body and then send nothing more: only an adapter that refuses
    before reading the whole body answers within the timeout. `declared` announces a length
    by Content-Length and sends 1 KiB of it; `chunked` sends that many bytes in 4 KiB
    chunks, without the last chunk."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        head = [f"POST {parts.path} HTTP/1.1", f"Host: {parts.netloc}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        if declared is not None:
            head.append(f"Content-Length: {declared}")
        else:
            head.append("Transfer-Encoding: chunked")
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        try:
            if declared is not None:
                sock.sendall(b"x" * 1024)
            else:
                assert chunked is not None
                for _ in range(0, chunked, 4096):
                    sock.sendall(b"1000\r\n" + b"x" * 4096 + b"\r\n")
        except OSError:
            pass  # the adapter answered and closed while the body was still coming
        answer = http.client.HTTPResponse(sock)
        answer.begin()  # a timeout here: the adapter was still waiting for the body
        return answer.status, dict(answer.getheaders()), answer.read()


def audited(world: World, reference: str, kind: str = "login") -> dict[str, Any]:
    [event] = [e for e in world.events(kind=kind, outcome="failure") if e["reference"] == reference]
    return dict(event)


# -- bodies over the limit, refused before they are read ---------------------------------------


def test_token_exchange_body_announced_over_the_limit_is_refused_unread(world: World) -> None:
    status, _, body = stalled_post(
        f"{world.url}/sso/token", {"Content-Type": "application/json"}, declared=FIFTY_MIB
    )
    assert status == 413
    answer = json.loads(body)
    assert answer["error"] == "body_too_large" and answer["reference"]


def test_chunked_current_customer_body_is_refused_once_it_passes_the_limit(world: World) -> None:
    status, _, body = stalled_post(
        f"{world.url}/sso/acme/current-customer",
        {"Content-Type": "application/json"},
        chunked=JSON_BODY_LIMIT + 8192,
    )
    assert status == 413
    answer = json.loads(body)
    assert answer["error"] == "body_too_large"
    event = audited(world, answer["reference"], kind="current_customer")
    assert event["reason"] == "body_too_large" and event["details"]["status"] == 413


@pytest.mark.parametrize("framing", ["declared", "chunked"])
def test_acs_body_over_the_limit_gets_the_failure_page_and_is_audited(
    saml: SamlWorld, framing: str
) -> None:
    size = {"declared": {"declared": FIFTY_MIB}, "chunked": {"chunked": ACS_FORM_LIMIT + 8192}}
    status, headers, body = stalled_post(
        saml.acs_url, {"Content-Type": "application/x-www-form-urlencoded"}, **size[framing]
    )
    assert status == 413 and headers["content-type"].startswith("text/html")
    reference = reference_of(httpx.Response(status, headers=headers, content=body))
    event = audited(saml.world, reference)
    assert event["reason"] == "body_too_large" and event["connection_slug"] == "entra"


def test_link_form_over_the_limit_is_refused_unread(world: World) -> None:
    status, _, body = stalled_post(
        f"{world.url}/sso/acme/okta/link",
        {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        chunked=LINK_FORM_LIMIT + 8192,
    )
    assert status == 413
    event = audited(world, json.loads(body)["reference"])
    assert event["reason"] == "body_too_large"


@pytest.mark.parametrize("framing", ["declared", "chunked"])
def test_admin_body_over_the_limit_is_refused_unread(world: World, framing: str) -> None:
    size = {"declared": {"declared": FIFTY_MIB}, "chunked": {"chunked": ADMIN_BODY_LIMIT + 8192}}
    status, _, body = stalled_post(
        f"{world.url}/admin/v1/stores/acme/connections/big",
        {"Content-Type": "application/json", "Authorization": "Bearer whoever"},
        **size[framing],
    )
    assert status == 413
    assert json.loads(body)["error"] == "body_too_large"


def test_admin_body_under_the_limit_still_carries_inline_metadata(world: World) -> None:
    # A large but acceptable body reaches the API (which refuses this one for its content).
    body = {"protocol": "saml", "idp_metadata_xml": "<x/>" + " " * 900_000, "channel_ids": [1]}
    with world.admin() as admin:
        answer = admin.put("/stores/acme/connections/big", json=body)
    assert answer.status_code == 422, answer.text


# -- forms: content type, encoding, field count, repeated fields -------------------------------


def acs_post(saml: SamlWorld, content: bytes, content_type: str) -> httpx.Response:
    return httpx.post(saml.acs_url, content=content, headers={"Content-Type": content_type})


@pytest.mark.parametrize(
    ("content", "content_type", "status", "reason"),
    [
        pytest.param(
            b"&".join(b"f%d=1" % i for i in range(50)),
            "application/x-www-form-urlencoded",
            400,
            "form_too_many_fields",
            id="too-many-fields",
        ),
        pytest.param(
            b"SAMLResponse=" + b"A" * (ACS_FORM_LIMIT + 10),
            "application/x-www-form-urlencoded",
            413,
            "body_too_large",
            id="field-over-the-limit",
        ),
        pytest.param(
            b"SAMLResponse=PHg%2F&RelayState=\xff\xfe",
            "application/x-www-form-urlencoded",
            400,
            "form_malformed",
            id="not-utf-8",
        ),
        pytest.param(
            b"SAMLResponse=PHg%2F&RelayState=%ff%fe",
            "application/x-www-form-urlencoded",
            400,
            "form_malformed",
            id="percent-encoded-not-utf-8",
        ),
        pytest.param(
            b"SAMLResponse=a&SAMLResponse=b",
            "application/x-www-form-urlencoded",
            400,
            "form_repeated_field",
            id="repeated-field",
        ),
        pytest.param(
            b'--b\r\nContent-Disposition: form-data; name="SAMLResponse"\r\n\r\nPHg+\r\n--b--\r\n',
            "multipart/form-data; boundary=b",
            400,
            "form_content_type",
            id="multipart",
        ),
        pytest.param(b"--b\r\n", "multipart/form-data", 400, "form_content_type", id="no-boundary"),
        pytest.param(b'{"SAMLResponse": "x"}', "application/json", 400, "form_content_type"),
    ],
)
def test_malformed_acs_posts_get_the_failure_page_and_a_precise_audit_reason(
    saml: SamlWorld, content: bytes, content_type: str, status: int, reason: str
) -> None:
    answer = acs_post(saml, content, content_type)
    assert answer.status_code == status, answer.text[:300]
    assert answer.headers["content-type"].startswith("text/html")
    event = audited(saml.world, reference_of(answer))
    assert event["reason"] == reason and event["details"]["status"] == status


@pytest.mark.parametrize(
    ("content", "content_type", "reason"),
    [
        (b"&".join(b"f%d=1" % i for i in range(50)), "application/x-www-form-urlencoded",
         "form_too_many_fields"),
        (b"current_customer_jwt=a&current_customer_jwt=b", "application/x-www-form-urlencoded",
         "form_repeated_field"),
        (b"current_customer_jwt=%ff", "application/x-www-form-urlencoded", "form_malformed"),
        (b"--b\r\n", "multipart/form-data", "form_content_type"),
    ],
)  # fmt: skip
def test_malformed_link_posts_are_400_with_a_reference_and_audited(
    world: World, content: bytes, content_type: str, reason: str
) -> None:
    answer = httpx.post(
        f"{world.url}/sso/acme/okta/link",
        content=content,
        headers={"Content-Type": content_type, "Origin": world.shop.base_url},
    )
    assert answer.status_code == 400, answer.text[:300]
    assert audited(world, reference_of(answer))["reason"] == reason
    assert world.login_states() == 0


# -- JSON and query strings --------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"[" * 3000 + b"]" * 3000, b'{"code": "\xff"}', '{"code": "x"}'.encode("utf-16")],
    ids=["deeply-nested", "not-utf-8", "utf-16"],
)
def test_malformed_json_bodies_are_400_with_a_reference(world: World, content: bytes) -> None:
    for path in ("/sso/token", "/sso/acme/current-customer"):
        answer = httpx.post(f"{world.url}{path}", content=content)
        assert answer.status_code == 400, (path, answer.text[:300])
        assert answer.json()["error"] == "invalid_request" and answer.json()["reference"]


@pytest.mark.parametrize("name", ["channel_id", "redirect_to", "login_hint"])
def test_a_login_parameter_given_twice_is_refused_rather_than_guessed(
    world: World, name: str
) -> None:
    value = {"channel_id": "1", "redirect_to": "/cart.php", "login_hint": "ada"}[name]
    answer = httpx.get(
        f"{world.url}/sso/acme/okta/login", params=[(name, value), (name, value + "2")]
    )
    assert answer.status_code == 400
    assert audited(world, reference_of(answer))["reason"] == "repeated_parameter"
    assert world.login_states() == 0


def test_a_logout_channel_given_twice_is_refused(world: World) -> None:
    answer = httpx.get(f"{world.url}/sso/acme/logout", params=[("channel_id", "1")] * 2)
    assert answer.status_code == 400
    assert audited(world, reference_of(answer))["reason"] == "repeated_parameter"


def test_a_name_that_is_no_slug_is_404_and_audited(world: World) -> None:
    # A NUL byte, which PostgreSQL refuses in text, must not reach a query or the audit trail.
    answer = httpx.get(f"{world.url}/sso/acme/ok%00ta/login")
    assert answer.status_code == 404
    event = audited(world, reference_of(answer))
    assert event["reason"] == "unknown_connection" and "\x00" not in event["connection_slug"]


def test_the_front_page_says_what_runs_here(world: World) -> None:
    page = httpx.get(f"{world.url}/")
    assert page.status_code == 200 and "sso-adapter is running" in page.text
    assert httpx.get(f"{world.url}/", headers={"Accept": "application/json"}).json() == {
        "service": "sso-adapter",
        "status": "running",
    }


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/sso/acme/okta/nowhere", 404), ("DELETE", "/sso/acme/okta/login", 405),
     ("GET", "/sso/acme/okta/saml/acs", 405), ("GET", "/nowhere", 404)],
)  # fmt: skip
def test_what_no_route_answers_still_carries_a_reference(
    world: World, method: str, path: str, status: int
) -> None:
    answer = httpx.request(method, f"{world.url}{path}")
    assert answer.status_code == status
    assert reference_of(answer)
    json_answer = httpx.request(
        method, f"{world.url}{path}", headers={"Accept": "application/json"}
    )
    assert set(json_answer.json()) == {"error", "message", "reference"}


def test_a_referer_that_does_not_parse_names_no_origin(world: World) -> None:
    headers = {"Referer": "http://[::1/account.php"}
    assert world.login(headers=headers).landed
    answer = httpx.post(
        f"{world.url}/sso/acme/okta/link",
        data={"current_customer_jwt": "a.b.c"},
        headers=headers,
    )
    assert answer.status_code in (401, 403)
    assert audited(world, reference_of(answer))["reason"] != "internal_error"
