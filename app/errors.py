"""One JSON error shape for every 4xx/5xx: ``{"error": {"code", "message", "details"}}``.

Errors are raised where they are detected (``ApiError`` and its subclasses) and turned into
responses here, in one place. Every 503 carries ``Retry-After``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.recommender import UnknownIdError

log = logging.getLogger("recsys.api")

# Seconds a client should wait before retrying a 503, by error code: a replaced model process
# loads its versions again in about 10 s here; a full queue drains in milliseconds.
RETRY_AFTER_S = {"not_ready": 5, "model_unavailable": 5, "reload_failed": 5, "overloaded": 1, "events_unavailable": 5}
HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
              413: "payload_too_large"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers


class NotReady(ApiError):
    def __init__(self, reason: str) -> None:
        super().__init__(503, "not_ready", "no model version can answer right now", {"reason": reason})


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(status: int, code: str, message: str, details: Any = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    headers = dict(headers or {})
    if status == 503:
        headers.setdefault("Retry-After", str(RETRY_AFTER_S.get(code, 1)))
    return JSONResponse(status_code=status, content=error_body(code, message, details), headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.code, error.message, error.details, error.headers)

    @app.exception_handler(UnknownIdError)
    async def unknown_id(_: Request, error: UnknownIdError) -> JSONResponse:
        return error_response(404, f"unknown_{error.kind}", str(error), {f"{error.kind}_id": error.value})

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = [{"location": list(item.get("loc", ())), "message": item.get("msg", ""), "type": item.get("type")}
                    for item in error.errors()]
        return error_response(422, "invalid_request", "the request does not match the API schema", problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(error.status_code, "http_error")
        return error_response(error.status_code, code, str(error.detail), headers=error.headers)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal server error", None)
