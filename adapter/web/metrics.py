"""Prometheus metrics of one process: logins by outcome, step latencies, BigCommerce calls."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import APIRouter, Request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.responses import Response

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        # A registry per app, not the global one: several apps may live in one process.
        self.registry = CollectorRegistry()
        self.logins = Counter(
            "sso_adapter_logins_total",
            "Logins finished, by store, connection, protocol and outcome.",
            ["store", "connection", "protocol", "outcome"],
            registry=self.registry,
        )
        self.step_seconds = Histogram(
            "sso_adapter_step_seconds",
            "Time spent in each step of a login.",
            ["step"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.bigcommerce_calls = Counter(
            "sso_adapter_bigcommerce_calls_total",
            "Calls to the BigCommerce API, by method and HTTP status.",
            ["method", "status"],
            registry=self.registry,
        )

    def observe_bigcommerce(self, method: str, status: int) -> None:
        self.bigcommerce_calls.labels(method, str(status)).inc()

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.step_seconds.labels(name).observe(time.perf_counter() - started)


router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
