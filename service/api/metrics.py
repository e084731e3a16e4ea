"""Prometheus metrics for one server process: requests, latencies, encode batch sizes, queue depths."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["Metrics"]


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
