from fastapi import APIRouter

from talksearch.library import Library, LibraryError, LibraryLocked
from talksearch.schemas import Deleted, ErrorResponse, IndexRequest, Job
from talksearch.service.auth import ADMIN_TOKEN_SCHEME, AdminRoute
from talksearch.service.errors import ApiError
from talksearch.service.netguard import SourceRefused, check_source
from talksearch.service.state import State

# Every route: the token first; documented as a bearer scheme in /openapi.json
router = APIRouter(prefix="/api", tags=["admin"], route_class=AdminRoute, dependencies=[ADMIN_TOKEN_SCHEME])
_ERRORS = {401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}}


@router.post("/index", status_code=202, response_model=Job, responses={**_ERRORS, 422: {"model": ErrorResponse}},
             summary="Queue a source (video, playlist, channel, feed, media URL) for indexing")
def index(state: State, body: IndexRequest) -> Job:
    try:
        source = check_source(body.source, state.settings.allow_private_sources)
    except SourceRefused as exc:
        raise ApiError(422, str(exc), "source_refused") from None
    return state.jobs.submit(source)


@router.get("/jobs/{job_id}", response_model=Job, responses=_ERRORS, summary="An indexing job's progress")
def job(state: State, job_id: str) -> Job:
    found = state.jobs.get(job_id)
    if found is None:
        raise ApiError(404, f"no job {job_id!r}")
    return found


@router.delete("/talks/{talk_id}", response_model=Deleted, responses={**_ERRORS, 409: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
               summary="Remove a talk and everything derived from it")
def delete_talk(state: State, talk_id: str) -> Deleted:
    # A writer connection of its own: the service's read connection never writes.
    with Library.open(state.settings.library) as library:
        try:
            library.acquire_writer()
        except LibraryLocked as exc:
            raise ApiError(409, f"{exc}; try again", "library_busy") from None
        except LibraryError as exc:  # e.g. a library on read-only media: nothing can be deleted there
            raise ApiError(503, str(exc), "library_read_only") from None
        if not library.delete_talk(talk_id):
            raise ApiError(404, f"no talk {talk_id!r}")
    return Deleted(deleted=talk_id)
