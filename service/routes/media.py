import os

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from starlette.responses import MalformedRangeHeader, RangeNotSatisfiable, Response
from starlette.staticfiles import NotModifiedResponse, StaticFiles

from talksearch.schemas import ErrorResponse
from talksearch.search.searcher import recording_type
from talksearch.service.errors import ApiError
from talksearch.service.routing import ReadRoute
from talksearch.service.state import State
from talksearch.service.talk_detail import local_media

router = APIRouter(tags=["talks"], route_class=ReadRoute)

# A browser must never run or sniff anything served from here as a page on the service's origin, whatever the file
# turns out to hold: the type is the one given, and a document opened from it gets no script and no origin.
# no-cache: a cache asks again each time (a 304, headers only, while the file is unchanged) rather than guess a
# lifetime from the file's old Last-Modified and go on serving a recording DELETE /api/talks/{id} has erased.
# Cross-Origin-Resource-Policy: a page that sets Cross-Origin-Embedder-Policy: require-corp (the widget on it, or a
# player of its own) loads another origin's recording only when it says so, as /widget.js and /embed do.
_MEDIA_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox",
                  "Cache-Control": "no-cache", "Cross-Origin-Resource-Policy": "cross-origin"}
# Starlette's StaticFiles answers If-None-Match and If-Modified-Since, its FileResponse does not: its rule, reused.
_CONDITIONS = StaticFiles(check_dir=False)


class MediaFile(FileResponse):
    """Starlette's file response, with a Range it cannot serve answered as RFC 9110 and the service's errors
    say: a malformed Range is ignored (the whole file, 200), one past the file's end is a 416 in the one error
    shape, with ``Content-Range: bytes */SIZE``. (This hooks Starlette's parser; were it renamed, its own
    plain-text answers would return, nothing worse.)"""

    def _parse_range_header(self, http_range: str, file_size: int) -> list[tuple[int, int]]:
        try:
            return super()._parse_range_header(http_range, file_size)
        except MalformedRangeHeader:
            return []  # no ranges: the whole file
        except RangeNotSatisfiable:
            raise ApiError(416, f"the range {http_range!r} lies past the recording's {file_size} bytes",
                           headers={"Content-Range": f"bytes */{file_size}"}) from None


@router.get("/media/{talk_id}", response_class=FileResponse, description=(
                  "`talk_id` may carry the recording's suffix (`/media/3f2a9c1d0b7e.mp3`), as a talk's "
                  "`media_url` gives it: the id alone names the file."),
                  responses={206: {"description": "The requested byte range"},
                             304: {"description": "The copy the client holds (If-None-Match, If-Modified-Since) is "
                                                  "current"},
                             404: {"model": ErrorResponse},
                             416: {"model": ErrorResponse, "description": "The Range lies past the file's end",
                                   "headers": {"Content-Range": {"description": "`bytes */SIZE`: the file's size",
                                                                 "schema": {"type": "string"}}}}},
                  summary="A local talk's recording, with HTTP Range support (for the player)")
def media(state: State, request: Request, talk_id: str) -> Response:
    # Only the file the catalog records for this talk is ever served: the path comes from the catalog,
    # never from the request.
    with state.searcher.reading() as library:
        talk = library.talk(talk_id.split(".", 1)[0])  # ids are hex (records.talk_id): what follows is a suffix
    # Only a recording (audio or video, local_media) is served: anything else the catalog may name (a file replaced
    # since indexing, an older library's link to a page) is "no local media", as the search's links say.
    path = local_media(talk) if talk else None
    try:
        found = os.stat(path) if path else None
    except OSError:  # moved or deleted since local_media looked
        found = None
    if found is None:
        raise ApiError(404, f"no local media for talk {talk_id!r}")
    response = MediaFile(path, media_type=recording_type(path), content_disposition_type="inline",
                         headers=_MEDIA_HEADERS, stat_result=found)
    if _CONDITIONS.is_not_modified(response.headers, request.headers):
        # its headers as a 200's: a cache updates the copy it keeps from them (the sandbox policy above all)
        not_modified = NotModifiedResponse(response.headers)
        not_modified.headers.update(_MEDIA_HEADERS)
        return not_modified
    return response
