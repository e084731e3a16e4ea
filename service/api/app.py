"""The FastAPI app: lifespan (background model loading, job runner), middleware, ops routes and error mapping."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from autocode.service.api.batcher import MicroBatcher
from autocode.service.api.config import Settings, load_settings
from autocode.service.api.engine import Engine, NotReady, Target, read_reference
from autocode.service.api.errors import ERROR_RESPONSES, error_response, install_error_handlers
from autocode.service.api.limits import BodyLimit
from autocode.service.api.metrics import Metrics, RequestMetrics
from autocode.service.api.schemas import Health, Readiness

__all__ = ["create_app"]

log = logging.getLogger("autocode.api")


@dataclass
class Context:
    """Everything a request handler needs, on `app.state.ctx`."""

    settings: Settings
    engine: Engine
    metrics: Metrics
    batcher: MicroBatcher
    keys: Any
    jobs: Any
    runner: Any = None
    review: Any = None  # ReviewSessions, made on the first review request
    model_thread: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="autocode-model"))
    io_threads: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(4, thread_name_prefix="autocode-io"))

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run `fn` in the model thread (anything that encodes or touches a model goes here)."""
        return await asyncio.get_running_loop().run_in_executor(self.model_thread, lambda: fn(*args))

    async def run_io(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run blocking file work off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.io_threads, lambda: fn(*args, **kwargs))


def _decider_for(engine: Engine) -> Callable[[Any], Any]:
    from autocode.service.batch.runner import PREDICTION_FIELDS, prediction_fields

    def decider_for(job: Any) -> Any:
        engine.require_ready()
        if job.target == "employers":
            from autocode.service.cli.employers import employer_fields

            return (lambda texts: [r.fields() for r in engine.resolver().resolve(texts)]), employer_fields()
        target = Target.parse(job.target)
        return (lambda texts: [prediction_fields(p) for p in engine.classify(target, texts)]), PREDICTION_FIELDS

    return decider_for


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new app; models load in the background when it starts (see /readyz)."""
    from autocode.service.batch.jobs import JobRunner, JobStore
    from autocode.service.stores.keys import KeyStore

    settings = settings or load_settings()
    if settings.employer_reference:
        from pathlib import Path

        from autocode.service.employer_engine import use_reference

        use_reference(read_reference(Path(settings.employer_reference)))
    metrics = Metrics()
    engine = Engine(settings)
    # The batcher needs ctx.model_thread, so it is set on the next line.
    ctx = Context(settings, engine, metrics, None, KeyStore(), JobStore())  # type: ignore[arg-type]
    ctx.batcher = MicroBatcher(ctx.model_thread, metrics, window_s=settings.batch_window_ms / 1000, max_batch=settings.max_batch)
    ctx.runner = JobRunner(ctx.jobs, _decider_for(engine), chunk_rows=settings.job_chunk_rows)
    metrics.watch("autocode_jobs_queued", "Jobs waiting to run", lambda: float(ctx.runner.queue_depth()))
    metrics.watch("autocode_texts_encoded", "Texts sent to the encoder since start", lambda: float(engine.vector_count()))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.no_auth:
            log.warning("AUTH IS OFF: every request is admitted without an API key (--no-auth). Use only on a trusted machine.")
        ctx.batcher.start()

        def load() -> None:
            engine.load()
            metrics.ready.set(1 if engine.ready else 0)
            if engine.ready:
                ctx.runner.start()  # jobs left running by a previous process resume now

        loader = threading.Thread(target=load, name="autocode-loader", daemon=True)
        loader.start()
        yield
        await ctx.batcher.stop()
        ctx.runner.stop(timeout=30)
        ctx.model_thread.shutdown(wait=False, cancel_futures=True)
        ctx.io_threads.shutdown(wait=False, cancel_futures=True)

    from autocode.embeddings.durable import autocode_version

    app = FastAPI(title="autocode", version=autocode_version(), lifespan=lifespan,
                  description="Code free text into a codebook, resolve employers, search records. Offline models; "
                              "every answer says how sure it is and whether a person should review it.")
    app.state.ctx = ctx
    install_error_handlers(app)
    _answer_not_ready(app)
    _install_metrics(app, metrics)
    _ops_routes(app, ctx)
    from autocode.service.api.routers import classify, documents, employers, jobs, review

    for area in (classify, documents, employers, jobs):
        app.include_router(area.router)
    review.install(app)

    def limit_for(scope: dict[str, Any]) -> tuple[int, str]:
        # A job upload is a file, so it gets the file limit plus room for the multipart framing.
        if scope.get("path") == "/v1/jobs" and scope.get("method") == "POST":
            return settings.max_job_bytes + 65_536, "job file"
        if scope.get("path") == "/v1/documents" and scope.get("method") == "POST":
            return settings.max_document_bytes * settings.max_documents + 65_536, "documents upload"
        return settings.max_body_bytes, "request body"

    app.add_middleware(BodyLimit, limit_for=limit_for)
    return app


def _answer_not_ready(app: FastAPI) -> None:
    # Domain errors are mapped in errors.py by kind; NotReady belongs to the engine, so it is answered here.
    @app.exception_handler(NotReady)
    async def _not_ready(_: Request, exc: NotReady) -> JSONResponse:
        return error_response(503, "not_ready", f"the server is not ready: {exc}", headers={"Retry-After": "5"})


def _install_metrics(app: FastAPI, metrics: Metrics) -> None:
    app.add_middleware(RequestMetrics, metrics=metrics)


def _ops_routes(app: FastAPI, ctx: Context) -> None:
    @app.get("/healthz", response_model=Health, tags=["ops"])
    async def healthz() -> Health:
        """Liveness: the process answers (models may still be loading)."""
        return Health(status="ok", version=app.version)

    @app.get("/readyz", response_model=Readiness, tags=["ops"], responses={503: {"model": Readiness, "description": "Not ready"}})
    async def readyz() -> Any:
        """Readiness: 200 once every model is loaded, 503 before (or if loading failed)."""
        engine = ctx.engine
        body = Readiness(ready=engine.ready, loading=engine.loading, loaded=list(engine.loaded), error=engine.error,
                         seconds=engine.load_seconds, auth=not ctx.settings.no_auth)
        return JSONResponse(body.model_dump(), status_code=200 if engine.ready else 503)

    @app.get("/metrics", tags=["ops"], response_class=Response,
             responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}, **ERROR_RESPONSES})
    async def metrics_endpoint() -> Response:
        """Prometheus metrics: request counts and latencies, encode batch sizes, queue depths."""
        return Response(ctx.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
