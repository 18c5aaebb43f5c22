"""IdP documents are read up to a cap and no further, from a real server on loopback that
answers with far too much: a huge declared body, or a chunked body that never ends."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from adapter.clock import SystemClock
from adapter.core.policy import SamlPolicy
from adapter.errors import UpstreamFailed
from adapter.oidc.discovery import MAX_DOCUMENT_BYTES, ProviderDirectory, fetch_json
from adapter.saml.metadata import MAX_METADATA_BYTES
from adapter.saml.registry import ServiceProviderRegistry
from tests.support.servers import ServerThread

CHUNK = b"x" * 65536
HUGE = 256 * 1024 * 1024  # what the server offers: far more than any cap


class Flood:
    """Serves `/declared` (a Content-Length of 256 MiB, then that many bytes), `/endless`
    (chunked, no Content-Length, never finishes) and `/trickle` (a byte now and then, for
    ever), and counts what it managed to send."""

    def __init__(self) -> None:
        self.sent = 0
        self.stopped = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            while message["type"] != "lifespan.shutdown":
                await send({"type": message["type"] + ".complete"})
                message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        headers = [(b"content-type", b"application/json")]
        if scope["path"] == "/declared":
            headers.append((b"content-length", str(HUGE).encode()))
        gone = asyncio.Event()

        async def watch() -> None:
            # The server would go on "sending" into a closed socket: stop at the disconnect.
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.create_task(watch())
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        try:
            while scope["path"] == "/trickle" and not gone.is_set():
                await send({"type": "http.response.body", "body": b" ", "more_body": True})
                self.sent += 1
                await asyncio.sleep(0.05)
            while not gone.is_set() and (scope["path"] == "/endless" or self.sent < HUGE):
                await send({"type": "http.response.body", "body": CHUNK, "more_body": True})
                self.sent += len(CHUNK)
                await asyncio.sleep(0)
            await send({"type": "http.response.body", "body": b""})
        finally:
            watcher.cancel()
            self.stopped.set()


@pytest.fixture
def flood() -> Iterator[tuple[str, Flood]]:
    app = Flood()
    server = ServerThread.bind().start(app)
    yield server.url, app
    server.stop()


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=httpx.Timeout(5.0))


def _run(coroutine: object) -> object:
    async def bounded() -> object:
        # Without a cap these reads go on for minutes or for ever; with one, they end at once.
        return await asyncio.wait_for(coroutine, timeout=20)  # type: ignore[arg-type]

    return asyncio.run(bounded())


def _stopped_early(app: Flood, cap: int) -> None:
    assert app.stopped.wait(10), "the server is still being read"
    # Socket buffers on both sides hold a few MiB that the server may count as sent.
    assert app.sent < cap + 32 * 1024 * 1024, app.sent


@pytest.mark.parametrize("path", ["/declared", "/endless"])
def test_a_discovery_document_larger_than_the_cap_is_refused_without_reading_it_all(
    flood: tuple[str, Flood], path: str
) -> None:
    url, app = flood

    async def fetch() -> None:
        async with _client() as http:
            await fetch_json(http, url + path, "discovery")

    with pytest.raises(UpstreamFailed) as refused:
        _run(fetch())
    assert refused.value.code == "idp_bad_response"
    assert "larger than" in refused.value.detail
    _stopped_early(app, MAX_DOCUMENT_BYTES)


def test_an_endless_jwks_is_refused_at_the_cap(flood: tuple[str, Flood]) -> None:
    url, app = flood

    async def fetch() -> None:
        async with _client() as http:
            directory = ProviderDirectory(http, SystemClock(), allow_insecure_loopback=True)
            await directory.jwks(url + "/endless")

    with pytest.raises(UpstreamFailed) as refused:
        _run(fetch())
    assert refused.value.code == "idp_bad_response"
    _stopped_early(app, MAX_DOCUMENT_BYTES)


@pytest.mark.parametrize("path", ["/declared", "/endless"])
def test_idp_metadata_larger_than_the_cap_is_refused_without_reading_it_all(
    flood: tuple[str, Flood], path: str
) -> None:
    url, app = flood
    body = SamlPolicy(idp_metadata_url=url + path, channel_ids=(1,))

    async def fetch() -> None:
        async with _client() as http:
            registry = ServiceProviderRegistry(http, SystemClock(), clock_skew_seconds=60)
            try:
                await registry._metadata_xml(body, refresh=False)
            finally:
                registry.close()

    with pytest.raises(UpstreamFailed) as refused:
        _run(fetch())
    assert refused.value.code == "idp_bad_response"
    assert "larger than" in refused.value.detail
    _stopped_early(app, MAX_METADATA_BYTES)


def test_an_endless_storefront_graphql_answer_is_refused_at_the_cap(
    flood: tuple[str, Flood],
) -> None:
    from adapter.bigcommerce.storefront import login_with_customer_login_jwt

    url, app = flood

    async def call() -> None:
        async with _client() as http:
            await login_with_customer_login_jwt(
                http, graphql_url=url + "/endless", storefront_token="t", jwt="j"
            )

    with pytest.raises(UpstreamFailed) as refused:
        _run(call())
    assert refused.value.code == "graphql_error"
    _stopped_early(app, 256 * 1024)


def test_a_body_that_trickles_for_ever_is_cut_off_at_the_deadline(
    flood: tuple[str, Flood],
) -> None:
    from adapter.outbound import read_capped

    url, app = flood

    async def fetch() -> None:
        async with _client() as http:
            await read_capped(
                http, "GET", url + "/trickle", what="discovery", max_bytes=1024, deadline_seconds=1
            )

    with pytest.raises(UpstreamFailed) as refused:
        _run(fetch())
    assert refused.value.code == "idp_unreachable"
    assert app.stopped.wait(10)


def test_a_customers_api_answer_without_end_is_refused_past_its_cap(
    flood: tuple[str, Flood],
) -> None:
    from adapter.bigcommerce.customers import CustomersApi
    from adapter.bigcommerce.transport import MAX_ANSWER_BYTES, BigCommerceTransport

    url, app = flood

    async def search() -> None:
        async with _client() as http:
            transport = BigCommerceTransport(http, api_token="t", max_rate_limit_wait=1)
            api = CustomersApi(transport, api_base_url=url, store_hash="abc")
            await api.find_by_email("ada@example.com")

    with pytest.raises(UpstreamFailed) as refused:
        asyncio.run(search())
    assert refused.value.code == "bigcommerce_error"
    assert "answer over" in refused.value.detail
    assert app.stopped.wait(5)
    # Socket buffers on loopback hold a few MiB; the offer was 256 MiB.
    assert app.sent < MAX_ANSWER_BYTES + 32 * 1024 * 1024, app.sent
