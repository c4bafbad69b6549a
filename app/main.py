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
from fastapi_offline import FastAPIOffline
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

import models  # noqa: F401  (selects Keras 2 before anything can import TensorFlow)
from app.admin_routes import models_router
from app.admin_routes import router as admin_router
from app.config import Settings
from app.errors import install_error_handlers
from app.event_routes import EventLog
from app.event_routes import router as event_router
from app.limits import BodyLimitMiddleware
from app.metrics import MetricsMiddleware, ServiceMetrics
from app.model_process import ModelProcess
from app.page_routes import install as install_page
from app.routes import router
from app.service import Batchers, ModelService, RecommenderFactory, latest_or_none, tensorflow_recommender
from models.artifact_format import ArtifactError

log = logging.getLogger("recsys.api")


def create_app(settings: Settings | None = None, build: RecommenderFactory | None = None) -> FastAPI:
    """``build`` turns a version directory into a Recommender; tests pass one without TensorFlow.
    Without it, versions load into the model process (``app.model_process``), or into this process
    when ``settings.model_process`` is off."""
    settings = settings or Settings()
    metrics = ServiceMetrics()
    model_process = ModelProcess(settings, metrics) if build is None and settings.model_process else None
    if build is None:
        build = model_process.load if model_process is not None else tensorflow_recommender(settings)
    service = ModelService(settings.artifacts, build)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        latest_at_start = latest_or_none(settings.artifacts)

        async def load() -> None:
            try:
                await run_in_threadpool(service.load)
            except ArtifactError as error:  # logged by the service; /readyz reports it
                log.error("no model version loaded at startup: %s", error)
            if settings.reload_poll_s > 0:
                await follow_latest(service, settings.reload_poll_s, latest_at_start)

        task = asyncio.create_task(load())
        yield
        task.cancel()
        app.state.batchers.close()
        app.state.event_log.close()
        if model_process is not None:
            await run_in_threadpool(model_process.close)

    # Swagger UI and ReDoc from the assets fastapi-offline installs: /docs works without internet.
    app = FastAPIOffline(title="recsys", version="0.1.0", lifespan=lifespan,
                  description="Two-stage recommendations (ScaNN retrieval + ranking), session next-item "
                              "predictions and rating predictions from one trained artifact version. "
                              "Admin routes need `Authorization: Bearer <RECSYS_ADMIN_TOKEN>`, the event routes "
                              "`Authorization: Bearer <RECSYS_EVENTS_TOKEN>`.")
    app.state.settings = settings
    app.state.admin_token = settings.admin_secret()
    app.state.events_token = settings.events_secret()
    app.state.event_log = EventLog(settings)
    app.state.models = service
    app.state.metrics = metrics
    app.state.batchers = Batchers(settings)
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(admin_router)
    app.include_router(models_router)
    app.include_router(event_router)
    if settings.demo_page:
        install_page(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # outermost: counts 413s too
    return app


async def follow_latest(service: ModelService, every_s: float, seen: str | None) -> None:
    """Load each version newly named in LATEST (RECSYS_RELOAD_POLL_S). Only a change of LATEST
    triggers a load, so a rollback to another version through POST /admin/reload stays in place until
    the trainer publishes again."""
    while True:
        await asyncio.sleep(every_s)
        latest = latest_or_none(service.artifacts)
        if latest is None or latest == seen:
            continue
        seen = latest
        log.info("LATEST now names %s; loading it", latest)
        try:
            await run_in_threadpool(service.load)
        except ArtifactError as error:  # the service logged it and keeps the old version
            log.error("not serving %s: %s", latest, error)


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
    try:
        settings = Settings(**overrides)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, item['loc'])) or 'settings'}: {item['msg']}"
                             for item in error.errors())
        print(f"recsys-serve: invalid settings: {problems}", file=sys.stderr)
        return 2
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
