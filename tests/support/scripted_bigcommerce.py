"""A scripted BigCommerce at the transport (httpx.MockTransport), for unit tests of the REST
clients: it answers in order, records every request, and a recorded `sleep` stands in for
the clock, so retries are seen as the delays they would have waited."""

from __future__ import annotations

from collections.abc import Callable

import httpx

Answer = httpx.Response | Exception


def rate_limited(reset_ms: int | str | None = None) -> httpx.Response:
    headers = {} if reset_ms is None else {"X-Rate-Limit-Time-Reset-Ms": str(reset_ms)}
    return httpx.Response(429, headers=headers, json={"status": 429, "title": "Too many"})


def status(code: int) -> httpx.Response:
    return httpx.Response(code, json={"status": code, "title": "error"})


class FakeBigCommerce:
    """Answers requests in order; the last answer repeats. Records every request."""

    def __init__(self, *answers: Answer | Callable[[httpx.Request], Answer]):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if callable(answer) and not isinstance(answer, httpx.Response):
            answer = answer(request)
        if isinstance(answer, Exception):
            raise answer
        return answer

    @property
    def methods(self) -> list[str]:
        return [r.method for r in self.requests]


class RecordedSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
