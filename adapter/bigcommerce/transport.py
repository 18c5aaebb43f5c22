"""The one way the adapter calls BigCommerce's REST APIs, over httpx.

Every REST client in this package (the Customers v3 API today; B2B Edition, the Channels and
Sites APIs and the app's OAuth token exchange as they come) sends its requests through a
`BigCommerceTransport`, so the rules below hold for all of them and are written only here.

Retry policy, per request (each attempt within the httpx client's timeouts):

- A 429 is waited out, whatever the method: BigCommerce refused the request without acting
  on it, so sending it again is safe, a write included. The pause is the answer's
  `X-Rate-Limit-Time-Reset-Ms` (milliseconds, the BigCommerce APIs) or
  `X-Request-Window-Resets-After` (seconds, B2B Edition), 1 s when neither is there or
  readable, never under 50 ms. The pauses of one request add up to at most
  `max_rate_limit_wait` seconds over at most 20 rate-limited attempts; a request that would
  go past either fails at once with `bigcommerce_rate_limited`, without waiting.
- A GET that times out or answers 5xx is retried after 0.2, 0.5 and 1 s; after the last, the
  timeout fails and the 5xx answer is handed back.
- Any other method is never retried after a timeout or a 5xx: the write may have happened,
  and sending it again could, say, create a second customer.

Every answer is read in full before it is judged, up to MAX_ANSWER_BYTES (counted after
decompression) and refused beyond: an API base URL is configured by an administrator, and one
that answers without end must not fill the worker's memory.

The caller judges the status of an `Answer`; `Answer.failure` turns one it cannot use into the
error. The errors, all `UpstreamFailed` (502, adapter.errors), by code:

    bigcommerce_unavailable   no answer: the connection failed, or it timed out (after the
                              retries of a GET)
    bigcommerce_rate_limited  still rate limited when the wait budget is spent
    bigcommerce_error         an answer over the cap; any other refusal (`Answer.failure`)
    bigcommerce_auth          401 or 403 (`Answer.failure`): the token is wrong or lacks a scope
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from adapter.errors import UpstreamFailed

__all__ = ["MAX_ANSWER_BYTES", "Answer", "BigCommerceTransport", "CallObserver", "Sleep"]

_READ_RETRY_DELAYS = (0.2, 0.5, 1.0)
# With no reset header, BigCommerce says the platform is under load: retry after a pause.
_DEFAULT_RATE_LIMIT_PAUSE = 1.0
# A reset header of 0 must not turn the wait into a busy loop against the API.
_MIN_RATE_LIMIT_PAUSE = 0.05
_MAX_RATE_LIMITED_ATTEMPTS = 20
# A page of customers or a settings object is a few KiB; an answer past this is not one.
MAX_ANSWER_BYTES = 1024 * 1024

Sleep = Callable[[float], Awaitable[None]]
# Told the method and status of every answer, retried ones included (the metrics).
CallObserver = Callable[[str, int], None]


@dataclass(frozen=True)
class Answer:
    """What BigCommerce answered to one request, after the retries, read in full."""

    status: int
    # Customer records: kept out of the repr, so an answer in a log line shows no PII.
    content: bytes = field(repr=False)

    def json(self) -> Any:
        """The body parsed as JSON; None when it is not JSON (or is JSON's null)."""
        try:
            return jsonlib.loads(self.content)
        except ValueError:
            return None

    def failure(self, what: str) -> UpstreamFailed:
        """The error for an answer the caller cannot use; `what` names the call in the log."""
        code = "bigcommerce_auth" if self.status in (401, 403) else "bigcommerce_error"
        return UpstreamFailed(f"BigCommerce {what}: HTTP {self.status}", code=code)


class BigCommerceTransport:
    """Sends requests to BigCommerce with one set of credentials, under the policy above.

    `api_token` goes out as `X-Auth-Token` (None for a call that authenticates in its body,
    such as the OAuth token exchange); `headers` are added to every request (B2B Edition
    wants `X-Store-Hash`). `sleep` and `observe` are the clock and the metrics, injected.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        api_token: str | None,
        max_rate_limit_wait: float,
        headers: Mapping[str, str] | None = None,
        sleep: Sleep = asyncio.sleep,
        observe: CallObserver | None = None,
    ):
        self._http = http
        self._headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if api_token is not None:
            self._headers["X-Auth-Token"] = api_token
        self._headers.update(headers or {})
        self._max_wait = max_rate_limit_wait
        self._sleep = sleep
        self._observe = observe

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
    ) -> Answer:
        """The answer to `method url`, whatever its status, once the policy is done with it."""
        waited = 0.0
        rate_limited = 0
        read_retries = iter(_READ_RETRY_DELAYS if method == "GET" else ())
        while True:
            try:
                answer, reset = await self._send(method, url, params=params, json=json)
            except httpx.TimeoutException:
                if method == "GET" and (delay := next(read_retries, None)) is not None:
                    await self._sleep(delay)
                    continue
                raise UpstreamFailed(
                    f"BigCommerce {method} timed out", code="bigcommerce_unavailable"
                ) from None
            except httpx.HTTPError as exc:
                raise UpstreamFailed(
                    f"BigCommerce {method}: {type(exc).__name__}", code="bigcommerce_unavailable"
                ) from None
            if self._observe:
                self._observe(method, answer.status)
            if answer.status == 429:
                pause = _reset_seconds(reset)
                rate_limited += 1
                if waited + pause > self._max_wait or rate_limited >= _MAX_RATE_LIMITED_ATTEMPTS:
                    raise UpstreamFailed(
                        f"BigCommerce rate limit: would wait {waited + pause:.1f}s",
                        code="bigcommerce_rate_limited",
                    )
                waited += pause
                await self._sleep(pause)
                continue
            if answer.status >= 500 and (delay := next(read_retries, None)) is not None:
                await self._sleep(delay)
                continue
            return answer

    async def _send(
        self, method: str, url: str, *, params: Any, json: Any
    ) -> tuple[Answer, float | None]:
        """One attempt: the answer read up to MAX_ANSWER_BYTES, and its rate-limit reset in
        seconds (None when it names none that can be read)."""
        too_large = UpstreamFailed(
            f"BigCommerce {method}: answer over {MAX_ANSWER_BYTES} bytes", code="bigcommerce_error"
        )
        async with self._http.stream(
            method, url, params=params, json=json, headers=self._headers
        ) as streamed:
            declared = streamed.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
                raise too_large  # refused unread
            body = bytearray()
            # Decoded bytes are counted, so a compressed answer is capped at its real size.
            async for chunk in streamed.aiter_bytes():
                body += chunk
                if len(body) > MAX_ANSWER_BYTES:
                    raise too_large  # leaving the block closes the connection mid-body
            return Answer(streamed.status_code, bytes(body)), _reset_header(streamed.headers)


def _reset_header(headers: httpx.Headers) -> float | None:
    try:
        if (milliseconds := headers.get("X-Rate-Limit-Time-Reset-Ms")) is not None:
            return int(milliseconds) / 1000.0
        if (seconds := headers.get("X-Request-Window-Resets-After")) is not None:
            # B2B Edition writes the unit after the number ("0.397 s").
            value = float(seconds.strip().removesuffix("s").strip())
            return value if value == value and value < float("inf") else None
    except ValueError:
        return None
    return None


def _reset_seconds(value: float | None) -> float:
    if value is None:
        return _DEFAULT_RATE_LIMIT_PAUSE
    return max(_MIN_RATE_LIMIT_PAUSE, value)
