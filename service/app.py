"""The FastAPI application: ``create_app(settings)``; uvicorn runs it via ``talksearch serve``."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from mcp.server import streamable_http
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.inbound import MCP_METHOD_HEADER, MCP_NAME_HEADER, MCP_PROTOCOL_VERSION_HEADER
from starlette.datastructures import Headers
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware, GZipResponder, IdentityResponder
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from talksearch import __version__
from talksearch.library import Library
from talksearch.search.searcher import Searcher, open_searcher
from talksearch.service import errors, openapi
from talksearch.service.assistant import ClientPosts, build_server
from talksearch.service.encoding import accepts_gzip
from talksearch.service.jobs import JobQueue
from talksearch.service.metrics import Metrics, MetricsMiddleware
from talksearch.service.public_url import PublicURLMiddleware
from talksearch.service.ratelimit import RateLimitMiddleware
from talksearch.service.rendering import route_path
from talksearch.service.routing import ReadRoute
from talksearch.service.security_headers import SecurityHeaders
from talksearch.service.routes import admin, crawlers, embeds, feeds, health, media, pages, search, talks, widget
from talksearch.service.state import AppState
from talksearch.settings import Settings

DESCRIPTION = """Search what was said in recorded talks, down to the second.

Read endpoints and `/mcp` answer any origin (CORS) unless the operator restricts them. The admin endpoints
(`POST /api/index`, `GET /api/jobs/{id}`, `DELETE /api/talks/{id}`, `DELETE /api/removals/{id}`) need
`Authorization: Bearer <TALKSEARCH_ADMIN_TOKEN>` and are disabled when no token is configured.
Every error has one shape: `{"error": {"code": "...", "message": "..."}}`.
AI assistants reach the same search at `/mcp` (Model Context Protocol, streamable HTTP; not in this schema).
"""


# What gzip leaves alone, beside Starlette's own (audio/* and video/*: every /media answer, whose type is a
# recording's, recording_type): the files sent in parts (the /docs scripts and styles; widget.js gzips itself), so
# that only the service's whole text answers are compressed: pages, JSON, feeds, transcripts. Starlette also leaves
# a 206 (a range of a file) and an answer that is already encoded as they are.
NOT_GZIPPED = (*DEFAULT_EXCLUDED_CONTENT_TYPES, "text/css", "text/javascript", "application/javascript")


class GZipWhereAccepted(GZipMiddleware):
    """Starlette's gzip, chosen by the same rule as widget.js's (``accepts_gzip``): Starlette gzips whenever
    Accept-Encoding merely contains "gzip", "gzip;q=0" (RFC 9110 12.5.3: not acceptable) included."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        responder: ASGIApp
        if accepts_gzip(Headers(scope=scope).get("accept-encoding", "")):
            responder = GZipResponder(self.app, self.minimum_size, compresslevel=self.compresslevel,
                                      thread_minimum_size=self.thread_minimum_size,
                                      exclude_content_types=self.exclude_content_types)
        else:  # Starlette's answer as it is, still with Vary: Accept-Encoding
            responder = IdentityResponder(self.app, self.minimum_size, exclude_content_types=self.exclude_content_types)
        await responder(scope, receive, send)


class ExplainedCORS(CORSMiddleware):
    """Starlette's CORS, with refused preflights in the service's one error shape saying why: an origin not in
    TALKSEARCH_CORS_ORIGINS, or what ``allows`` (what the allowed origins may do); and a refused origin named in
    the log: its page's widget can only say the service cannot be reached (a browser hides why), so the operator
    learns it here, once per origin (``named``: shared by the service's policies)."""

    MAX_NAMED = 100  # origins named in the log: any client can send any Origin

    def __init__(self, app: ASGIApp, allows: str, named: set[str], **options) -> None:
        super().__init__(app, **options)
        self.allows = allows
        self.named = named

    async def simple_response(self, scope: Scope, receive: Receive, send: Send, request_headers: Headers) -> None:
        origin = request_headers.get("origin")
        if (origin and not self.is_allowed_origin(origin) and origin not in self.named
                and len(self.named) < self.MAX_NAMED
                and urlsplit(origin).netloc != request_headers.get("host")):  # a page of the service's own
            self.named.add(origin)
            if origin == "null":  # no site: a page in a sandboxed frame (an embed of this service's, framed so)
                errors.log.warning("refused cross-origin reads from an opaque origin (null: a page in a sandboxed "
                                   "frame, such as this service's talk embed framed by a site that sandboxes it; "
                                   "with TALKSEARCH_CORS_ORIGINS a list, its player shows no captions or chapters)")
            else:
                errors.log.warning("refused cross-origin reads from %s: not in TALKSEARCH_CORS_ORIGINS, so a widget "
                                   "there cannot show answers", origin)
        await super().simple_response(scope, receive, send, request_headers)

    def preflight_response(self, request_headers: Headers):
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        headers = {k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")}
        refused = bytes(response.body).decode(errors="replace")  # "Disallowed CORS origin, headers"
        why = f"other origins may {self.allows}"
        if not self.is_allowed_origin(request_headers["origin"]):
            why = f"this origin is not in TALKSEARCH_CORS_ORIGINS; the origins there may {self.allows}"
        message = f"{refused} ({why})"
        return errors.error_response(response.status_code, "cors_refused", message, headers)


# What a page elsewhere may send with a read, beside the safelisted headers: a Range (a moment of a /media
# recording, 206) and the validators a script revalidates what it holds with (304). All are read-only.
READ_REQUEST_HEADERS = ("Range", "If-Range", "If-None-Match", "If-Modified-Since")
# What a client of the MCP transport sends beside Content-Type (the SDK's own names): the protocol version, the
# session (none in stateless mode, but a client that holds one sends it) and the newer revisions' routing headers.
MCP_REQUEST_HEADERS = (MCP_PROTOCOL_VERSION_HEADER, MCP_SESSION_ID_HEADER, MCP_METHOD_HEADER, MCP_NAME_HEADER)


class ServiceCORS:
    """What other origins may call, by path. Everywhere: reads (GET, HEAD, with ranges and validators); the admin
    API's methods and its Authorization header are refused. At /mcp, which is as public and tokenless as the
    reads: the transport's JSON-RPC POSTs with its headers (a web assistant elsewhere). The same origins for
    both."""

    def __init__(self, app: ASGIApp, allow_origins: list[str]) -> None:
        named: set[str] = set()
        same = {"allow_origins": allow_origins, "allow_credentials": False, "max_age": 3600, "named": named}
        # Retry-After: a refused widget can tell when to try again. The ranges: a player or script elsewhere
        # reading a /media part (206) learns where it lies in the whole. ETag: what a script revalidates with.
        self.reads = ExplainedCORS(app, "read: GET and HEAD, with Range, If-Range, If-None-Match and "
                                   "If-Modified-Since", allow_methods=["GET", "HEAD"],
                                   allow_headers=READ_REQUEST_HEADERS,
                                   expose_headers=["Retry-After", "Content-Range", "Accept-Ranges", "Content-Length",
                                                   "ETag"], **same)
        self.assistant = ExplainedCORS(app, "call /mcp: POST with Content-Type and the MCP headers",
                                       allow_methods=["POST"], allow_headers=MCP_REQUEST_HEADERS,
                                       expose_headers=["Retry-After"], **same)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        at_mcp = scope["type"] == "http" and route_path(scope) == "/mcp"
        await (self.assistant if at_mcp else self.reads)(scope, receive, send)


def _unless_the_client_went_away(record: logging.LogRecord) -> bool:
    """Drops the MCP transport's "Error handling POST request" traceback when the error is only that the client
    went away before it had sent the whole body (an abandoned upload): an ordinary event, not the server's fault,
    and nobody is left to answer. Every other error it logs is kept. A log filter rather than a wrapper around
    /mcp: the SDK already reads the body itself (with its size limit) and only its log is wrong."""
    return not (record.exc_info and isinstance(record.exc_info[1], ClientDisconnect))


def create_app(settings: Settings | None = None, opened: tuple[Library, Searcher] | None = None) -> FastAPI:
    """``opened``: ``open_searcher``'s library and searcher, already open over ``settings.library``. ``talksearch
    serve`` opens them before the server starts, so that a model that cannot load is its one line rather than a
    failed start-up, and hands them over rather than loading the models twice. Without them the app's start-up
    opens its own. Either way the app closes the searcher when it stops."""
    settings = settings or Settings()
    metrics = Metrics()
    assistant = build_server(lambda: app.state.talksearch.searcher, settings.search_limit, settings.talks_limit)
    # Stateless JSON answers: any worker can answer any call, and nothing is held between them. The SDK's host and
    # origin checks (DNS rebinding) are off: like the rest of the read API, /mcp serves public data under any
    # host name, and it has no tool that writes. A private library's (a list of CORS origins) is ClientPosts'.
    assistant.streamable_http_app(stateless_http=True, json_response=True,
                                  transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # an app starts once (its MCP manager). The library opened is the searcher's alone: a SIGHUP's reopen closes
        # it, and held here too it kept the vectors.faiss it had mapped, replaced by a writer since, until a restart
        _, searcher = opened or open_searcher(settings, served=True)
        jobs = JobQueue(settings)
        jobs.start()
        app.state.talksearch = AppState(settings, searcher, jobs, metrics)
        try:
            async with assistant.session_manager.run():
                yield
        finally:
            jobs.stop()
            searcher.close()
            # the models go with the app's state: FastAPI's own caches keep a stopped app (its dependencies'
            # functions), and a process that serves again (the tests: a server per settings) held each one's models
            del app.state.talksearch

    # /docs with its scripts served from the fastapi-offline package rather than a CDN: it works offline, and
    # a visitor's browser asks no third party. ReDoc would still fetch its logo from one: off.
    app = FastAPIOffline(title="talksearch", version=__version__, lifespan=lifespan, description=DESCRIPTION,
                         favicon_url="data:,", redoc_url=None)
    # Its /docs routes are FastAPI's plain ones (GET only): made read routes, they answer HEAD as every page does.
    for route in app.router.routes:
        if type(route) is APIRoute:
            route.__class__ = ReadRoute
    errors.install(app)
    openapi.install(app)  # /openapi.json as answered: the one error shape, the rate limit's 429
    # Innermost of the middleware: a 429 still gets CORS headers (the widget can read it) and is counted.
    app.add_middleware(RateLimitMiddleware, per_minute=settings.rate_limit_per_minute,
                       in_progress=settings.rate_limit_in_progress)
    if settings.cors_origins:
        app.add_middleware(ServiceCORS, allow_origins=settings.cors_origins)
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=app.router.routes)  # routes: filled in below
    # on every answer, the rate limit's and the errors' too
    app.add_middleware(SecurityHeaders, noindex=not settings.crawlable)
    # Outermost: every text answer (the search page's menus hold every speaker and event: 275 KB for 10,000 talks,
    # 51 KB gzipped) at zlib's default level, 6 ms for that page (level 9: 32 ms, for 47 KB).
    app.add_middleware(GZipWhereAccepted, compresslevel=6, exclude_content_types=NOT_GZIPPED)
    if settings.public_url:  # outside all: every link, the CORS same-origin check and the redirects see it
        app.add_middleware(PublicURLMiddleware, public_url=settings.public_url)
    for module in (health, search, talks, admin, media, pages, widget, feeds, embeds, crawlers):
        app.include_router(module.router)
    # The MCP transport speaks JSON-RPC, not this API's shapes: outside OpenAPI. The admin token is never read.
    # POST only: stateless JSON answers offer no server-to-client stream (GET: the SDK's would stay open forever)
    # and hold no session to end (DELETE), and the spec lets a server answer 405 to both; the router does, in the
    # one error shape, with an Allow header. ClientPosts: every refusal (the rate limit's, a body that is no
    # JSON-RPC message, a private library's other origins) in JSON-RPC's form.
    app.add_route("/mcp", ClientPosts(StreamableHTTPASGIApp(assistant.session_manager),
                                      cors_origins=settings.cors_origins, public_url=settings.public_url),
                  methods=["POST"], include_in_schema=False)
    logging.getLogger(streamable_http.__name__).addFilter(_unless_the_client_went_away)  # once, however many apps
    return app
