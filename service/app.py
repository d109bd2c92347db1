"""The FastAPI application: ``create_app(settings)``; uvicorn runs it via ``talksearch serve``."""

from __future__ import annotations

import os
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers

from service import errors
from service.jobs import JobQueue
from service.metrics import Metrics, MetricsMiddleware
from service.ratelimit import RateLimitMiddleware
from service.routes import admin, health, media, pages, search, talks, widget
from service.search import Searcher, ranking_options
from service.state import AppState
from talksearch import __version__, pronunciation
from talksearch.embedding import Embedder, service_replicas
from talksearch.library import Library
from talksearch.settings import Settings

DESCRIPTION = """Search what was said in recorded talks, down to the second.

Read endpoints answer any origin (CORS) unless the operator restricts them. The admin endpoints
(`POST /api/index`, `GET /api/jobs/{id}`, `DELETE /api/talks/{id}`) need
`Authorization: Bearer <TALKSEARCH_ADMIN_TOKEN>` and are disabled when no token is configured.
Every error has one shape: `{"error": {"code": "...", "message": "..."}}`.
"""


def open_searcher(settings: Settings, create: bool = True, readers: int | None = None) -> tuple[Library, Searcher]:
    """The library and a searcher over it, with the embedding model the library was built with.
    ``create=False`` (the CLI's search) refuses a directory that holds no library instead of making one;
    ``readers`` defaults to the ``search_readers`` setting."""
    library = Library.open(settings.library, create=create)
    # One model thread per request by default, on one model replica per core: requests run in parallel,
    # and all cores' threads per request collapse under concurrent load (bench/search_scale.py measured
    # 646 vs 32 ms p50 with torch).
    embedder = Embedder.from_settings(settings, library.embed_model, settings.threads or 1, service_replicas())
    library.check_embedding_model(embedder.name)
    library.sync_vector_index()
    pronunciation.load()  # now: a broken install fails at start, and the first jargon query is not the slow one
    searcher = Searcher(library, embedder, ranking_options(settings), max_query_chars=settings.max_query_chars,
                        readers=readers or settings.search_readers or os.cpu_count() or 1, cache_size=settings.search_cache)
    return library, searcher


class ReadOnlyCORS(CORSMiddleware):
    """Starlette's CORS, with refused preflights in the service's one error shape."""

    def preflight_response(self, request_headers: Headers):
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        headers = {k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")}
        message = f"{bytes(response.body).decode(errors='replace')} (the read API allows GET from other origins)"
        return JSONResponse({"error": {"code": "cors_refused", "message": message}},
                            status_code=response.status_code, headers=headers)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        library, searcher = open_searcher(settings)
        jobs = JobQueue(settings)
        jobs.start()
        app.state.talksearch = AppState(settings, library, searcher, jobs, metrics)
        try:
            yield
        finally:
            jobs.stop()
            searcher.close()

    app = FastAPI(title="talksearch", version=__version__, lifespan=lifespan, description=DESCRIPTION)
    errors.install(app)
    # Innermost of the middleware: a 429 still gets CORS headers (the widget can read it) and is counted.
    app.add_middleware(RateLimitMiddleware, per_minute=settings.rate_limit_per_minute)
    if settings.cors_origins:
        # Reads only: the admin API's methods and its Authorization header are not allowed cross-origin.
        app.add_middleware(ReadOnlyCORS, allow_origins=settings.cors_origins, allow_methods=["GET", "HEAD"],
                           allow_credentials=False, max_age=3600)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    for module in (health, search, talks, admin, media, pages, widget):
        app.include_router(module.router)
    return app
