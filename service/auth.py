"""The admin API's guard: ``Authorization: Bearer <TALKSEARCH_ADMIN_TOKEN>``; no token, no admin API."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from talksearch.service.errors import ApiError
from talksearch.service.state import State


def require_admin(state: State, request: Request) -> None:
    token = state.settings.admin_token
    if token is None or not token.get_secret_value():
        raise ApiError(403, "the admin API is disabled: set TALKSEARCH_ADMIN_TOKEN to enable it", "admin_disabled")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # compare_digest: the time taken does not reveal how much of the token was right
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.get_secret_value().encode()):
        raise ApiError(401, "a valid admin token is needed: Authorization: Bearer <token>", "unauthorized",
                       headers={"WWW-Authenticate": "Bearer"})


Admin = Annotated[None, Depends(require_admin)]
