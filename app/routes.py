"""HTTP routes: thin; validation by the schemas, work by ``app.recommender`` in each endpoint's batch thread."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response

from app import schemas
from app.batching import Batched, MicroBatcher, Overloaded
from app.errors import ApiError, NotReady
from app.metrics import ServiceMetrics
from app.model_process import ModelUnavailable
from app.recommender import Recommendation, Recommender
from app.service import Batchers, public_manifest

ERRORS = {status: {"model": schemas.ErrorResponse} for status in (400, 404, 413, 422, 500, 503, 504)}
router = APIRouter()


def serving(request: Request) -> tuple[Recommender, ServiceMetrics, Batchers]:
    """What a model route needs, read straight from the app state: resolving FastAPI dependencies (one
    ``Depends`` each) cost more per request than the model call under load."""
    state = request.app.state
    current = state.models.current
    if current is None:
        raise NotReady(state.models.last_error or "loading")
    if (reason := current.unavailable()) is not None:
        raise NotReady(reason)
    return current, state.metrics, state.batchers


async def recommender(request: Request) -> Recommender:
    return serving(request)[0]


async def run_batched(batcher: MicroBatcher, model: Recommender, payload: object, deadline_s: float) -> Batched:
    """Queue one request for its endpoint's batch thread and wait, at most ``deadline_s``, for its answer."""
    model.in_flight += 1  # the model process keeps this version loaded until it drops to zero
    try:
        async with asyncio.timeout(deadline_s):
            return await batcher.submit((model, payload))
    except TimeoutError as error:
        raise ApiError(504, "timeout", f"the model did not answer within {deadline_s:g} s",
                       {"deadline_s": deadline_s}) from error
    except Overloaded as error:
        raise ApiError(503, "overloaded", "too many requests are waiting; retry shortly", str(error)) from error
    except ModelUnavailable as error:
        raise ApiError(503, "model_unavailable", "no working model process holds this version right now; "
                       "retry shortly", str(error)) from error
    finally:
        model.in_flight -= 1


def _respond(metrics: ServiceMetrics, endpoint: str, batched: Batched, body: dict) -> Response:
    """Serialize (orjson; the body already has the response model's shape, which tests check), and
    report where the time went: Server-Timing header and per-stage histograms."""
    started = time.perf_counter()
    content = orjson.dumps(body)
    stages = {"queue": batched.queue_seconds, **batched.stages, "serialize": time.perf_counter() - started}
    metrics.observe(endpoint, stages, batched.batch_size)
    timing = ", ".join(f"{stage};dur={seconds * 1000:.3f}" for stage, seconds in stages.items())
    return Response(content, media_type="application/json",
                    headers={"Server-Timing": f"{timing}, batch;desc={batched.batch_size}"})


@router.get("/recommend/{user_id}", response_model=schemas.RecommendResponse, responses=ERRORS,
            summary="Top-k items for a user: ScaNN candidates ranked by the ranking model")
async def recommend(
    request: Request,
    user_id: Annotated[str, Path(min_length=1, max_length=schemas.MAX_ID_LENGTH)],
    k: Annotated[int, Query(ge=1, le=schemas.MAX_K, description="number of items")] = 10,
) -> Response:
    model, metrics, queues = serving(request)
    batched = await run_batched(queues.recommend, model, (user_id, k), queues.deadline_s)
    result: Recommendation = batched.result
    metrics.count_strategy("recommend", result.strategy)
    return _respond(metrics, "recommend", batched, {"user_id": user_id, "model_version": model.version,
                                                    "strategy": result.strategy, "items": result.items})


@router.post("/session/next", response_model=schemas.SessionResponse, responses=ERRORS,
             summary="Next items for an anonymous session")
async def session_next(request: Request, body: schemas.SessionRequest) -> Response:
    model, metrics, queues = serving(request)
    batched = await run_batched(queues.session, model, (body.items, body.k), queues.deadline_s)
    result: Recommendation = batched.result
    metrics.count_strategy("session", result.strategy)
    return _respond(metrics, "session", batched, {"model_version": model.version, "strategy": result.strategy,
                                                  "items": result.items, "unknown_items": result.unknown_items or []})


@router.post("/predict-rating", response_model=schemas.RatingResponse, response_model_exclude_none=True,
             responses=ERRORS, summary="Predicted rating of one (user, item) pair or of up to 1000 pairs")
async def predict_rating(request: Request, body: schemas.RatingRequest) -> Response:
    model, metrics, queues = serving(request)
    batched = await run_batched(queues.predict, model, body.as_pairs(), queues.deadline_s)
    ratings: list[float] = batched.result
    answer = {"ratings": ratings} if isinstance(body, schemas.RatingBatch) else {"rating": ratings[0]}
    return _respond(metrics, "predict", batched, {"model_version": model.version, **answer})


@router.get("/healthz", response_model=schemas.ModelStatus, summary="The process is alive")
async def healthz() -> schemas.ModelStatus:
    return schemas.ModelStatus(status="ok")


@router.get("/readyz", response_model=schemas.ModelStatus, responses={503: {"model": schemas.ErrorResponse}},
            summary="200 once a model version is loaded; 503 before, and while the model process restarts")
async def readyz(model: Annotated[Recommender, Depends(recommender)]) -> schemas.ModelStatus:
    return schemas.ModelStatus(status="ready", model_version=model.version)


@router.get("/models", responses={503: {"model": schemas.ErrorResponse}},
            summary="The manifest of the loaded model version (no server paths; file checksums as a count)")
async def models(request: Request, model: Annotated[Recommender, Depends(recommender)]) -> dict:
    fallback = request.app.state.models.fallback
    return {**public_manifest(model.manifest), **({"serving_fallback": fallback} if fallback else {})}


@router.get("/metrics", include_in_schema=False)
async def prometheus(request: Request) -> Response:
    body, content_type = request.app.state.metrics.render()
    return Response(body, media_type=content_type)
