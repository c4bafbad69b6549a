"""The demo page (``GET /``, files in ``app/static``) and the read-only routes it needs beside the public
API: item search, a user's history, and the loaded version's plots. On only with ``RECSYS_DEMO_PAGE``
(a user's history is readable by anyone who reaches the server); the page itself calls nothing else
but the public routes (``/recommend``, ``/session/next``, ``/events``, ``/models``)."""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from app import schemas
from app.errors import ApiError
from app.routes import ERRORS, run_batched, serving
from models import artifact_format as fmt

STATIC = FilePath(__file__).with_name("static")
router = APIRouter(tags=["demo page"])


def install(app: FastAPI) -> None:
    """Serve the page, its files and its routes."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")


@router.get("/items", response_model=schemas.ItemSearch, responses=ERRORS,
            summary="Catalog items whose title or id contains q (any case), most popular first")
async def search_items(request: Request,
                       q: Annotated[str, Query(max_length=schemas.MAX_ID_LENGTH, description="empty: the most "
                                                                                              "popular items")] = "",
                       limit: Annotated[int, Query(ge=1, le=schemas.MAX_K)] = 10) -> schemas.ItemSearch:
    model, _, queues = serving(request)
    batched = await run_batched(queues.items, model, (q, limit), queues.deadline_s)
    return schemas.ItemSearch(model_version=model.version, items=batched.result)


@router.get("/users/examples", response_model=schemas.ExampleUsers, responses=ERRORS,
            summary="A few users of the loaded version, to try the page with")
async def example_users(request: Request, limit: Annotated[int, Query(ge=1, le=schemas.MAX_K)] = 8
                        ) -> schemas.ExampleUsers:
    model, _, _ = serving(request)
    return schemas.ExampleUsers(model_version=model.version, users=model.example_users(limit))


@router.get("/users/{user_id}/history", response_model=schemas.UserHistory, responses=ERRORS,
            summary="A user's latest items as the models read them: events since the version's cut-off, then "
                    "training history")
async def user_history(request: Request,
                       user_id: Annotated[str, Path(min_length=1, max_length=schemas.MAX_ID_LENGTH)],
                       limit: Annotated[int, Query(ge=1, le=200)] = 50) -> schemas.UserHistory:
    model, _, queues = serving(request)
    batched = await run_batched(queues.history, model, (user_id, limit), queues.deadline_s)
    return schemas.UserHistory(model_version=model.version, **batched.result)


@router.get("/models/plots/{name}", response_class=FileResponse, responses={**ERRORS, 200: {"content": {
            "image/png": {}}, "description": "the plot"}}, summary="A training plot of the loaded version")
async def plot(request: Request, name: Literal["training_curves.png", "metrics.png"]) -> FileResponse:
    model, _, _ = serving(request)
    path = model.path / fmt.PLOTS_DIR / name
    if not path.is_file():
        raise ApiError(404, "not_found", f"{model.version} has no plot {name}", None)
    return FileResponse(path, media_type="image/png")
