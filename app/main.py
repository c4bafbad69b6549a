"""``recsys-serve`` and the app factory. The model version loads in the lifespan, in a worker thread,
so /healthz answers at once and /readyz turns 200 when the models are in memory."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

import models  # noqa: F401  (selects Keras 2 before anything can import TensorFlow)
from app.config import Settings
from app.errors import install_error_handlers
from app.metrics import MetricsMiddleware, ServiceMetrics
from app.model_process import ModelProcess
from app.routes import router
from app.service import Batchers, ModelService, RecommenderFactory, tensorflow_recommender

log = logging.getLogger("recsys.api")


def create_app(settings: Settings | None = None, build: RecommenderFactory | None = None) -> FastAPI:
    """``build`` turns a version directory into a Recommender; tests pass one without TensorFlow.
    Without it, versions load into the model process (``app.model_process``), or into this process
    when ``settings.model_process`` is off."""
    settings = settings or Settings()
    model_process = ModelProcess(settings) if build is None and settings.model_process else None
    if build is None:
        build = model_process.load if model_process is not None else tensorflow_recommender(settings)
    service = ModelService(settings.artifacts, build)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def load() -> None:
            try:
                await run_in_threadpool(service.load)
            except Exception as error:  # logged by the service; /readyz reports it
                log.error("no model version loaded at startup: %s", error)

        task = asyncio.create_task(load())
        yield
        task.cancel()
        app.state.batchers.close()
        if model_process is not None:
            await run_in_threadpool(model_process.close)

    app = FastAPI(title="recsys", version="0.1.0", lifespan=lifespan,
                  description="Two-stage recommendations (ScaNN retrieval + ranking), session next-item "
                              "predictions and rating predictions from one trained artifact version.")
    app.state.settings = settings
    app.state.models = service
    app.state.metrics = ServiceMetrics()
    app.state.batchers = Batchers(settings)
    install_error_handlers(app)
    app.include_router(router)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="recsys-serve", description="Serve the latest trained model version. "
                                     "Every flag also reads a RECSYS_* environment variable.")
    parser.add_argument("--artifacts", type=Path, help="artifact root [RECSYS_ARTIFACTS, default artifacts]")
    parser.add_argument("--host", help="[RECSYS_HOST, default 127.0.0.1]")
    parser.add_argument("--port", type=int, help="[RECSYS_PORT, default 8000]")
    parser.add_argument("--workers", type=int, help="uvicorn worker processes [RECSYS_WORKERS, default 1]")
    parser.add_argument("--log-level", help="[RECSYS_LOG_LEVEL, default info]")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    args = _arguments(argv)
    overrides = {name: value for name, value in vars(args).items() if value is not None}
    settings = Settings(**overrides)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.workers > 1:
        # Each worker process imports the app from its own settings; pass them through the environment.
        import os

        for name, value in overrides.items():
            os.environ[f"RECSYS_{name.upper()}"] = str(value)
        uvicorn.run("app.main:create_app", factory=True, host=settings.host, port=settings.port,
                    workers=settings.workers, log_level=settings.log_level)
    else:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
