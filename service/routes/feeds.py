"""Atom feeds: ``/api/search.atom`` (a saved search, for feed readers) and ``/talks.atom`` (the library)."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from talksearch.service.errors import ApiError
from talksearch.service.feeds import ATOM, search_feed, talks_feed
from talksearch.service.params import Filters, Utf8Query
from talksearch.service.routes.pages import search_page_query
from talksearch.service.routing import ReadRoute
from talksearch.service.state import State

from talksearch.schemas import ErrorResponse
from talksearch.search.searcher import QueryError

router = APIRouter(tags=["feeds"], route_class=ReadRoute)
_ATOM_RESPONSE = {200: {"content": {"application/atom+xml": {}}, "description": "An Atom feed"}}


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("/api/search.atom", response_class=Response,
            responses={**_ATOM_RESPONSE, 422: {"model": ErrorResponse}}, dependencies=[Utf8Query],
            summary="The moments matching a query as an Atom feed, newest talks first (subscribe to a search)")
def search_atom(
    state: State,
    request: Request,
    filters: Filters,
    q: Annotated[str, Query(description='What to look for; "quoted phrases" must match exactly',
                            examples=["power capping"])],
    limit: Annotated[int | None, Query(ge=1, le=100, description="Moments in the feed (1-100)")] = None,
) -> Response:
    try:
        response = state.searcher.search(q, limit or state.settings.search_limit, filters=filters or None)
    except QueryError as exc:
        raise ApiError(422, str(exc), "invalid_query") from None
    with state.searcher.reading() as library:
        talks = library.talks_by_id(r.talk.id for r in response.results)
    # The feed's own links repeat the request's query (its filters included), so they reproduce it; its page
    # (the alternate) holds what the search page's form can.
    query = request.query_params.multi_items()
    return Response(search_feed(_base(request), query, response, talks, page_query=search_page_query(query)),
                    media_type=ATOM)


@router.get("/talks.atom", response_class=Response, responses={**_ATOM_RESPONSE, 422: {"model": ErrorResponse}},
            summary="The library's talks as an Atom feed, newest first, with <podcast:transcript> links")
def talks_atom(
    state: State,
    request: Request,
    filters: Filters,
    limit: Annotated[int | None, Query(ge=1, le=1000, description="Talks in the feed")] = None,
) -> Response:
    with state.searcher.reading() as library:
        talks = library.talks(limit or state.settings.talks_limit, 0, filters)
    return Response(talks_feed(_base(request), request.query_params.multi_items(), talks), media_type=ATOM)
