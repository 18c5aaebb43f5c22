"""An httpx transport that lets requests reach loopback hosts only.

Property-based tests invent URLs (issuers, API bases); this keeps the adapter from calling
anything but the servers the test suite runs here.
"""

from __future__ import annotations

import httpx

from adapter.core.urls import is_loopback_host


class LoopbackOnlyTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport):
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not is_loopback_host(request.url.host):
            raise httpx.ConnectError(
                f"test suite: {request.url.host} is not loopback", request=request
            )
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def confine_to_loopback(client: httpx.AsyncClient) -> None:
    client._transport = LoopbackOnlyTransport(client._transport)
