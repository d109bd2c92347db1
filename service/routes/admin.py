import contextlib
import json
import threading
from collections.abc import Awaitable, Callable, Iterator

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect

from talksearch.library import Library, LibraryError, LibraryLocked
from talksearch.schemas import Deleted, ErrorResponse, IndexRequest, Job, Restored
from talksearch.service.auth import ADMIN_TOKEN_SCHEME, AdminRoute
from talksearch.service.errors import ApiError, log
from talksearch.service.netguard import SourceRefused, check_source
from talksearch.service.rendering import base_path
from talksearch.service.routing import ReadRoute
from talksearch.service.state import State


# A body a route takes is a small JSON object (IndexRequest: a source of at most 2,000 characters, each at most
# six bytes as JSON writes it): nothing longer is read
MAX_BODY_BYTES = 16 * 1024
JSON_ONLY = "Content-Type must be application/json"


class JsonBodyRoute(APIRoute):
    """A route taking a JSON body reads it here, before FastAPI does (which reads any length, takes JSON sent as
    text/plain for a body of the wrong shape, and answers bytes that are not UTF-8 with an undeclared 400): a
    Content-Type other than JSON is 415, as /mcp answers it; a body over ``MAX_BODY_BYTES`` 413, refused by its
    Content-Length or as it comes; one that is not UTF-8 422, as a query's bytes are. FastAPI reads the body
    checked here (``Request.body`` keeps it)."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def json_body(request: Request) -> Response:
            await _read_json_body(request)
            return await handler(request)

        return json_body


async def _read_json_body(request: Request) -> None:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        raise ApiError(415, JSON_ONLY)
    too_large = ApiError(413, f"the body is over {MAX_BODY_BYTES} bytes: a source is at most 2,000 characters")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise too_large
    except ClientDisconnect:  # nobody is left to answer: refused as FastAPI's own read would, not a server error
        raise ApiError(400, "the client went away before it had sent its body") from None
    if body and not media_type:  # FastAPI would not read it as JSON: what it holds is not known to be JSON
        raise ApiError(415, JSON_ONLY)
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(422, f"the body is not UTF-8 (JSON is sent as UTF-8): byte {exc.start}") from None
    try:  # FastAPI parses it next, but answers a parser's RecursionError with its own undeclared 400
        json.loads(body)
    except RecursionError:
        raise ApiError(422, "the body is not valid JSON: nested too deeply") from None
    except ValueError:  # FastAPI's own error for it says where
        pass
    request._body = bytes(body)  # what Request.body() answers from now on, FastAPI's read included


class AdminReadRoute(AdminRoute, JsonBodyRoute, ReadRoute):
    """An admin route, the token checked first (AdminRoute), its JSON body, if it takes one, read within limits
    next (JsonBodyRoute), whose GET answers HEAD too, as every read route's does (ReadRoute): a monitor polling a
    job by HEAD needs the token all the same."""


# Every route: the token first; documented as a bearer scheme in /openapi.json
router = APIRouter(prefix="/api", tags=["admin"], route_class=AdminReadRoute, dependencies=[ADMIN_TOKEN_SCHEME])
_ERRORS = {401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}}


@router.post("/index", status_code=202, response_model=Job,
             responses={202: {"headers": {"Location": {"description": "The job's progress: `/api/jobs/{id}`",
                                                       "schema": {"type": "string"}}}},
                        **_ERRORS, 413: {"model": ErrorResponse, "description": f"A body over {MAX_BODY_BYTES} bytes"},
                        415: {"model": ErrorResponse, "description": JSON_ONLY},
                        422: {"model": ErrorResponse},
                        503: {"model": ErrorResponse, "description": "A library this service cannot write"}},
             summary="Queue a source (video, playlist, channel, feed, media URL) for indexing")
def index(state: State, body: IndexRequest, request: Request, response: Response) -> Job:
    try:
        source = check_source(body.source, state.settings.allow_private_sources)
    except SourceRefused as exc:
        raise ApiError(422, str(exc), "source_refused") from None
    _refuse_an_unwritable_library(state)
    job = state.jobs.submit(source)
    # Where its progress is (RFC 9110 for a 202), relative like every link the API gives: behind the path prefix
    response.headers["Location"] = f"{base_path(request)}/api/jobs/{job.id}"
    return job


def _refuse_an_unwritable_library(state: State) -> None:
    """A library this service may not write (read-only media, another user's files) refuses a job at once, as a
    DELETE is refused, rather than queueing one that fails; one that is busy queues it (the job waits its turn)."""
    try:
        with Library.open(state.settings.library, readonly=True) as library:
            unwritable = library.unwritable()
    except LibraryError:  # none yet (the first job makes it), or unreadable: the job says so
        return
    if unwritable is not None:
        raise ApiError(503, unwritable, "library_read_only")


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
def delete_talk(state: State, talk_id: str, request: Request) -> Deleted:
    with _writing(state) as library:
        if not library.delete_talk(talk_id):
            if when := library.removal_of(talk_id):  # said as `talksearch remove` says it, with the API's way back
                raise ApiError(404, f"{talk_id!r} was removed from the library on {when[:10]} already (DELETE "
                                    f"{base_path(request)}/api/removals/{talk_id} lets the next run of its source "
                                    "add it back)")
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
