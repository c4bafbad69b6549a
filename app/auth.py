"""Bearer-token authentication of the write and admin routes.

A route group that needs the admin token declares ``dependencies=[Depends(require_admin)]``. Without
a configured token those routes are disabled (403, saying how to enable them); a missing or wrong
token is 401. Tokens are compared in constant time."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.errors import ApiError

admin_bearer = HTTPBearer(auto_error=False, scheme_name="AdminToken",
                          description="the value of RECSYS_ADMIN_TOKEN (or of the file RECSYS_ADMIN_TOKEN_FILE)")
events_bearer = HTTPBearer(auto_error=False, scheme_name="EventsToken",
                           description="the value of RECSYS_EVENTS_TOKEN (or of the file RECSYS_EVENTS_TOKEN_FILE)")


def check_token(configured: str | None, credentials: HTTPAuthorizationCredentials | None, setting: str) -> None:
    if configured is None:
        raise ApiError(403, "disabled", f"these routes are disabled: start the server with {setting} set", None)
    given = credentials.credentials if credentials is not None else ""
    if not hmac.compare_digest(given.encode(), configured.encode()):
        raise ApiError(401, "unauthorized", "a valid 'Authorization: Bearer <token>' header is required", None,
                       headers={"WWW-Authenticate": "Bearer"})


async def require_admin(request: Request,
                        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(admin_bearer)]) -> None:
    check_token(request.app.state.admin_token, credentials, "RECSYS_ADMIN_TOKEN or RECSYS_ADMIN_TOKEN_FILE")


async def require_events(request: Request,
                         credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(events_bearer)]) -> None:
    check_token(request.app.state.events_token, credentials, "RECSYS_EVENTS_TOKEN or RECSYS_EVENTS_TOKEN_FILE")
