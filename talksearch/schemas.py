"""The JSON the API speaks. The CLI's ``--json`` output is these same models."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from talksearch.library.records import length_measured

# A search ranks every hit before its page, so its pages stop here (the API, the pages, MCP and the CLI refuse an
# offset past it): no response names a next page beyond it.
SEARCH_OFFSET_MAX = 10_000

_TALK_EXAMPLE = {
    "id": "3f2a9c1d0b7e", "title": "Checkpointing Long-Running Simulations to Object Storage",
    "url": "https://example.org/talks/checkpointing.ogg", "channel": "Research Computing Talks",
    "published": "2024-05-14", "speakers": ["Ines Moreau"], "event": "Test Fixtures Summit 2024",
    "duration": 20.6, "thumbnail": None, "media_url": "https://example.org/talks/checkpointing.ogg",
    "transcript_source": "whisper base", "language": "en",
}
_RESULT_EXAMPLE = {
    "talk": _TALK_EXAMPLE, "start": 7.18, "end": 16.34,
    "text": "The checkpoints now go straight to an object storage bucket. Each rank uploads its own part.",
    "snippet": "The <mark>checkpoints</mark> now go straight to an <mark>object</mark> <mark>storage</mark> bucket. "
               "Each rank uploads its own part.",
    "speaker": None, "score": 0.02439, "link": "https://example.org/talks/checkpointing.ogg#t=7",
    "page": "/talks/3f2a9c1d0b7e?t=7", "timeline": None,
}


class TalkSummary(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_TALK_EXAMPLE]})

    id: str
    title: str
    url: str = Field(description="The talk's source: its page, or the media URL when it has no page. For a talk "
                                 "indexed from a local file, the HTTP API gives its page on this service (a path).")
    channel: str | None = None
    published: str | None = Field(None, description="ISO date")
    speakers: list[str] = []
    event: str | None = None
    duration: float | None = Field(None, description="seconds")
    thumbnail: str | None = None
    media_url: str | None = Field(None, description="Direct media, playable in <video>/<audio>, when known. For a "
                                  "talk indexed from a local file, the HTTP API gives this service's copy (a path, "
                                  "`/media/{id}.mp3`), null once the file is gone.")
    transcript_source: str | None = Field(
        None, description="Where the transcript came from: `uploaded captions`, `automatic captions` or "
        "`whisper <model>` (null for talks indexed before talksearch recorded it).")
    language: str | None = Field(
        None, description="The spoken language (ISO 639-1, e.g. `de`): as the source states it, else as whisper "
        "detected it; null when neither said.")

    @computed_field(description="Whether `duration` is the recording's own length, measured by reading it (a talk "
                    "transcribed by whisper, a local file); false where it is the source's word or where its "
                    "captions end (a talk indexed from a site's or feed's captions, its recording never read). "
                    "Players scale a moment by a measured length only, where the browser guesses another (a VBR "
                    "mp3), and pages call a moment past the end by it only.")
    @property
    def duration_measured(self) -> bool:
        return length_measured(self.transcript_source, self.media_url)


class Moment(BaseModel):
    start: float
    end: float
    score: float


class SameMoment(BaseModel):
    """The moment a result shows, in another talk that is the same recording indexed again (a channel's upload and
    a feed's episode, a local copy)."""

    talk_id: str
    title: str
    start: float
    page: str = Field(description="This service's page of that talk, playing at the moment (a path).")


class SearchResult(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_RESULT_EXAMPLE]})

    talk: TalkSummary
    start: float = Field(description="seconds from the talk's start where the passage begins")
    end: float
    text: str
    speaker: str | None = Field(None, description=(
        "Who says the passage's first sentence, when the talk's captions name its speakers (WebVTT voices); null "
        "otherwise (a transcript by whisper names nobody: the talk's `speakers` are in `talk`)."))
    snippet: str = Field(
        "", description="The passage as safe HTML: text escaped, the query's words wrapped in <mark></mark>."
    )
    translation: str | None = Field(
        None, description="The passage in English, for a talk indexed with `--translate` (`text` is the original).")
    translation_snippet: str | None = Field(
        None, description="`translation` as safe HTML, the query's words in <mark></mark> as in `snippet` "
                          "(null when there is no translation).")
    score: float
    link: str = Field(description="Plays the source at the moment: YouTube `&t=123s`, media `#t=123`.")
    page: str = Field("", description="This service's talk page, playing at the moment (a path).")
    chapter: str | None = Field(None, description=(
        "The title of the talk's chapter the moment starts in (null when the talk has no chapters, or none holds "
        "that second)."))
    timeline: list[Moment] | None = Field(
        None, description="With group=talk: this talk's moments that plausibly match, in time order (a hit timeline): "
        "its best moment, and those of the first candidates ranked that score at least 40% of the query's best "
        "moment's score. The same whatever the page's size and offset.")
    also_in: list[SameMoment] = Field(
        [], description="The same moment in other talks that are the same recording indexed again: shown once, "
                        "here, rather than once per copy.")


class SearchResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "query": "object storage checkpoints", "took_ms": 12.5, "results": [_RESULT_EXAMPLE],
        "offset": 0, "limit": 10, "next_offset": None, "group": "none", "quotes_dropped": False, "words_found": True,
    }]})

    query: str
    took_ms: float
    results: list[SearchResult]
    offset: int = 0
    limit: int = 10
    next_offset: int | None = Field(None, description="Pass as offset for the next page; null on the last page.")
    group: Literal["none", "talk"] = "none"
    quotes_dropped: bool = Field(False, description=(
        'No moment holds the query\'s "quoted phrases" word for word; these results are for the same words '
        "unquoted (on every page of the query)."))
    words_found: bool = Field(True, description=(
        "Whether some talk searched says one of the query's words (as keyword search reads them: stemmed, accents "
        "folded), or the query names one by its speaker or event. False: neither, and the results are only the "
        "closest in meaning or in sound (a misspelt or misheard word), which may be far from what was asked."))
    corrected_query: str | None = Field(None, description=(
        "The query as it was searched, when a word of it that no talk says (nor a word the embedding model knows "
        "whole) is one typing slip from a word the transcripts say, and was searched as that word: \"citaton\" as "
        "\"citation\" (a letter left out, added or changed, or two swapped; words of 6 letters or more, or of 5 "
        "where one transcript word alone is a slip from it; outside quotes); or when two words typed apart "
        "(\"RO-Crate\") are written as one word in the transcripts and never apart (\"ROCrate\"), and were "
        "searched as one. null: searched as typed."))


class RelatedResponse(BaseModel):
    talk: TalkSummary
    at: float
    start: float = Field(description="The moment the results relate to: the passage spoken at `at`.")
    end: float
    text: str
    took_ms: float
    results: list[SearchResult] = Field(description="The best moment in each other talk, best first.")


class TalkList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"talks": [_TALK_EXAMPLE], "total": 1}]})

    talks: list[TalkSummary]
    total: int


class Chapter(BaseModel):
    start: float | None
    end: float | None
    title: str | None


class Player(BaseModel):
    kind: Literal["youtube", "video", "audio", "none"]
    src: str | None = Field(None, description="Media URL for <video>/<audio>; local talks are served by /media/{id}.")
    youtube_id: str | None = None


class TalkDetail(TalkSummary):
    description: str | None = None
    chapters: list[Chapter] = Field([], description="The source's chapters, when it has them.")
    indexed_at: str | None = None
    details_changed_at: str | None = Field(
        None, description="When the talk's details (title, speakers, event, description...) last changed since it "
        "was indexed, as its source restated them (a re-run of `talksearch index`, or `talksearch reembed`): an ISO "
        "time like `indexed_at`; null when they never changed. Its feed entry's `<updated>` is the later of the two.")
    whisper_model: str | None = None
    embed_model: str | None = None
    page: str = Field("", description="This service's page for the talk (a path).")
    player: Player
    transcript: dict[str, str] = Field(description="Transcript URLs by format: json, vtt, srt, txt.")
    chapter_track: str | None = Field(None, description=(
        "URL of the chapters as a WebVTT chapters track, for a player's `<track kind=\"chapters\">` (null when the "
        "talk has no chapters)."))


class TranscriptWord(BaseModel):
    start: float
    end: float
    word: str
    probability: float = Field(description="How sure the recogniser was of the word, 0 to 1.")


class TranscriptSentence(BaseModel):
    start: float = Field(description="seconds from the talk's start")
    end: float
    text: str
    words: list[TranscriptWord] = Field(description="The sentence's words, timed.")
    speaker: str | None = Field(None, description="The speaker, when captions name one.")
    translation: str | None = Field(
        None, description="Only with `translation=1`: the sentence in English (a talk indexed with `--translate`).")


class TranscriptTalk(BaseModel):
    id: str
    title: str
    url: str
    language: str | None = None
    duration: float | None = Field(None, description="seconds")
    chapters: list[Chapter] = Field([], description="The talk's chapters, as `/api/talks/{id}` gives them.")


class Transcript(BaseModel):
    """A transcript as JSON (``talksearch export --format json`` writes the same; talksearch/transcripts.py)."""

    talk: TranscriptTalk
    segments: list[TranscriptSentence] = Field(description="The sentences, in transcript order.")


class Facets(BaseModel):
    channels: list[str]
    events: list[str]
    speakers: list[str]
    languages: list[str]


class IndexRequest(BaseModel):
    # a field it does not know is refused, not ignored: the job would run without what it asks (rules such as
    # ``parse_metadata`` are the server's settings)
    model_config = ConfigDict(extra="forbid",
                              json_schema_extra={"examples": [{"source": "https://example.org/talks/feed.xml"}]})

    source: str = Field(max_length=2000, description="An http(s) URL: a video, playlist, channel, feed or media file.")


class JobOutcome(BaseModel):
    status: str
    label: str
    detail: str = ""
    talk_id: str | None = Field(None, description=(
        "The talk added, updated or skipped as in the library already; for one skipped as removed from the library, "
        "the id `DELETE /api/removals/{id}` takes to let the next run add it back. Null where no talk is known."))


class Job(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "9b1c0e7a5d3f4c2a", "source": "https://example.org/talks/feed.xml", "status": "done",
        "created": "2024-05-14T10:00:00+00:00", "started": "2024-05-14T10:00:01+00:00",
        "finished": "2024-05-14T10:00:40+00:00", "log": ["added   Checkpointing ... (3f2a9c1d0b7e, ...)"],
        "outcomes": [{"status": "added", "label": "Checkpointing ...", "detail": "", "talk_id": "3f2a9c1d0b7e"}],
        "summary": "1 added, 0 skipped, 0 failed; ...", "error": None,
    }]})

    id: str
    source: str
    status: Literal["queued", "running", "done", "failed"]
    created: str
    started: str | None = None
    finished: str | None = None
    log: list[str] = Field([], description="The indexer's outcome lines so far.")
    outcomes: list[JobOutcome] = Field([], description="Each talk's outcome so far, as it is done.")
    summary: str | None = None
    error: str | None = None


class Deleted(BaseModel):
    deleted: str


class Restored(BaseModel):
    restored: str  # the talk whose removal is forgotten: the next run of its source adds it back
    removed_at: str  # when it had been removed (ISO time, UTC)


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"error": {"code": "invalid_query", "message": "the query is empty"}}
    ]})

    error: ErrorBody


class OEmbed(BaseModel):
    """An oEmbed 1.0 ``rich`` answer (https://oembed.com): the HTML to paste is an iframe of an /embed page."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "version": "1.0", "type": "rich", "title": _TALK_EXAMPLE["title"], "provider_name": "talksearch",
        "provider_url": "https://talks.example.org/", "width": 640, "height": 400,
        "html": '<iframe src="https://talks.example.org/embed/talks/3f2a9c1d0b7e?t=7" width="640" height="400" '
                'title="Checkpointing Long-Running Simulations to Object Storage" style="border:0" loading="lazy" '
                'allow="fullscreen; picture-in-picture"></iframe>',
    }]})

    version: Literal["1.0"] = "1.0"
    type: Literal["rich"] = "rich"
    title: str
    provider_name: str = "talksearch"
    provider_url: str
    html: str = Field(description="An <iframe> of this service's /embed page; attributes escaped.")
    width: int
    height: int
