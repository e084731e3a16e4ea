"""Unit tests of the API's plumbing on small stand-in apps: body limits (also for chunked bodies) and micro-batching."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from autocode.service.api.batcher import MicroBatcher
from autocode.service.api.limits import BodyLimit
from autocode.service.api.metrics import Metrics, RequestMetrics


def echo_app(limit: int) -> FastAPI:
    """An app that reads the whole body and says how long it was, behind BodyLimit."""
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    app.add_middleware(BodyLimit, limit_for=lambda scope: (limit, "request body"))
    return app


def test_body_limit_with_and_without_content_length() -> None:
    client = TestClient(echo_app(100))
    assert client.post("/echo", content=b"x" * 100).json() == {"bytes": 100}
    declared = client.post("/echo", content=b"x" * 101)
    assert declared.status_code == 413 and declared.json()["error"]["limit"] == 100

    def chunks():  # no Content-Length: the middleware must count as the body streams in
        for _ in range(10):
            yield b"y" * 50

    streamed = client.post("/echo", content=chunks())
    assert streamed.status_code == 413 and streamed.json()["error"]["code"] == "body_too_large"


def test_micro_batcher_gathers_concurrent_requests_and_decides_each_text_once() -> None:
    calls: list[list[str]] = []

    def fake_upper_decider(texts: list[str]) -> list[str]:  # a stand-in model: bookkeeping only
        calls.append(list(texts))
        return [t.upper() for t in texts]

    async def scenario() -> list[list[str]]:
        batcher = MicroBatcher(ThreadPoolExecutor(1), Metrics(), window_s=0.05, max_batch=100)
        batcher.start()
        try:
            asks = [["a", "b"], ["b", "c"], ["d"], ["a"]]
            return await asyncio.gather(*(batcher.submit("t", fake_upper_decider, texts) for texts in asks))
        finally:
            await batcher.stop()

    results = asyncio.run(scenario())
    assert results == [["A", "B"], ["B", "C"], ["D"], ["A"]]
    assert calls == [["a", "b", "c", "d"]]  # four requests, one call, each distinct text once


def test_micro_batcher_keeps_targets_apart_and_passes_errors_to_their_requests() -> None:
    def fake_failing_decider(texts: list[str]) -> list[str]:
        raise ValueError("model broke")

    async def scenario() -> tuple[object, object]:
        batcher = MicroBatcher(ThreadPoolExecutor(1), Metrics(), window_s=0.02, max_batch=100)
        batcher.start()
        try:
            return tuple(await asyncio.gather(batcher.submit("bad", fake_failing_decider, ["x"]),
                                              batcher.submit("good", lambda texts: [len(t) for t in texts], ["abc"]),
                                              return_exceptions=True))
        finally:
            await batcher.stop()

    failed, fine = asyncio.run(scenario())
    assert isinstance(failed, ValueError) and fine == [3]


def test_micro_batcher_window_counts_from_the_oldest_arrival() -> None:
    # Requests that queued while the model was busy have waited their window already: the next call starts at once.
    started: list[float] = []

    def fake_slow_decider(texts: list[str]) -> list[str]:  # a stand-in model: timing bookkeeping only
        started.append(time.monotonic())
        time.sleep(0.3)
        return texts

    async def scenario() -> None:
        batcher = MicroBatcher(ThreadPoolExecutor(1), Metrics(), window_s=0.2, max_batch=100)
        batcher.start()
        try:
            first = asyncio.ensure_future(batcher.submit("t", fake_slow_decider, ["a"]))
            await asyncio.sleep(0.25)  # the first call is running; this one queues behind it for ~0.25 s
            await asyncio.gather(first, batcher.submit("t", fake_slow_decider, ["b"]))
        finally:
            await batcher.stop()

    asyncio.run(scenario())
    assert len(started) == 2
    # A window counted from when the model came free would add 0.2 s; from the arrival, under 0.1 s.
    assert started[1] - started[0] < 0.3 + 0.1


def test_request_metrics_record_route_template_status_and_failures() -> None:
    metrics = Metrics()
    app = FastAPI()

    @app.get("/items/{item}")
    async def item(item: int) -> dict[str, int]:
        return {"item": item}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("broken handler")

    app.add_middleware(RequestMetrics, metrics=metrics)
    client = TestClient(app, raise_server_exceptions=False)
    assert client.get("/items/7").status_code == 200
    assert client.get("/items/x").status_code == 422
    assert client.get("/nowhere").status_code == 404
    assert client.get("/boom").status_code == 500
    text = metrics.render().decode()
    for route, status in (("/items/{item}", "200"), ("/items/{item}", "422"), ("unmatched", "404"), ("/boom", "500")):
        assert f'autocode_http_requests_total{{method="GET",route="{route}",status="{status}"}} 1.0' in text, (route, status)


def test_micro_batcher_waits_for_answered_clients_instead_of_running_a_straggler_alone() -> None:
    calls: list[list[str]] = []

    def fake_slow_decider(texts: list[str]) -> list[str]:  # a stand-in model: bookkeeping only
        calls.append(list(texts))
        time.sleep(0.2)
        return texts

    async def scenario() -> None:
        batcher = MicroBatcher(ThreadPoolExecutor(1), Metrics(), window_s=0.05, max_batch=100)
        batcher.start()
        try:
            first = [asyncio.ensure_future(batcher.submit("t", fake_slow_decider, [x])) for x in "abc"]
            await asyncio.sleep(0.1)  # the first call (window 50 ms) is running
            straggler = asyncio.ensure_future(batcher.submit("t", fake_slow_decider, ["s"]))  # waits ~150 ms > window
            await asyncio.gather(*first)
            await asyncio.sleep(0.01)  # the three answered clients ask again a moment later
            await asyncio.gather(straggler, *(batcher.submit("t", fake_slow_decider, [x]) for x in "de"))
        finally:
            await batcher.stop()

    asyncio.run(scenario())
    assert calls == [["a", "b", "c"], ["s", "d", "e"]]


def test_micro_batcher_runs_a_lone_client_at_once() -> None:
    # One client asking in turn has no one to wait for: after its first call, no request sits out the window.
    def fake_decider(texts: list[str]) -> list[str]:  # a stand-in model: timing bookkeeping only
        return texts

    async def scenario() -> list[float]:
        batcher = MicroBatcher(ThreadPoolExecutor(1), Metrics(), window_s=0.5, max_batch=100)
        batcher.start()
        try:
            took = []
            for text in "abcd":
                t0 = time.monotonic()
                await batcher.submit("t", fake_decider, [text])
                took.append(time.monotonic() - t0)
            return took
        finally:
            await batcher.stop()

    took = asyncio.run(scenario())
    assert took[0] >= 0.45, took  # the first request has no history: it waits its window
    assert max(took[1:]) < 0.25, took  # a window would make each at least 0.5 s
