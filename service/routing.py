"""How the read routes match requests: every GET route answers HEAD too.

Uptime monitors, link checkers and feed readers ask ``HEAD`` (RFC 9110: the GET's status and headers, no
body). FastAPI routes declared ``GET`` answer it 405, and declaring ``HEAD`` beside ``GET`` would put a second
operation per path in the OpenAPI schema. So the match treats HEAD as GET, and the handler runs with the
request's own method: the server (uvicorn) sends no body for a HEAD, and a ``FileResponse`` reads none.
"""

from __future__ import annotations

from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import Receive, Scope, Send

_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def allowed_methods(scope: Scope) -> set[str]:
    """Every method some route of the app answers at the request's path. Two routers can share a path (the
    read API's ``GET /api/talks/{id}``, the admin API's ``DELETE``), and Starlette's 405 names the methods of
    the first route that matched the path alone; asking each route (``matches``, the public route interface)
    finds them all."""
    routes = scope["app"].router.routes
    return {method for method in _METHODS
            if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in routes)}


class ReadRoute(APIRoute):
    def _head(self, scope: Scope) -> bool:
        return scope.get("type") == "http" and scope.get("method") == "HEAD" and "GET" in self.methods

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        return super().matches({**scope, "method": "GET"} if self._head(scope) else scope)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._head(scope):
            await self.app(scope, receive, send)  # past the method check, which knows only GET
        elif self.methods and scope["method"] not in self.methods:
            # That check's 405, its Allow naming HEAD and the other routes' methods too: RFC 9110 wants every
            # method the resource answers listed.
            raise HTTPException(405, headers={"Allow": ", ".join(sorted(allowed_methods(scope)))})
        else:
            await super().handle(scope, receive, send)
