from typing import Annotated, Literal

from fastapi import APIRouter, Query

from talksearch.schemas import ErrorResponse, Facets, RelatedResponse, SearchResponse
from talksearch.search.searcher import NotFound, QueryError
from talksearch.service.errors import ApiError
from talksearch.service.params import Offset, SearchFilters, Utf8Query
from talksearch.service.routing import ReadRoute
from talksearch.service.state import State

router = APIRouter(prefix="/api", tags=["search"], route_class=ReadRoute)
_ERRORS = {404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}


@router.get("/search", name="search", response_model=SearchResponse, responses=_ERRORS,  # name: its operationId starts so (search_api_search_get)
            summary="Moments in talks that match a query (hybrid: meaning and exact words)", dependencies=[Utf8Query])
def search_moments(
    state: State,
    filters: SearchFilters,
    q: Annotated[str, Query(description='What to look for; "quoted phrases" must match exactly (when no moment '
                                        'holds them, the words unquoted answer: quotes_dropped)',
                            examples=["gang scheduling for MPI jobs"])],
    limit: Annotated[int | None, Query(ge=1, le=100, description="Results to return (1-100)")] = None,
    offset: Offset = 0,
    group: Annotated[Literal["none", "talk"], Query(
        description="`talk`: one result per talk (its best moment) with every hit time in `timeline`")] = "none",
) -> SearchResponse:
    try:
        return state.searcher.search(q, limit or state.settings.search_limit, offset=offset,
                                     filters=filters or None, group=group)
    except QueryError as exc:
        raise ApiError(422, str(exc), "invalid_query") from None


@router.get("/related", response_model=RelatedResponse, responses=_ERRORS,
            summary="Moments in other talks about what is said in a talk at a time")
def related(
    state: State,
    talk: Annotated[str, Query(max_length=64, description="The talk's id", examples=["3f2a9c1d0b7e"])],
    at: Annotated[float, Query(ge=0, le=1e7, allow_inf_nan=False, description="Seconds into the talk", examples=[75])] = 0.0,
    limit: Annotated[int | None, Query(ge=1, le=100, description="Moments to return (1-100)")] = None,
) -> RelatedResponse:
    try:
        return state.searcher.related(talk, at, limit or state.settings.related_limit)
    except NotFound as exc:
        raise ApiError(404, str(exc)) from None


@router.get("/facets", response_model=Facets, summary="The values the filters can take")
def facets(state: State) -> Facets:
    with state.searcher.reading() as library:
        return Facets(**library.facets())
