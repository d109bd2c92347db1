"""The admin API's guard: ``Authorization: Bearer <TALKSEARCH_ADMIN_TOKEN>``; no token, no admin API."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from fastapi import Request, Response, Security
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer

from talksearch.service.errors import ApiError
from talksearch.service.state import AppState, get_state

# The admin API's token in /openapi.json, so /docs has an Authorize button and sends it. Documentation only:
# auto_error=False refuses nothing, AdminRoute has checked the token (in the API's own error shape) before.
ADMIN_TOKEN_SCHEME = Security(HTTPBearer(auto_error=False, scheme_name="adminToken",
                                         description="TALKSEARCH_ADMIN_TOKEN, as `Authorization: Bearer <token>`"))


def require_admin(state: AppState, request: Request) -> None:
    token = state.settings.admin_token
    if token is None or not token.get_secret_value():
        raise ApiError(403, "the admin API is disabled: set TALKSEARCH_ADMIN_TOKEN to enable it", "admin_disabled")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # compare_digest: the time taken does not reveal how much of the token was right
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.get_secret_value().encode()):
        raise ApiError(401, "a valid admin token is needed: Authorization: Bearer <token>", "unauthorized",
                       headers={"WWW-Authenticate": "Bearer"})


class AdminRoute(APIRoute):
    """A route of the admin API: the token is checked before FastAPI reads the request's body (dependencies
    run only after it), so a caller without it cannot make the service read or parse anything."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            require_admin(get_state(request), request)
            return await handler(request)

        return guarded
