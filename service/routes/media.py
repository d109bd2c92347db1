import mimetypes

from fastapi import APIRouter
from fastapi.responses import FileResponse

from talksearch.schemas import ErrorResponse
from talksearch.service.errors import ApiError
from talksearch.service.state import State
from talksearch.service.talk_detail import local_media

router = APIRouter(tags=["talks"])


@router.get("/media/{talk_id}", response_class=FileResponse,
                  responses={206: {"description": "The requested byte range"}, 404: {"model": ErrorResponse}},
                  summary="A local talk's recording, with HTTP Range support (for the player)")
def media(state: State, talk_id: str) -> FileResponse:
    # Only the file the catalog records for this talk is ever served: the path comes from the catalog,
    # never from the request.
    with state.searcher.reading() as library:
        talk = library.talk(talk_id)
    path = local_media(talk) if talk else None
    if path is None:
        raise ApiError(404, f"no local media for talk {talk_id!r}")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, content_disposition_type="inline")
