"""Atom feeds: ``/api/search.atom`` (a saved search, for feed readers) and ``/talks.atom`` (the library).

Feed readers poll, so both answer conditional requests: an ETag (the body's digest, so it changes whenever the
feed does, a talk removed included), and a 304 with no body when the reader's If-None-Match names it. No
Last-Modified: the newest talk's date is not the feed's (removing a talk changes the feed, not that date).
"""

import hashlib
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from talksearch.service.errors import ApiError
from talksearch.service.feeds import ATOM, Feed, search_feed, search_pool, talks_feed
from talksearch.service.params import Filters, SearchFilters, Utf8Query
from talksearch.service.rendering import site_url
from talksearch.service.routes.pages import search_page_query
from talksearch.service.routing import ReadRoute
from talksearch.service.state import State

from talksearch.schemas import ErrorResponse
from talksearch.search.searcher import QueryError

router = APIRouter(tags=["feeds"], route_class=ReadRoute)
_ETAG = {"ETag": {"description": "The feed's version (weak): send it back as If-None-Match",
                  "schema": {"type": "string"}}}
_ATOM_RESPONSE = {
    200: {"content": {"application/atom+xml": {"schema": {"type": "string"}}}, "description": "An Atom feed",
          "headers": _ETAG},
    304: {"description": "The feed is as the reader's copy (its If-None-Match names the ETag): no body",
          "headers": _ETAG},
}


def _not_modified(request: Request, etag: str) -> bool:
    """Whether the reader's copy is current (RFC 9110 13.1.2): its If-None-Match, which compares weakly
    (W/"x" matches "x"), names the ETag, or is "*"."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is None:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag.removeprefix("W/") in tags or "*" in tags


def _atom(request: Request, feed: Feed) -> Response:
    # Weak: the gzip middleware sends the feed gzipped or not, and a strong ETag would say the two are the same
    # bytes (RFC 9110 8.8.1); they are the same feed.
    etag = f'W/"{hashlib.sha256(feed.body).hexdigest()[:20]}"'
    if _not_modified(request, etag):
        # A 304 carries the Vary its 200 would have (RFC 9110 15.4.5). The 200's own is the gzip middleware's,
        # which it adds to every answer over its minimum size, as every feed is (an empty one: 670 bytes).
        return Response(status_code=304, headers={"ETag": etag, "Vary": "Accept-Encoding"})
    return Response(feed.body, media_type=ATOM, headers={"ETag": etag})


@router.get("/api/search.atom", response_class=Response,
            responses={**_ATOM_RESPONSE, 404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
            dependencies=[Utf8Query],
            summary="The talks where a query is said as an Atom feed, newest first, each at its best moment "
                    "(subscribe to a search)")
def search_atom(
    state: State,
    request: Request,
    filters: SearchFilters,  # a subscription within a talk since removed is told so, not left empty for ever
    q: Annotated[str, Query(description='What to look for; "quoted phrases" must match exactly (a feed never '
                                        'drops the quotes: a subscription is to the phrase)',
                            examples=["power capping"])],
    limit: Annotated[int | None, Query(ge=1, le=100,
                                       description="Talks in the feed (1-100), each at its best moment")] = None,
) -> Response:
    limit = limit or state.settings.search_limit
    try:  # the best moment of each of the most relevant talks: the feed shows the newest of those that qualify
        # A subscription to a "quoted phrase" is to it: the closest other moments would be entries it never asked
        # for, and the exact ones would replace them once a talk holds it.
        response = state.searcher.search(q, search_pool(limit), filters=filters or None, group="talk",
                                         drop_quotes=False)
    except QueryError as exc:
        raise ApiError(422, str(exc), "invalid_query") from None
    with state.searcher.reading() as library:
        talks, changed = library.talks_by_id(r.talk.id for r in response.results), library.last_change()
    # The feed's own links repeat the request's query (its filters included), so they reproduce it; its page
    # (the alternate) holds what the search page's form can.
    query = request.query_params.multi_items()
    return _atom(request, search_feed(site_url(request), query, response, talks, search_page_query(query), limit,
                                         filters, changed))


@router.get("/talks.atom", response_class=Response, responses={**_ATOM_RESPONSE, 422: {"model": ErrorResponse}},
            summary="The library's talks as an Atom feed, newest first, with <podcast:transcript> links")
def talks_atom(
    state: State,
    request: Request,
    filters: Filters,
    limit: Annotated[int | None, Query(ge=1, le=1000, description="Talks in the feed")] = None,
) -> Response:
    with state.searcher.reading() as library:
        talks, changed = library.talks(limit or state.settings.talks_limit, 0, filters), library.last_change()
    # A filtered feed says so: its title names the filters, its page (the alternate) is the talk list filtered.
    query = request.query_params.multi_items()
    return _atom(request, talks_feed(site_url(request), query, talks, search_page_query(query), filters,
                                         changed))
