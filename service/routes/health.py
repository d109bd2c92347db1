import sqlite3
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, Field

from talksearch.library import Library
from talksearch.schemas import ErrorResponse
from talksearch.service.metrics import CONTENT_TYPE
from talksearch.service.routing import ReadRoute
from talksearch.service.state import State

router = APIRouter(tags=["operations"], route_class=ReadRoute)


# /healthz's answer, for the schema: what a monitor may read beside the status
class Readers(BaseModel):
    ready: int = Field(description="Library connections open for searching")
    wanted: int = Field(description="How many the service opens in all")


class Health(BaseModel):
    status: Literal["ok"]
    talks: int = Field(description="Talks in the library")
    embed_model: str = Field(description="The embedding model searches use")
    readers: Readers


@router.get("/healthz", response_model=Health,
            summary="200 while searches can be answered; 503 saying what keeps them from it",
            responses={503: {"model": ErrorResponse, "description": "the library cannot be searched: the message "
                                                                     "says why (a damaged catalog, no library at "
                                                                     "its path, a model that does not fit it)"}})
def healthz(state: State) -> dict:
    """Reads a little through each path a search reads, as a search does (``reading``: a library replaced or gone
    under the service shows there), cheap enough to be probed every few seconds: about a millisecond on a library
    of 100,000 passages, where SQLite's quick_check takes a third of a second, and grows with the catalog
    (``talksearch check`` does the full checks). A damaged page these reads miss is told all the same once any
    request has hit it (``Searcher.damage``).

    ``readers``: library connections open for searching, and how many the service opens in all (the others open
    in the background after start; until then requests share fewer)."""
    searcher = state.searcher
    with searcher.reading() as library:
        talks = library.count_talks()
        _read_a_little(library)
    if searcher.damage is not None:  # the catalog error's own answer (errors.py): what is wrong, what to run
        raise sqlite3.DatabaseError(searcher.damage)
    return {"status": "ok", "talks": talks, "embed_model": searcher.embedder.name,
            "readers": {"ready": searcher.readers_ready, "wanted": searcher.readers_wanted}}


def _read_a_little(library: Library) -> None:
    """The first talk as the talks list reads it, one of its passages, and a word of it in the keyword index: a
    catalog error (a damaged page, a file that is no catalog) is raised, and answered as a search's would be."""
    first = library.talks(limit=1)
    passage = library.passage_near(first[0].id, 0) if first else None
    words = passage.text.split() if passage is not None else []
    if words:
        library.contains_word(words[0])


@router.get("/metrics", response_class=Response, summary="Prometheus metrics",
            responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}})
def metrics(state: State) -> Response:
    with state.searcher.reading() as library:
        talks, passages = library.count_talks(), library.count_passages()
    body = state.metrics.exposition(talks, passages, state.jobs.counts())
    return Response(body, media_type=CONTENT_TYPE)
