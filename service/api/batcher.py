"""Micro-batching: concurrent requests for the same target are gathered for a few ms into one model call.

One model thread runs every call, so two cores are not fought over by parallel encodes; while it is busy,
new requests keep gathering, and under load each call takes everything that arrived meanwhile. Within a
call each distinct text is decided once, however many requests asked for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from autocode.service.api.metrics import Metrics

__all__ = ["MicroBatcher"]

R = TypeVar("R")
Decide = Callable[[list[str]], Sequence[Any]]


@dataclass
class _Request:
    target: str
    decide: Decide
    texts: list[str]
    future: asyncio.Future[list[Any]]
    arrived: float  # loop time


class MicroBatcher:
    """Gathers `submit` calls for up to `window_s` after the oldest arrived (or until `max_batch` texts wait); runs each target's batch once."""

    def __init__(self, executor: ThreadPoolExecutor, metrics: Metrics, *, window_s: float = 0.005, max_batch: int = 256) -> None:
        self.executor, self.metrics = executor, metrics
        self.window_s, self.max_batch = window_s, max_batch
        self._pending: list[_Request] = []
        self._waiting_texts = 0
        self._has_work: asyncio.Event | None = None
        self._full: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._goal = max_batch  # texts that end a wait early (see _worker)
        self._last_call = 0  # texts in the model call that ended last
        self._quiet_call = False  # that call held one text and no request arrived while it ran

    def start(self) -> None:
        """Start the gathering task on the running loop."""
        self._has_work, self._full = asyncio.Event(), asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._worker())

    async def stop(self) -> None:
        """Stop gathering; requests still waiting are failed, not left hanging."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for request in self._pending:
            if not request.future.done():
                request.future.set_exception(RuntimeError("server shutting down"))
        self._pending.clear()

    async def submit(self, target: str, decide: Decide, texts: list[str]) -> list[Any]:
        """Results of `decide` for `texts`, in order, decided together with other requests for `target`."""
        if not texts:
            return []
        if self._task is None or self._has_work is None or self._full is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        self._pending.append(_Request(target, decide, list(texts), future, loop.time()))
        self._waiting_texts += len(texts)
        self.metrics.queue_depth.set(self._waiting_texts)
        self._has_work.set()
        if self._waiting_texts >= self._goal:
            self._full.set()
        return await future

    def _take(self) -> list[_Request]:
        # The oldest request's target goes first; its batch takes every waiting request for that target up to max_batch.
        target = self._pending[0].target
        taken: list[_Request] = []
        rest: list[_Request] = []
        size = 0
        for request in self._pending:
            if request.target == target and (not taken or size + len(request.texts) <= self.max_batch):
                taken.append(request)
                size += len(request.texts)
            else:
                rest.append(request)
        self._pending = rest
        self._waiting_texts -= size
        self.metrics.queue_depth.set(self._waiting_texts)
        return taken

    async def _worker(self) -> None:
        assert self._has_work is not None and self._full is not None
        loop = asyncio.get_running_loop()
        while True:
            await self._has_work.wait()
            if not self._pending:
                self._has_work.clear()
                continue
            # The window runs from the oldest request's arrival: requests that gathered while the model was
            # busy have waited already, and the model should not sit idle for another window. But when a call
            # has just answered more requests than are waiting now, those clients are about to ask again: wait
            # one window for them rather than run the few waiting alone (under 32 clients, calls alternated
            # 1 text / 31 texts, and the lone text cost a third of the full call).
            # A lone text after a one-text call during which nobody else asked is one client asking in turn: no one
            # else is coming, so it runs at once (the window was most of a one-text request's p50 with the int8
            # encoder). Clients that arrive while calls run (even one at a time) keep the window.
            solo = self._quiet_call and self._waiting_texts == 1
            refill = self._waiting_texts < self._last_call
            self._goal = min(self._last_call, self.max_batch) if refill else self.max_batch
            delay = 0.0 if solo else self.window_s if refill else self._pending[0].arrived + self.window_s - loop.time()
            self._last_call = 0
            if delay > 0 and self._waiting_texts < self._goal:
                self._full.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), delay)
            self._goal = self.max_batch
            batch = self._take()
            if not self._pending:
                self._has_work.clear()
            if self._waiting_texts < self.max_batch:
                self._full.clear()
            batch = [r for r in batch if not r.future.done()]  # a client that went away is not computed for
            if not batch:
                continue
            unique = list(dict.fromkeys(t for r in batch for t in r.texts))
            self._last_call = len(unique)
            target = batch[0].target
            self.metrics.batch_size.labels(target).observe(len(unique))
            self.metrics.batch_requests.labels(target).observe(len(batch))
            started = loop.time()
            self._quiet_call = False
            try:
                results = await loop.run_in_executor(self.executor, batch[0].decide, unique)
                self._quiet_call = len(unique) == 1 and not any(r.arrived >= started for r in self._pending)
                if len(results) != len(unique):
                    raise RuntimeError(f"{target}: {len(results)} results for {len(unique)} texts")
            except Exception as exc:  # noqa: BLE001 (handed to every waiting request, which re-raises it)
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(exc)
                continue
            by_text = dict(zip(unique, results, strict=True))
            for request in batch:
                if not request.future.done():
                    request.future.set_result([by_text[t] for t in request.texts])
