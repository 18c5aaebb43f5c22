"""The production HTTP client opens connections only to addresses it checked, against a real
server on loopback (loopback being one of the addresses production refuses)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from adapter.outbound import GuardedTransport, check_public_host
from adapter.services.runtime import _http_client, _tls_context
from adapter.settings import Settings
from tests.support.servers import ServerThread


@pytest.fixture
def server() -> Iterator[tuple[int, list[str]]]:
    seen: list[str] = []

    async def hello(request: Request) -> PlainTextResponse:
        seen.append(request.headers["host"])
        return PlainTextResponse("hello")

    thread = ServerThread.bind().start(Starlette(routes=[Route("/", hello)]))
    yield int(thread.url.rsplit(":", 1)[1]), seen
    thread.stop()


def _guarded() -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=5)
    return httpx.AsyncClient(transport=GuardedTransport(verify=_tls_context(), limits=limits))


def test_a_name_that_resolves_to_loopback_is_not_connected_to(
    server: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, seen = server

    async def resolve(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    monkeypatch.setattr("adapter.outbound.resolve_host", resolve)

    async def call() -> None:
        async with _guarded() as http:
            await http.get(f"http://idp.example.com:{port}/")

    with pytest.raises(httpx.ConnectError):
        asyncio.run(call())
    assert seen == []


def test_a_name_checked_public_then_rebound_to_loopback_is_refused_at_connect(
    server: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, seen = server
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    monkeypatch.setattr("adapter.outbound.resolve_host", rebinding)
    url = f"http://rebound.example.com:{port}/"

    async def call() -> None:
        assert await check_public_host(url) is None  # the save-time check passes
        async with _guarded() as http:
            await http.get(url)

    with pytest.raises(httpx.ConnectError):
        asyncio.run(call())
    assert seen == []


def test_the_connection_goes_to_the_address_that_was_checked(
    server: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The name does not exist in any real DNS: reaching the server proves that the client
    # connected to the checked address and did not resolve the name a second time.
    port, seen = server

    async def resolve(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    monkeypatch.setattr("adapter.outbound.resolve_host", resolve)
    monkeypatch.setattr("adapter.outbound.internal_address_reason", lambda address: None)

    async def call() -> str:
        async with _guarded() as http:
            return (await http.get(f"http://checked.invalid:{port}/")).text

    assert asyncio.run(call()) == "hello"
    assert seen == [f"checked.invalid:{port}"]


def test_the_production_clients_are_guarded_and_the_test_clients_are_not(
    server: tuple[int, list[str]],
) -> None:
    port, seen = server

    async def call(allow: bool) -> int:
        settings = Settings(allow_insecure_loopback=allow)
        async with _http_client(settings) as http:
            return (await http.get(f"http://127.0.0.1:{port}/")).status_code

    assert asyncio.run(call(True)) == 200
    with pytest.raises(httpx.ConnectError):
        asyncio.run(call(False))
    assert len(seen) == 1


def test_a_resolver_that_never_answers_ends_in_the_connect_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def silent(host: str, port: int) -> list[str]:
        await asyncio.sleep(3600)
        return []

    monkeypatch.setattr("adapter.outbound.resolve_host", silent)

    async def call() -> None:
        limits = httpx.Limits(max_connections=5)
        transport = GuardedTransport(verify=_tls_context(), limits=limits)
        async with httpx.AsyncClient(transport=transport, timeout=0.2) as http:
            await http.get("https://slow.example.com/")

    with pytest.raises(httpx.ConnectTimeout):
        asyncio.run(asyncio.wait_for(call(), 10))
