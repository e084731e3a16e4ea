"""Prometheus metrics for one server process: requests, latencies, encode batch sizes, queue depths."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["Metrics", "RequestMetrics"]


class Metrics:
    """The app's metrics in a registry of its own (two apps in one process never share counters)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("autocode_http_requests", "HTTP requests answered", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("autocode_http_request_duration_seconds", "Time to answer a request", ["method", "route"],
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
                                 registry=self.registry)
        self.batch_size = Histogram("autocode_encode_batch_texts", "Texts per micro-batched model call", ["target"],
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512), registry=self.registry)
        self.batch_requests = Histogram("autocode_encode_batch_requests", "Requests gathered into one model call", ["target"],
                                        buckets=(1, 2, 4, 8, 16, 32, 64), registry=self.registry)
        self.queue_depth = Gauge("autocode_batch_queue_texts", "Texts waiting for the next micro-batch", registry=self.registry)
        self.ready = Gauge("autocode_ready", "1 when every model is loaded", registry=self.registry)

    def watch(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        """A gauge read at scrape time (job queue depth, texts encoded)."""
        Gauge(name, help_text, registry=self.registry).set_function(read)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)


Message = dict[str, Any]
ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


class RequestMetrics:
    """Raw ASGI middleware counting each request and its latency by method, route template and status.

    Starlette's BaseHTTPMiddleware (`@app.middleware("http")`) pipes every body through anyio memory
    streams and task groups: under 32 clients that was the event loop's largest cost (py-spy).
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        """Pass the request on; on the way out, record it (500 when nothing was sent)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            # The router writes the matched route into this same scope dict.
            path = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(scope["method"], path, str(status)).inc()
            self.metrics.latency.labels(scope["method"], path).observe(time.perf_counter() - start)
