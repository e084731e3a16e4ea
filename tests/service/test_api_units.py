"""Unit tests of the API's plumbing on small stand-in apps: body limits (also for chunked bodies) and micro-batching."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from service.api.batcher import MicroBatcher
from service.api.limits import BodyLimit
from service.api.metrics import Metrics


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
