import json
from dataclasses import replace
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from talksearch.library import Segment, Talk
from talksearch.schemas import ErrorResponse, TalkDetail, TalkList, Transcript
from talksearch.search.searcher import talk_summary
from talksearch.service.errors import ApiError
from talksearch.service.feeds import CHAPTERS_JSON
from talksearch.service.params import Filters, TalksOffset
from talksearch.service.rendering import base_path
from talksearch.service.routing import ReadRoute
from talksearch.service.state import State
from talksearch.service.talk_detail import talk_detail
from talksearch.transcripts import chapters_json, chapters_vtt, missing_chapters, missing_transcript, missing_translation, render

router = APIRouter(prefix="/api/talks", tags=["talks"], route_class=ReadRoute)
_NOT_FOUND = {404: {"model": ErrorResponse}}
_MEDIA_TYPES = {"vtt": "text/vtt", "srt": "application/x-subrip; charset=utf-8", "txt": "text/plain"}
# The routes answer with a response of their own (the JSON as rendered for export, or a file), so FastAPI cannot
# tell what they serve: the schema says it here.
_TRANSCRIPT = {200: {"model": Transcript, "description": "The transcript"}}
# The files' types first, as text (the route's response_class, which FastAPI lists first, is text/plain): a client
# generated from the schema reads the first type it knows, and read a .vtt as JSON when JSON came first. The JSON
# (fmt=json) is the Transcript, last.
_TRANSCRIPT_FILES = {200: {
    "description": "The transcript as the file `fmt` names: WebVTT (vtt), SubRip (srt), plain text (txt); as JSON "
                   "(json), the `Transcript` (as `/transcript` answers)",
    "content": {**{media_type.split(";")[0]: {"schema": {"type": "string"}} for media_type in _MEDIA_TYPES.values()},
                "application/json": {"schema": {"$ref": "#/components/schemas/Transcript"}}}}}


class WebVTTResponse(PlainTextResponse):
    """A WebVTT file, as the route's response class: the schema then says what it serves."""

    media_type = _MEDIA_TYPES["vtt"]


@router.get("", response_model=TalkList, responses={422: {"model": ErrorResponse}},
            summary="Talks in the library, newest first")
def list_talks(
    state: State,
    request: Request,
    filters: Filters,
    limit: Annotated[int | None, Query(ge=1, le=1000, description="Talks to return")] = None,
    offset: TalksOffset = 0,
) -> TalkList:
    with state.searcher.reading() as library:
        talks = library.talks(limit or state.settings.talks_limit, offset, filters)
        summaries = [talk_summary(t, served=True, base=base_path(request)) for t in talks]
        return TalkList(talks=summaries, total=library.count_talks(filters))


def _talk(state, talk_id: str, request: Request, translation: bool = False) -> tuple[Talk, list[Segment]]:
    """The talk and its sentences, its ``url`` as the API gives it (a local file's is its page here: the file's path
    on the server, its folders and user name, is no one's business)."""
    with state.searcher.reading() as library:
        talk = library.talk(talk_id)
        if talk is None:
            raise ApiError(404, f"no talk {talk_id!r}")
        segments = library.segments(talk_id)
    talk = replace(talk, url=talk_summary(talk, served=True, base=base_path(request)).url)
    if missing := missing_transcript(talk, segments):  # 404 as for a missing translation: nothing to give
        raise ApiError(404, missing)
    if translation and (missing := missing_translation(talk, segments)):
        raise ApiError(404, missing)
    return talk, segments


@router.get("/{talk_id}", response_model=TalkDetail, responses=_NOT_FOUND,
            summary="A talk's metadata, chapters, player and transcript links")
def get_talk(state: State, talk_id: str, request: Request) -> TalkDetail:
    with state.searcher.reading() as library:
        talk = library.talk(talk_id)
    if talk is None:
        raise ApiError(404, f"no talk {talk_id!r}")
    return talk_detail(talk, base_path(request))


Translation = Annotated[bool, Query(
    description="The English of a talk indexed with `--translate`: in place of the original words (txt, vtt, srt), "
                "beside them (json: each sentence's `translation`). A talk in another language indexed without "
                "`--translate` has none: 404")]


@router.get("/{talk_id}/transcript", responses={**_TRANSCRIPT, **_NOT_FOUND},
            summary="The transcript as JSON: sentences with start, end, text and timed words")
def transcript_json(state: State, talk_id: str, request: Request, translation: Translation = False) -> JSONResponse:
    talk, segments = _talk(state, talk_id, request, translation)
    return JSONResponse(json.loads(render(talk, segments, "json", translation)))


@router.get("/{talk_id}/transcript.{fmt}", response_class=PlainTextResponse,
            responses={**_TRANSCRIPT_FILES, **_NOT_FOUND},
            summary="The transcript as WebVTT or SubRip subtitles, plain text, or JSON")
def transcript_file(state: State, talk_id: str, fmt: Literal["json", "vtt", "srt", "txt"], request: Request,
                    translation: Translation = False):
    if fmt == "json":
        return transcript_json(state, talk_id, request, translation)
    talk, segments = _talk(state, talk_id, request, translation)
    # The English saved beside the original must not overwrite it: ID.en.vtt, as a player pairs subtitles to a video.
    filename = f"{talk_id}.en.{fmt}" if translation else f"{talk_id}.{fmt}"
    return PlainTextResponse(render(talk, segments, fmt, translation), media_type=_MEDIA_TYPES[fmt],
                             headers={"Content-Disposition": f'inline; filename="{filename}"'})


@router.get("/{talk_id}/chapters.vtt", response_class=WebVTTResponse,
            responses={200: {"description": "The chapters track"}, **_NOT_FOUND},
            summary="The chapters as a WebVTT chapters track (a player's <track kind=\"chapters\">)",
            description="A cue a chapter, from its start to its end or the next chapter's start, whichever comes "
                        "first (the last to its end, else the talk's). A talk whose source gives no chapters has "
                        "none: 404.")
def chapters_track(state: State, talk_id: str) -> WebVTTResponse:
    with state.searcher.reading() as library:
        talk = _chaptered(library, talk_id)
        # the last chapter runs to the talk's end: its measured length, else (never measured) its last sentence's
        end = talk.duration if talk.duration else max((s.end for s in library.segments(talk_id)), default=None)
    return WebVTTResponse(chapters_vtt(talk, end),
                          headers={"Content-Disposition": f'inline; filename="{talk_id}.chapters.vtt"'})


@router.get("/{talk_id}/chapters.json",
            responses={200: {"description": "The chapters", "content": {CHAPTERS_JSON: {"schema": {"type": "object"}}}},
                       **_NOT_FOUND},
            summary="The chapters in Podcasting 2.0's JSON chapters format (what /talks.atom's <podcast:chapters> names)",
            description="`{\"version\": \"1.2.0\", \"chapters\": [{\"startTime\", \"endTime\", \"title\"}]}`, in start "
                        "order; an end or title only where the chapter has one. Podcast apps show them; another "
                        "talksearch that indexes /talks.atom takes them as the talk's chapters. A talk whose source "
                        "gives no chapters has none: 404.")
def chapters_file(state: State, talk_id: str) -> JSONResponse:
    with state.searcher.reading() as library:
        talk = _chaptered(library, talk_id)
    return JSONResponse(chapters_json(talk), media_type=CHAPTERS_JSON,
                        headers={"Content-Disposition": f'inline; filename="{talk_id}.chapters.json"'})


def _chaptered(library, talk_id: str) -> Talk:
    """The talk, which has chapters; else the 404 that says why not."""
    talk = library.talk(talk_id)
    if talk is None:
        raise ApiError(404, f"no talk {talk_id!r}")
    if missing := missing_chapters(talk):
        raise ApiError(404, missing)
    return talk
