"""The BigCommerce transport against a scripted BigCommerce at the transport
(httpx.MockTransport): rate limits, retries, the answer cap, headers, metrics and errors.

Retries are observed through an injected `sleep` that records its delays instead of waiting.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from adapter.bigcommerce.transport import MAX_ANSWER_BYTES, Answer, BigCommerceTransport
from adapter.errors import UpstreamFailed
from tests.support.scripted_bigcommerce import FakeBigCommerce, RecordedSleep, rate_limited, status

API_TOKEN = "bc-api-token-0123"
URL = "https://api.bigcommerce.test/stores/abc123/v3/customers"


def ok(**body: Any) -> httpx.Response:
    return httpx.Response(200, json={"data": [], "meta": {}, **body})


MakeTransport = Callable[..., Awaitable[BigCommerceTransport]]


@pytest.fixture
def sleep() -> RecordedSleep:
    return RecordedSleep()


@pytest.fixture
async def make_transport(sleep: RecordedSleep) -> AsyncIterator[MakeTransport]:
    clients: list[httpx.AsyncClient] = []

    async def make(
        fake: FakeBigCommerce, *, max_wait: float = 5.0, **options: Any
    ) -> BigCommerceTransport:
        client = httpx.AsyncClient(transport=httpx.MockTransport(fake))
        clients.append(client)
        options.setdefault("api_token", API_TOKEN)
        return BigCommerceTransport(client, max_rate_limit_wait=max_wait, sleep=sleep, **options)

    yield make
    for client in clients:
        await client.aclose()


# --- rate limits -----------------------------------------------------------------------------


async def test_rate_limited_read_waits_for_the_reset_time_then_succeeds(
    make_transport: MakeTransport, sleep: RecordedSleep
) -> None:
    fake = FakeBigCommerce(rate_limited(1500), rate_limited(250), ok())
    answer = await (await make_transport(fake)).request("GET", URL)
    assert answer.status == 200
    assert sleep.delays == [1.5, 0.25]
    assert len(fake.requests) == 3


@pytest.mark.parametrize(
    ("header", "pause"),
    [("0.397 s", 0.397), ("2", 2.0), ("soon", 1.0), ("nan s", 1.0)],
    ids=["with_unit", "bare", "unreadable", "not_a_number"],
)
async def test_b2b_editions_reset_header_in_seconds_is_waited_out(
    make_transport: MakeTransport, sleep: RecordedSleep, header: str, pause: float
) -> None:
    limited = httpx.Response(
        429,
        headers={"X-Request-Window-Resets-After": header},
        json={"code": 429, "data": {}, "meta": {"message": "Too Many Requests"}},
    )
    fake = FakeBigCommerce(limited, ok())
    assert (await (await make_transport(fake)).request("POST", URL, json={})).status == 200
    assert sleep.delays == [pytest.approx(pause)]


@pytest.mark.parametrize("reset_ms", [None, "soon"], ids=["missing", "unreadable"])
async def test_rate_limit_without_a_usable_reset_header_pauses_one_second(
    make_transport: MakeTransport, sleep: RecordedSleep, reset_ms: str | None
) -> None:
    fake = FakeBigCommerce(rate_limited(reset_ms), ok())
    assert (await (await make_transport(fake)).request("GET", URL)).status == 200
    assert sleep.delays == [1.0]


async def test_rate_limit_beyond_the_wait_budget_fails_without_waiting(
    make_transport: MakeTransport, sleep: RecordedSleep
) -> None:
    fake = FakeBigCommerce(rate_limited(6000))
    with pytest.raises(UpstreamFailed) as failed:
        await (await make_transport(fake, max_wait=5.0)).request("GET", URL)
    assert failed.value.code == "bigcommerce_rate_limited"
    assert failed.value.status == 502
    assert sleep.delays == []
    assert len(fake.requests) == 1


async def test_rate_limit_waits_add_up_against_the_budget(
    make_transport: MakeTransport, sleep: RecordedSleep
) -> None:
    fake = FakeBigCommerce(rate_limited(3000))
    with pytest.raises(UpstreamFailed) as failed:
        await (await make_transport(fake, max_wait=5.0)).request("GET", URL)
    assert failed.value.code == "bigcommerce_rate_limited"
    assert sleep.delays == [3.0]
    assert len(fake.requests) == 2


@pytest.mark.parametrize("reset_ms", [0, -5000], ids=["zero", "negative"])
async def test_endless_rate_limit_with_zero_reset_eventually_fails(
    make_transport: MakeTransport, sleep: RecordedSleep, reset_ms: int
) -> None:
    calls = 0

    def answer(_request: httpx.Request) -> httpx.Response | Exception:
        nonlocal calls
        calls += 1
        # Stops the test from spinning for ever: the transport should have given up long before.
        return RuntimeError("still retrying") if calls > 100 else rate_limited(reset_ms)

    with pytest.raises(UpstreamFailed) as failed:
        await (await make_transport(FakeBigCommerce(answer))).request("GET", URL)
    assert failed.value.code == "bigcommerce_rate_limited"
    assert calls == 20
    assert sleep.delays == [0.05] * 19


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_rate_limited_write_is_retried(
    make_transport: MakeTransport, sleep: RecordedSleep, method: str
) -> None:
    # A 429 means the write did not happen, so sending it again is safe.
    fake = FakeBigCommerce(rate_limited(400), ok())
    answer = await (await make_transport(fake)).request(method, URL, json=[{"id": 9}])
    assert answer.status == 200
    assert fake.methods == [method, method]
    assert [json.loads(r.content) for r in fake.requests] == [[{"id": 9}]] * 2
    assert sleep.delays == [0.4]


# --- server errors and timeouts ----------------------------------------------------------------


async def test_read_failing_with_5xx_is_retried_with_backoff_then_succeeds(
    make_transport: MakeTransport, sleep: RecordedSleep
) -> None:
    fake = FakeBigCommerce(status(500), status(503), ok())
    assert (await (await make_transport(fake)).request("GET", URL)).status == 200
    assert sleep.delays == [0.2, 0.5]
    assert fake.methods == ["GET", "GET", "GET"]


async def test_read_failing_with_5xx_every_time_hands_back_the_last_answer(
    make_transport: MakeTransport, sleep: RecordedSleep
) -> None:
    fake = FakeBigCommerce(status(500))
    answer = await (await make_transport(fake)).request("GET", URL)
    assert answer.status == 500
    assert answer.failure("customer read").code == "bigcommerce_error"
    assert sleep.delays == [0.2, 0.5, 1.0]
    assert len(fake.requests) == 4


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_write_failing_with_5xx_is_not_retried(
    make_transport: MakeTransport, sleep: RecordedSleep, method: str
) -> None:
    # The write may have happened: sending it again could, say, create a second customer.
    fake = FakeBigCommerce(status(500), ok())
    answer = await (await make_transport(fake)).request(method, URL, json=[{"id": 9}])
    assert answer.status == 500
    assert answer.failure("customer create").code == "bigcommerce_error"
    assert fake.methods == [method]
    assert sleep.delays == []


async def test_read_timing_out_every_time_becomes_upstream_failed(
    make_transport: MakeTransport, sleep: RecordedSleep
) -> None:
    fake = FakeBigCommerce(httpx.ReadTimeout("slow"))
    with pytest.raises(UpstreamFailed) as failed:
        await (await make_transport(fake)).request("GET", URL)
    assert failed.value.code == "bigcommerce_unavailable"
    assert sleep.delays == [0.2, 0.5, 1.0]
    assert len(fake.requests) == 4


async def test_read_timing_out_once_is_retried(
    make_transport: MakeTransport, sleep: RecordedSleep
) -> None:
    fake = FakeBigCommerce(httpx.ConnectTimeout("slow"), ok())
    assert (await (await make_transport(fake)).request("GET", URL)).status == 200
    assert sleep.delays == [0.2]


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_write_timing_out_becomes_upstream_failed_without_retry(
    make_transport: MakeTransport, sleep: RecordedSleep, method: str
) -> None:
    fake = FakeBigCommerce(httpx.ReadTimeout("slow"), ok())
    with pytest.raises(UpstreamFailed) as failed:
        await (await make_transport(fake)).request(method, URL, json=[])
    assert failed.value.code == "bigcommerce_unavailable"
    assert fake.methods == [method]
    assert sleep.delays == []


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_connection_error_becomes_upstream_failed_without_retry(
    make_transport: MakeTransport, sleep: RecordedSleep, method: str
) -> None:
    fake = FakeBigCommerce(httpx.ConnectError("refused"), ok())
    with pytest.raises(UpstreamFailed) as failed:
        await (await make_transport(fake)).request(method, URL)
    assert failed.value.code == "bigcommerce_unavailable"
    assert "refused" not in failed.value.detail
    assert len(fake.requests) == 1
    assert sleep.delays == []


# --- the answer cap ----------------------------------------------------------------------------


async def test_answer_up_to_the_cap_is_read_in_full(make_transport: MakeTransport) -> None:
    body = b"x" * MAX_ANSWER_BYTES
    fake = FakeBigCommerce(httpx.Response(200, content=body))
    answer = await (await make_transport(fake)).request("GET", URL)
    assert answer.content == body


async def test_answer_declaring_more_than_the_cap_is_refused_and_not_retried(
    make_transport: MakeTransport, sleep: RecordedSleep
) -> None:
    fake = FakeBigCommerce(httpx.Response(200, content=b"x" * (MAX_ANSWER_BYTES + 1)))
    with pytest.raises(UpstreamFailed) as refused:
        await (await make_transport(fake)).request("GET", URL)
    assert refused.value.code == "bigcommerce_error"
    assert "answer over" in refused.value.detail
    assert len(fake.requests) == 1
    assert sleep.delays == []


async def test_answer_without_a_length_is_refused_once_it_passes_the_cap(
    make_transport: MakeTransport,
) -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        while sent < 64 * MAX_ANSWER_BYTES:
            sent += 65536
            yield b"x" * 65536

    fake = FakeBigCommerce(lambda _request: httpx.Response(200, content=endless()))
    with pytest.raises(UpstreamFailed) as refused:
        await (await make_transport(fake)).request("GET", URL)
    assert refused.value.code == "bigcommerce_error"
    assert sent <= MAX_ANSWER_BYTES + 65536


async def test_compressed_answer_is_capped_at_its_decoded_size(
    make_transport: MakeTransport,
) -> None:
    packed = gzip.compress(b" " * (2 * MAX_ANSWER_BYTES))
    assert len(packed) < MAX_ANSWER_BYTES
    fake = FakeBigCommerce(
        httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=packed)
    )
    with pytest.raises(UpstreamFailed) as refused:
        await (await make_transport(fake)).request("GET", URL)
    assert refused.value.code == "bigcommerce_error"


# --- what goes out -----------------------------------------------------------------------------


async def test_every_request_carries_the_api_token_and_asks_for_json(
    make_transport: MakeTransport,
) -> None:
    fake = FakeBigCommerce(ok())
    transport = await make_transport(fake)
    await transport.request("GET", URL, params={"email:in": "a@example.com", "limit": 10})
    await transport.request("POST", URL, json=[{"email": "a@example.com"}])
    get, post = fake.requests
    for request in (get, post):
        assert request.headers["X-Auth-Token"] == API_TOKEN
        assert request.headers["Accept"] == "application/json"
        assert request.headers["Content-Type"] == "application/json"
    assert get.url.params["email:in"] == "a@example.com"
    assert get.url.params["limit"] == "10"
    assert json.loads(post.content) == [{"email": "a@example.com"}]


async def test_extra_headers_such_as_the_store_hash_go_with_every_request(
    make_transport: MakeTransport,
) -> None:
    fake = FakeBigCommerce(ok())
    transport = await make_transport(fake, headers={"X-Store-Hash": "abc123"})
    await transport.request("GET", "https://api-b2b.bigcommerce.test/api/v3/io/companies")
    (request,) = fake.requests
    assert request.headers["X-Store-Hash"] == "abc123"
    assert request.headers["X-Auth-Token"] == API_TOKEN


async def test_without_an_api_token_no_auth_header_is_sent(make_transport: MakeTransport) -> None:
    fake = FakeBigCommerce(ok())
    await (await make_transport(fake, api_token=None)).request("POST", URL, json={})
    assert "X-Auth-Token" not in fake.requests[0].headers


# --- metrics -----------------------------------------------------------------------------------


async def test_the_observer_is_told_every_answer_retries_included(
    make_transport: MakeTransport,
) -> None:
    seen: list[tuple[str, int]] = []
    fake = FakeBigCommerce(rate_limited(100), httpx.ReadTimeout("slow"), status(502), ok())
    transport = await make_transport(fake, observe=lambda method, code: seen.append((method, code)))
    await transport.request("GET", URL)
    # A timeout has no status to count.
    assert seen == [("GET", 429), ("GET", 502), ("GET", 200)]


# --- answers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [401, 403])
async def test_refused_credentials_are_reported_as_an_auth_failure(
    make_transport: MakeTransport, code: int
) -> None:
    answer = await (await make_transport(FakeBigCommerce(status(code)))).request("GET", URL)
    failure = answer.failure("customer read")
    assert failure.code == "bigcommerce_auth"
    assert failure.detail == f"BigCommerce customer read: HTTP {code}"


@pytest.mark.parametrize("code", [400, 404, 422, 500])
def test_other_refusals_are_reported_as_bigcommerce_errors(code: int) -> None:
    failure = Answer(code, b"{}").failure("customer update")
    assert failure.code == "bigcommerce_error"
    assert failure.status == 502


def test_answer_json_is_the_parsed_body() -> None:
    assert Answer(200, b'{"data": [{"id": 7}]}').json() == {"data": [{"id": 7}]}


@pytest.mark.parametrize("body", [b"", b"<html>maintenance</html>", b"\xff\xfe{"])
def test_answer_json_of_a_body_that_is_not_json_is_none(body: bytes) -> None:
    assert Answer(200, body).json() is None


def test_answer_repr_leaves_the_body_out() -> None:
    assert "jane" not in repr(Answer(200, b'{"data": [{"email": "jane@example.com"}]}'))
