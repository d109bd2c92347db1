from fastapi import APIRouter
from fastapi.responses import Response

from talksearch.service.metrics import CONTENT_TYPE
from talksearch.service.routing import ReadRoute
from talksearch.service.state import State

router = APIRouter(tags=["operations"], route_class=ReadRoute)


@router.get("/healthz", summary="200 once the library and models are loaded")
def healthz(state: State) -> dict:
    """``readers``: library connections open for searching, and how many the service opens in all (the
    others open in the background after start; until then requests share fewer)."""
    searcher = state.searcher
    with searcher.reading() as library:
        talks = library.count_talks()
    return {"status": "ok", "talks": talks, "embed_model": searcher.embedder.name,
            "readers": {"ready": searcher.readers_ready, "wanted": searcher.readers_wanted}}


@router.get("/metrics", response_class=Response, summary="Prometheus metrics",
            responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}})
def metrics(state: State) -> Response:
    with state.searcher.reading() as library:
        talks, passages = library.count_talks(), library.count_passages()
    body = state.metrics.exposition(talks, passages, state.jobs.counts())
    return Response(body, media_type=CONTENT_TYPE)
