import contextlib
import threading
from collections.abc import Iterator

from fastapi import APIRouter, Request, Response

from talksearch.library import Library, LibraryError, LibraryLocked
from talksearch.schemas import Deleted, ErrorResponse, IndexRequest, Job, Restored
from talksearch.service.auth import ADMIN_TOKEN_SCHEME, AdminRoute
from talksearch.service.errors import ApiError, log
from talksearch.service.netguard import SourceRefused, check_source
from talksearch.service.rendering import base_path
from talksearch.service.routing import ReadRoute
from talksearch.service.state import State


class AdminReadRoute(AdminRoute, ReadRoute):
    """An admin route, the token checked first (AdminRoute), whose GET answers HEAD too, as every read route's
    does (ReadRoute): a monitor polling a job by HEAD needs the token all the same."""


# Every route: the token first; documented as a bearer scheme in /openapi.json
router = APIRouter(prefix="/api", tags=["admin"], route_class=AdminReadRoute, dependencies=[ADMIN_TOKEN_SCHEME])
_ERRORS = {401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}}


@router.post("/index", status_code=202, response_model=Job,
             responses={202: {"headers": {"Location": {"description": "The job's progress: `/api/jobs/{id}`",
                                                       "schema": {"type": "string"}}}},
                        **_ERRORS, 422: {"model": ErrorResponse}},
             summary="Queue a source (video, playlist, channel, feed, media URL) for indexing")
def index(state: State, body: IndexRequest, request: Request, response: Response) -> Job:
    try:
        source = check_source(body.source, state.settings.allow_private_sources)
    except SourceRefused as exc:
        raise ApiError(422, str(exc), "source_refused") from None
    job = state.jobs.submit(source)
    # Where its progress is (RFC 9110 for a 202), relative like every link the API gives: behind the path prefix
    response.headers["Location"] = f"{base_path(request)}/api/jobs/{job.id}"
    return job


@router.get("/jobs/{job_id}", response_model=Job, responses=_ERRORS, summary="An indexing job's progress")
def job(state: State, job_id: str) -> Job:
    found = state.jobs.get(job_id)
    if found is None:
        raise ApiError(404, f"no job {job_id!r}")
    return found


_BUSY = {"model": ErrorResponse, "headers": {"Retry-After": {
    "description": "Seconds to wait before trying again", "schema": {"type": "integer"}}}}
_WRITING = {**_ERRORS, 409: _BUSY, 503: {"model": ErrorResponse}}
# The service's own writes, one at a time: each is short, so a request waits for the one before it. The writer lock
# alone refused the second of two at once (409, this process named as the holder); it is for the writes that take
# long: another process's (talksearch index, remove) and this service's index jobs (a child process each, holding
# the library from its start to its end: minutes, or hours for a feed; the lock names the job).
_ONE_WRITE_AT_A_TIME = threading.Lock()
# What a refused write's Retry-After says: a writer holds the library for minutes or hours, not a known time
BUSY_RETRY_SECONDS = 60


@contextlib.contextmanager
def _writing(state: State) -> Iterator[Library]:
    """The library with the writer lock, on a connection of its own: the service's read connection never writes."""
    with _ONE_WRITE_AT_A_TIME, Library.open(state.settings.library) as library:
        try:
            if upgraded := library.acquire_writer("talksearch serve"):  # a refused indexer names the service
                log.info(upgraded)  # (an earlier release's library, served till now as it was)
        except LibraryLocked as exc:
            raise ApiError(409, f"{exc}; try again", "library_busy",
                           {"Retry-After": str(BUSY_RETRY_SECONDS)}) from None
        except LibraryError as exc:  # e.g. a library on read-only media: nothing can be written there
            raise ApiError(503, str(exc), "library_read_only") from None
        yield library


@router.delete("/talks/{talk_id}", response_model=Deleted, responses=_WRITING,
               summary="Remove a talk and everything derived from it")
def delete_talk(state: State, talk_id: str) -> Deleted:
    with _writing(state) as library:
        if not library.delete_talk(talk_id):
            raise ApiError(404, f"no talk {talk_id!r}")
    return Deleted(deleted=talk_id)


@router.delete("/removals/{talk_id}", response_model=Restored, responses=_WRITING,
               summary="Let the next run of a removed talk's source index it again (talksearch restore)")
def restore_talk(state: State, talk_id: str) -> Restored:
    with _writing(state) as library:
        removed_at = library.forget_removal(talk_id)
    if removed_at is None:
        raise ApiError(404, f"no talk {talk_id!r} was removed from the library")
    return Restored(restored=talk_id, removed_at=removed_at)
