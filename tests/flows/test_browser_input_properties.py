"""Malformed and oversized input thrown at every public browser endpoint: whatever arrives,
the adapter answers without a server error (a 502/503 only where an upstream or the database
is genuinely unavailable), and every failure answer under /sso carries a reference id."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote_from_bytes

import httpx
import hypothesis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.saml_world import CONNECTION as SAML_CONNECTION
from tests.support.saml_world import saml_world
from tests.support.servers import ServerThread
from tests.support.world import CONNECTION, STORE, Dispatcher, World

EXAMPLES = 40
FORM = {"Content-Type": "application/x-www-form-urlencoded"}

# Odd bytes: control characters, NUL, invalid UTF-8, separators that must stay in one value.
odd_bytes = st.one_of(
    st.binary(max_size=40),
    st.sampled_from(
        [b"", b"\x00", b"\xff\xfe", b"\xc3", b"%", b"&=&", b"/", b"..", b"\r\n", b"\xed\xa0\x80"]
    ),
    st.text(max_size=30).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.integers(min_value=-(2**70), max_value=2**70).map(lambda n: str(n).encode()),
    st.sampled_from([300, 3000, 20000]).map(lambda n: b"x" * n),
)
segment = st.one_of(st.sampled_from([STORE, CONNECTION, SAML_CONNECTION]), odd_bytes)


def encoded(value: bytes) -> str:
    return quote_from_bytes(value, safe="")


@st.composite
def query(draw: st.DrawFn, names: list[str]) -> str:
    """A query string of known and unknown names, some repeated, with odd values."""
    pairs = draw(
        st.lists(
            st.tuples(st.one_of(st.sampled_from(names), odd_bytes), odd_bytes),
            max_size=6,
        )
    )
    return "&".join(
        f"{encoded(n.encode() if isinstance(n, str) else n)}={encoded(v)}" for n, v in pairs
    )


@st.composite
def body(draw: st.DrawFn, names: list[str]) -> tuple[dict[str, str], bytes]:
    """A request body with a content type that may or may not describe it."""
    kind = draw(
        st.sampled_from(["form", "many-fields", "multipart", "json", "binary", "big", "none"])
    )
    content_type = draw(
        st.sampled_from(
            [
                "application/x-www-form-urlencoded",
                "application/x-www-form-urlencoded; charset=latin-1",
                "multipart/form-data; boundary=xyz",
                "multipart/form-data",
                "application/json",
                "text/plain",
                "",
                "\x7f;;=",
            ]
        )
    )
    headers = {"Content-Type": content_type} if content_type else {}
    if kind == "form":
        raw = draw(query(names)).encode()
    elif kind == "many-fields":
        raw = b"&".join(b"f%d=1" % i for i in range(draw(st.integers(8, 3000))))
    elif kind == "multipart":
        name = draw(st.sampled_from(names))
        value = draw(odd_bytes)
        raw = (
            b'--xyz\r\nContent-Disposition: form-data; name="'
            + name.encode()
            + b'"\r\n\r\n'
            + value
            + b"\r\n--xyz"
            + draw(st.sampled_from([b"--\r\n", b"", b"\r\n"]))
        )
    elif kind == "json":
        raw = draw(
            st.sampled_from(
                [
                    b'{"code": "x"}',
                    b'{"current_customer_jwt": "a.b.c"}',
                    b'{"code": 1}',
                    b"[" * 5000 + b"]" * 5000,
                    b'"\xff"',
                    b"null",
                    b'{"code": "' + b"x" * 10000 + b'"}',
                    '{"code": "\u00e9"}'.encode("utf-16"),
                ]
            )
        )
    elif kind == "binary":
        raw = draw(st.binary(max_size=3000))
    elif kind == "big":
        raw = b"SAMLResponse=" + b"A" * draw(st.sampled_from([70_000, 1_100_000, 2_300_000]))
    else:
        raw = b""
    return headers, raw


REFERENCE = re.compile(r"reference <code>[0-9a-f]{12}</code>")
# The HTTP server's own answer to a request that breaks HTTP (a control character in a header):
# the adapter never sees such a request.
NOT_HTTP = "Invalid HTTP request received."


def check(response: httpx.Response) -> None:
    status = response.status_code
    assert status < 500 or status in (502, 503), (status, response.text[:300])
    if status == 400 and response.text == NOT_HTTP:
        return
    if status >= 400 and response.request.url.path.startswith("/sso/"):
        if response.headers.get("content-type", "").startswith("application/json"):
            assert response.json().get("reference"), response.text[:300]
        else:
            assert REFERENCE.search(response.text), response.text[:300]


def run(
    strategy: st.SearchStrategy[Any],
    request: Callable[[Any], httpx.Response],
    always: tuple[Any, ...] = (),
) -> None:
    """`request` for examples drawn from `strategy`, and for each of `always` first."""

    @given(example=strategy)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def answers_without_server_error(example: Any) -> None:
        try:
            answer = request(example)
        except httpx.InvalidURL:
            # Longer than any HTTP client sends (httpx stops at 64 KiB): not an input the
            # adapter can meet through a client, and not one to spend an example on.
            hypothesis.reject()
        check(answer)

    for known in always:
        answers_without_server_error = hypothesis.example(example=known)(
            answers_without_server_error
        )
    answers_without_server_error()


@pytest.fixture
def adapter(
    world: World,
    idp_server: tuple[ServerThread, Dispatcher],
    capsys: pytest.CaptureFixture[str],
) -> Iterator[httpx.Client]:
    saml_world(world, idp_server)  # a SAML connection too, so its routes reach real code
    world.put_store(app_client_id="app-client-id-1", app_client_secret="s" * 32)
    with httpx.Client(base_url=world.url, timeout=30) as client:
        yield client
    # Every refusal was answered by the route, and its audit event written.
    log = capsys.readouterr().out
    for failure in ("audit_write_failed", "request_failed", "internal_error"):
        assert failure not in log, failure


header_value = st.one_of(
    st.sampled_from(["", "null", "https://shop.example.com", "http://[::1", "%zz", "a" * 5000]),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=60),
)


@st.composite
def accept(draw: st.DrawFn) -> dict[str, Any]:
    """Accept, and the headers a browser sends that the adapter reads: its cookie, Origin,
    Referer and a proxy's X-Request-ID, with odd values."""
    headers: dict[str, Any] = dict(
        draw(st.sampled_from([{}, {"Accept": "application/json"}, {"Accept": "text/html"}]))
    )
    for name in draw(st.sets(st.sampled_from(["Cookie", "Origin", "Referer", "X-Request-ID"]))):
        value = draw(header_value)
        if name == "Cookie":
            value = draw(st.sampled_from(["sso-browser=", "sso-browser=" + "A" * 43, ""])) + value
        headers[name] = value.encode("latin-1")
    return headers


def test_login_start_never_fails_on_its_input(adapter: httpx.Client) -> None:
    names = ["channel_id", "redirect_to", "login_hint"]
    run(
        st.tuples(segment, segment, query(names), accept()),
        lambda e: adapter.get(
            f"/sso/{encoded(_b(e[0]))}/{encoded(_b(e[1]))}/login?{e[2]}", headers=e[3]
        ),
        always=(
            (STORE, CONNECTION, "channel_id=1&channel_id=2", {}),
            (STORE, CONNECTION, "", {"Referer": b"http://[::1/account.php"}),
            (STORE, "ok\x00ta", "", {}),
        ),
    )


def test_oidc_callback_never_fails_on_its_input(adapter: httpx.Client) -> None:
    names = ["state", "code", "iss", "error", "error_description"]
    run(
        st.tuples(segment, segment, query(names), accept()),
        lambda e: adapter.get(
            f"/sso/{encoded(_b(e[0]))}/{encoded(_b(e[1]))}/oidc/callback?{e[2]}", headers=e[3]
        ),
    )


def test_saml_acs_never_fails_on_its_input(adapter: httpx.Client) -> None:
    names = ["SAMLResponse", "RelayState"]
    run(
        st.tuples(st.sampled_from([SAML_CONNECTION, CONNECTION, "nope"]), body(names), accept()),
        lambda e: adapter.post(
            f"/sso/{STORE}/{e[0]}/saml/acs", content=e[1][1], headers={**e[1][0], **e[2]}
        ),
        always=(
            (SAML_CONNECTION, (FORM, b"&".join(b"f%d=1" % i for i in range(50))), {}),
            (SAML_CONNECTION, (FORM, b"SAMLResponse=" + b"A" * 1_100_000), {}),
            (SAML_CONNECTION, ({"Content-Type": "multipart/form-data"}, b"--x\r\n"), {}),
        ),
    )


def test_saml_metadata_and_finish_never_fail_on_their_input(adapter: httpx.Client) -> None:
    run(
        st.tuples(segment, segment, st.sampled_from(["metadata", "finish"]), query(["token"])),
        lambda e: adapter.get(f"/sso/{encoded(_b(e[0]))}/{encoded(_b(e[1]))}/saml/{e[2]}?{e[3]}"),
    )


def test_link_never_fails_on_its_input(adapter: httpx.Client) -> None:
    names = ["current_customer_jwt", "channel_id", "redirect_to"]
    run(
        st.tuples(segment, body(names), accept()),
        lambda e: adapter.post(
            f"/sso/{STORE}/{encoded(_b(e[0]))}/link", content=e[1][1], headers={**e[1][0], **e[2]}
        ),
        always=(
            (CONNECTION, (FORM, b"current_customer_jwt=a.b.c"), {"Referer": b"http://[::1"}),
            (CONNECTION, (FORM, b"&".join(b"f%d=1" % i for i in range(50))), {}),
        ),
    )


def test_logout_never_fails_on_its_input(adapter: httpx.Client) -> None:
    run(
        st.tuples(segment, query(["channel_id"])),
        lambda e: adapter.get(f"/sso/{encoded(_b(e[0]))}/logout?{e[1]}"),
    )


def test_current_customer_and_token_exchange_never_fail_on_their_input(
    adapter: httpx.Client,
) -> None:
    names = ["current_customer_jwt", "code"]
    run(
        st.tuples(
            st.sampled_from(
                [f"/sso/{STORE}/current-customer", "/sso/token", "/sso/x%00/current-customer"]
            ),
            body(names),
            st.sampled_from([{}, {"Authorization": "Bearer x"}, {"Authorization": "Bearer \x7f"}]),
        ),
        lambda e: adapter.post(e[0], content=e[1][1], headers={**e[1][0], **e[2]}),
        always=tuple(
            (path, ({"Content-Type": "application/json"}, body), {})
            for path in (f"/sso/{STORE}/current-customer", "/sso/token")
            for body in (b"[" * 3000 + b"]" * 3000, b'"\xff"', b"x" * 100_000)
        ),
    )


def test_health_endpoints_never_fail_on_their_input(adapter: httpx.Client) -> None:
    run(
        st.tuples(
            st.sampled_from(["/healthz", "/readyz"]),
            st.sampled_from(["GET", "POST", "HEAD"]),
            odd_bytes,
        ),
        lambda e: adapter.request(e[1], e[0], content=e[2] if e[1] == "POST" else None),
    )


def _b(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value
