"""The FastAPI application: ``create_app(settings)``; uvicorn runs it via ``talksearch serve``."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from service import errors
from service.routes import health, search
from service.search import Searcher
from service.state import AppState
from talksearch import __version__
from talksearch.embedding import Embedder
from talksearch.library import Library
from talksearch.settings import Settings


def open_searcher(settings: Settings) -> tuple[Library, Searcher]:
    """The library and a searcher over it, with the embedding model the library was built with."""
    library = Library.open(settings.library, create=True)
    embedder = Embedder(library.embed_model or settings.embed_model, settings.device, settings.threads)
    library.check_embedding_model(embedder.name)
    library.sync_vector_index()
    return library, Searcher(library, embedder, max_query_chars=settings.max_query_chars)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        library, searcher = open_searcher(settings)
        app.state.talksearch = AppState(settings, library, searcher)
        yield
        library.close()

    app = FastAPI(title="talksearch", version=__version__, lifespan=lifespan,
                  description="Search what was said in recorded talks, down to the second.")
    errors.install(app)
    app.include_router(health.router)
    app.include_router(search.router)
    return app
