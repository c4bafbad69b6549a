"""Admin routes: every route of this router requires the admin bearer token (``app.auth``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from app import schemas
from app.auth import require_admin
from app.errors import ApiError
from app.service import latest_or_none, stored_versions
from models.artifact_format import ArtifactError

ADMIN_ERRORS = {status: {"model": schemas.ErrorResponse} for status in (400, 401, 403, 409, 413, 422, 503)}
router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)], responses=ADMIN_ERRORS)
# Admin-only reads that belong beside the public GET /models.
models_router = APIRouter(tags=["admin"], dependencies=[Depends(require_admin)], responses=ADMIN_ERRORS)


@models_router.get("/models/versions", response_model=schemas.VersionList,
                   summary="The stored versions (to pick a rollback target): creation time, data, headline "
                           "metrics, and which one is loaded")
async def versions(request: Request) -> schemas.VersionList:
    service = request.app.state.models
    loaded = service.current.version if service.current else None
    latest = await run_in_threadpool(latest_or_none, service.artifacts)
    found = await run_in_threadpool(stored_versions, service.artifacts, loaded, latest)
    return schemas.VersionList(loaded=loaded, latest=latest, versions=found)


@router.post("/reload", response_model=schemas.ModelStatus,
             summary="Load the version named in LATEST (or the given one); on failure the old one stays (409)")
async def reload(request: Request, body: schemas.ReloadRequest | None = None) -> schemas.ModelStatus:
    service = request.app.state.models
    try:
        loaded = await run_in_threadpool(service.load, body.version if body else None)
    except ArtifactError as error:
        current = service.current.version if service.current else None
        raise ApiError(409 if current else 503, "reload_failed", str(error), {"serving": current}) from error
    return schemas.ModelStatus(status="ready", model_version=loaded.version)
