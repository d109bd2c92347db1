from typing import Annotated

from fastapi import APIRouter, Query

from service.errors import ApiError
from service.schemas import ErrorResponse, SearchResponse
from service.search import QueryError
from service.state import State

router = APIRouter(prefix="/api")


@router.get("/search", response_model=SearchResponse, responses={422: {"model": ErrorResponse}})
def search(
    state: State,
    q: Annotated[str, Query(description="What to look for", examples=["gang scheduling for MPI jobs"])],
    limit: Annotated[int | None, Query(ge=1, le=100, description="Results to return (1-100)")] = None,
) -> SearchResponse:
    try:
        return state.searcher.search(q, limit or state.settings.search_limit)
    except QueryError as exc:
        raise ApiError(422, str(exc), "invalid_query") from None
