"""talksearch as a Model Context Protocol server (the official ``mcp`` SDK): the tools an AI assistant calls.

One server definition, two transports: ``talksearch mcp`` runs it over stdio, and the service mounts it at
``/mcp`` (streamable HTTP, behind ``ClientPosts``); both answer what is no JSON-RPC message alike. The tools
only read, and every answer is built from what the library holds (ids, times, text and links come from the
catalog), so an assistant can cite a moment but has nothing to invent one from.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Callable
from typing import Annotated

import anyio
import pydantic_core
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.stdio import stdio_server
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE
from mcp.shared.message import SessionMessage
from mcp.types import ToolAnnotations
from mcp_types import (
    INVALID_REQUEST,
    PARSE_ERROR,
    ErrorData,
    JSONRPCError,
    JSONRPCMessage,
    JSONRPCNotification,
    JSONRPCRequest,
    JSONRPCResponse,
    jsonrpc_message_adapter,
)
from pydantic import BaseModel, Field, ValidationError, create_model
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from talksearch import __version__
from talksearch.language_codes import filter_languages
from talksearch.library import TalkFilter
from talksearch.schemas import SearchResult, TalkSummary
from talksearch.search.searcher import QueryError, Searcher, link_at, talk_summary
from talksearch.service.errors import invalid_message
from talksearch.service.params import SEARCH_OFFSET_MAX, TALKS_OFFSET_MAX, PublishedDate
from talksearch.service.ratelimit import SPEND_KEY
from talksearch.transcripts import missing_translation

MAX_VALUES = 50  # values per filter, as the HTTP API allows
RATE_LIMITED = -32000  # the first of JSON-RPC's codes for a server's own errors (-32000 to -32099)
INSTRUCTIONS = """Search what was said in a library of recorded talks (conference talks, lectures), down to the
second. Use search_talks to find moments, get_transcript to read around a moment before quoting it, and
list_talks to see what the library holds. Cite moments with the returned link; every time and quote comes
from the transcript, so do not adjust or invent them."""

SEARCH_DESCRIPTION = """Find moments in the talks where something is said or explained.

A good query is a short description of the idea in the speaker's words, e.g. "gang scheduling for MPI jobs"
or "why checkpoints go to object storage": the search matches meaning as well as exact words. Put
"quoted phrases" around words that must appear exactly (names, acronyms). Do not add words like "talk about"
or "video". Filters narrow to talks by speaker, event, channel, language or publication date (use
list_talks to see the values). Each result is one moment: the talk (its speakers, its spoken `language`), start
and end in seconds, the transcript text as spoken, `translation`, its English for a talk indexed with a
translation (else null), and `link`, which plays the talk at that moment."""

TRANSCRIPT_DESCRIPTION = """The transcript of one talk as timed sentences (start and end in seconds).

Pass the talk id from search_talks or list_talks; pass start and end (seconds) to read only around a moment,
e.g. a minute before and after a search result, instead of the whole talk. Pass translation=true for each
sentence's English as well (`translation`), for a talk in another language indexed with a translation."""

LIST_DESCRIPTION = """The talks in the library, newest first, with the total count: each with its speakers, event,
channel, publication date, spoken `language` and `transcript_source`. Filter by speaker, event, channel, language
or publication date; use it to learn which values the search filters take."""

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)


# A talk as the HTTP API's JSON gives it (schemas.TalkSummary: its fields' names, types and descriptions), less
# what only a player uses: `link` is what plays a talk for an assistant.
PLAYER_ONLY = {"thumbnail", "media_url"}
TalkRef = create_model("TalkRef", **{name: (field.annotation, field)
                                     for name, field in TalkSummary.model_fields.items() if name not in PLAYER_ONLY})


class FoundMoment(BaseModel):
    talk: TalkRef
    start: float = Field(description="seconds from the talk's start")
    end: float
    text: str = Field(description="What is said, from the transcript")
    translation: str | None = SearchResult.model_fields["translation"]  # as the HTTP API's search names it
    link: str = Field(description="Plays the talk at this moment")
    page: str = Field(description="The talksearch page playing the talk at this moment (over stdio: its path)")


class SearchAnswer(BaseModel):
    query: str
    moments: list[FoundMoment]
    more: bool = Field(description="More moments match: search again with offset")
    quotes_dropped: bool = Field(False, description=(
        'No moment holds the query\'s "quoted phrases" word for word; these moments are for the words unquoted'))


class Sentence(BaseModel):
    start: float
    end: float
    text: str
    translation: str | None = Field(
        None, description="Only with translation=true: the sentence in English (a talk indexed with `--translate`); "
                          "null where it has none")


class TranscriptAnswer(BaseModel):
    talk: TalkRef
    link: str = Field(description="Plays the talk from the first sentence returned")
    sentences: list[Sentence]


class TalksAnswer(BaseModel):
    talks: list[TalkRef]
    total: int = Field(description="Talks matching the filters, in all")


def _ref(talk: TalkSummary, origin: str) -> TalkRef:
    """A talk as the HTTP API gives it (over stdio: as the library holds it), its link made whole over HTTP."""
    return TalkRef(**talk.model_dump(include=set(TalkRef.model_fields)) | {"url": _absolute(origin, talk.url)})


def _service_base(ctx: Context | None) -> str:
    """The service's origin when the call came over HTTP (``/mcp``); over stdio there is none. The origin, not
    the base URL: the links it completes already start with the service's path prefix (root_path)."""
    try:
        request = ctx.request_context.request if ctx is not None else None
    except ValueError:  # no request context
        return ""
    base_url = getattr(request, "base_url", None)
    return f"{base_url.scheme}://{base_url.netloc}" if base_url is not None else ""


def _absolute(base: str, url: str) -> str:
    """A link the service made relative (a talk page, a local talk's media), made whole for the assistant."""
    return base + url if url.startswith("/") else url


def _values(name: str, values: list[str] | None) -> list[str]:
    values = [v.strip() for v in values or [] if v.strip()]
    if len(values) > MAX_VALUES or any(len(v) > 200 for v in values):
        raise ToolError(f"{name}: at most {MAX_VALUES} values of at most 200 characters")
    return values


def _languages(values: list[str]) -> list[str]:
    try:
        return filter_languages(values)
    except ValueError as exc:
        raise ToolError(f"language: {exc}") from None


def _filter(speaker, event, channel, language, published_after, published_before, talk=None) -> TalkFilter:
    chosen = TalkFilter(
        talks=_values("talk", talk), channels=_values("channel", channel), events=_values("event", event),
        speakers=_values("speaker", speaker), languages=_languages(_values("language", language)),
        published_after=published_after.isoformat() if published_after else None,
        published_before=published_before.isoformat() if published_before else None,
    )
    if reversed_dates := chosen.reversed_dates():
        raise ToolError(reversed_dates)
    return chosen


Values = list[str] | None
Speaker = Annotated[Values, Field(description="Only talks by any of these speakers")]
Event = Annotated[Values, Field(description="Only talks from any of these events")]
Channel = Annotated[Values, Field(description="Only talks from any of these channels")]
Language = Annotated[Values, Field(description="Only talks in any of these spoken languages, e.g. en")]
# Calendar dates only, as the API takes them: pydantic's own ``date`` reads a bare number as a Unix timestamp
After = Annotated[PublishedDate, Field(description="Only talks published on or after this date (YYYY-MM-DD)")]
Before = Annotated[PublishedDate, Field(description="Only talks published on or before this date (YYYY-MM-DD)")]


class _Server(MCPServer):
    async def call_tool(self, name, arguments, context=None):
        """A refusal is one line, as the HTTP API words it: arguments the tool's schema refuses (``limit:
        Input should be ...``, not pydantic's multi-line report with its links), and a tool's own ToolError
        without the SDK's "Error executing tool ..." before it."""
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError):
                raise ToolError(invalid_message(exc.__cause__.errors(), located=False)) from exc.__cause__
            if isinstance(exc.__cause__, ToolError):
                raise exc.__cause__ from None
            raise

    async def run_stdio_async(self) -> None:
        """``run("stdio")``: the SDK's stdio transport and serving loop (as ``MCPServer.run_stdio_async``), with the
        client's lines read through ``_ClientLines`` and the answers counted by ``_Answers``."""
        lines = _ClientLines()
        async with stdio_server(stdin=lines) as (read_stream, write_stream):
            lines.answer_with(write_stream)
            # The SDK's own run_stdio_async runs this same call: MCPServer has no public way to serve other streams.
            await self._lowlevel_server.run(read_stream, _Answers(write_stream, lines),
                                            self._lowlevel_server.create_initialization_options())


class _ClientLines:
    """The client's lines for the SDK's stdio transport, which would otherwise leave two things undone:

    * a line that is no JSON, or no JSON-RPC message, it drops without a word (it hands the server an error that
      is only logged, at debug), and the client waits forever for an answer to its id. Here it is answered as
      JSON-RPC 2.0 says (``read_message``), as ``/mcp`` answers the same body (with HTTP 400).
    * at the end of input it cancels the requests still running: the client that sent them and closed its side
      never hears back. Here the end of input waits until each request read has been answered (or cancelled
      by the client).

    Read from the process's stdin in place: the SDK's own reader would also point fd 0 at the null device while
    serving, which only matters to child processes, and the tools start none."""

    def __init__(self):
        self.unanswered: set[int | str] = set()
        self._answered = anyio.Event()
        self._ready = anyio.Event()
        self._write_stream = None

    def answer_with(self, write_stream) -> None:
        """Where refusals go: the transport's stream to stdout, open once ``stdio_server`` has started."""
        self._write_stream = write_stream
        self._ready.set()

    def answered(self, request_id) -> None:
        self.unanswered.discard(request_id)
        self._answered.set()

    async def __aiter__(self) -> AsyncIterator[str]:
        await self._ready.wait()
        sys.stdin.reconfigure(encoding="utf-8", errors="replace")  # as the SDK reads it: platform encodings vary
        async for line in anyio.wrap_file(sys.stdin):
            if not line.strip():
                continue  # no message, so nothing to answer
            refusal = self._read(line)
            if refusal is None:
                yield line
            else:
                await self._write_stream.send(SessionMessage(refusal))
        while self.unanswered:
            self._answered = anyio.Event()
            await self._answered.wait()

    def _read(self, line: str) -> JSONRPCError | None:
        """The refusal of a line that is not a JSON-RPC message; else None, and the line's request is counted."""
        try:
            message = read_message(line)
        except Unreadable as exc:
            return exc.answer
        if isinstance(message, JSONRPCRequest):
            self.unanswered.add(message.id)
        elif isinstance(message, JSONRPCNotification) and message.method == "notifications/cancelled":
            self.answered((message.params or {}).get("requestId"))  # a cancelled request gets no answer
        return None


class Unreadable(ValueError):
    """A client's message that is no JSON-RPC message; ``answer``: the error JSON-RPC 2.0 answers it with."""

    def __init__(self, answer: JSONRPCError):
        super().__init__(answer.error.message)
        self.answer = answer


def read_message(data: str | bytes) -> JSONRPCMessage:
    """A client's message (a stdio line, an HTTP body), read exactly as the SDK reads it. Raises ``Unreadable``
    when it is no JSON (-32700, parse error, id null) or no JSON-RPC message (-32600, invalid request, with the
    request's id where it has one, and the first thing wrong in one line)."""
    try:
        return jsonrpc_message_adapter.validate_json(data, by_name=False)
    except ValidationError as exc:
        try:
            raw = pydantic_core.from_json(data)
        except ValueError as not_json:
            raise Unreadable(_refusal(None, PARSE_ERROR, f"Parse error: {not_json}")) from None
        request_id = raw.get("id") if isinstance(raw, dict) else None
        if not isinstance(request_id, (int, str)) or isinstance(request_id, bool):
            request_id = None  # an id JSON-RPC does not allow cannot be echoed
        reason = invalid_message(exc.errors(), located=False)
        raise Unreadable(_refusal(request_id, INVALID_REQUEST, f"Invalid request: {reason}")) from None


def _refusal(request_id, code: int, message: str) -> JSONRPCError:
    return JSONRPCError(jsonrpc="2.0", id=request_id, error=ErrorData(code=code, message=message))


class ClientPosts:
    """``/mcp``: what clients POST, read before the SDK's streamable-HTTP app (``app``) sees it, so that every
    refusal is a JSON-RPC error, the one form an MCP client shows its user (the SDK's client reports any other
    non-2xx body as "Server returned an error response"):

    * a body that is no JSON-RPC message: the SDK answers it with id null, code -32602 (which JSON-RPC keeps for
      invalid *params*) and pydantic's multi-line report. Here: 400 with what stdio answers (``read_message``).
    * a Content-Type other than JSON, or a body over the SDK's limit: the SDK answers in plain text. Here: 415, 413.
    * the rate limit (ratelimit.py hands over the function that spends a token): a request spends one, and its
      429 is an error with the request's id. A notification runs no search and spends nothing, so a handshake
      costs one token (``initialize``), not two, and a refused message that expects no answer is not lost.

    A message the SDK can read reaches it as sent (the body given back whole), and its answers are untouched."""

    def __init__(self, app: ASGIApp, max_body_size: int = DEFAULT_MAX_REQUEST_BODY_SIZE):
        self.app = app
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            await _answer(_refusal(None, INVALID_REQUEST, "Unsupported Media Type: Content-Type must be "
                                   "application/json"), 415)(scope, receive, send)
            return
        body = bytearray()
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > self.max_body_size:
                    await _answer(_refusal(None, INVALID_REQUEST, f"Request body too large (over "
                                           f"{self.max_body_size} bytes)"), 413)(scope, receive, send)
                    return
        except ClientDisconnect:
            return  # the client went away before it had sent its body: nobody is left to answer
        body = bytes(body)
        try:
            message = read_message(body)
        except Unreadable as exc:
            await _answer(exc.answer, 400)(scope, receive, send)
            return
        spend = scope.get(SPEND_KEY)
        refused = spend() if spend is not None and isinstance(message, JSONRPCRequest) else None
        if refused is not None:
            reason, headers = refused
            await _answer(_refusal(message.id, RATE_LIMITED, reason), 429, headers)(scope, receive, send)
            return
        await self.app(scope, _given_back(body, receive), send)


def _answer(error: JSONRPCError, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(error.model_dump_json(by_alias=True, exclude_unset=True), status, headers,
                    media_type="application/json")


def _given_back(body: bytes, receive: Receive) -> Receive:
    """``receive`` with the body, read already, handed over again first (then the connection's own messages)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay():
        return pending.pop() if pending else await receive()

    return replay


class _Answers:
    """The server's stream to stdout, telling ``_ClientLines`` which requests have been answered."""

    def __init__(self, stream, lines: _ClientLines):
        self._stream, self._lines = stream, lines

    async def send(self, item: SessionMessage) -> None:
        await self._stream.send(item)
        if isinstance(item.message, (JSONRPCResponse, JSONRPCError)):
            self._lines.answered(item.message.id)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def __aenter__(self) -> _Answers:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.aclose()


def build_server(searcher: Callable[[], Searcher], search_limit: int = 10, talks_limit: int = 50) -> MCPServer:
    """The MCP server over the searcher that ``searcher()`` returns when a tool runs (the service opens its
    searcher only at start-up, after the routes are made)."""
    # MCPServer() calls logging.basicConfig on the root logger; logging is the host's (uvicorn's, the CLI's).
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    server = _Server("talksearch", title="talksearch", version=__version__, instructions=INSTRUCTIONS,
                       log_level="WARNING")
    root.handlers[:], root.level = handlers, level

    @server.tool(description=SEARCH_DESCRIPTION, annotations=READ_ONLY)
    def search_talks(
        query: Annotated[str, Field(description="What to look for; \"quoted phrases\" must match exactly (when "
                                                "no moment holds them, the words unquoted answer: quotes_dropped)")],
        limit: Annotated[int, Field(ge=1, le=100, description="Moments to return")] = search_limit,
        offset: Annotated[int, Field(ge=0, le=SEARCH_OFFSET_MAX, description="Skip this many (the next page)")] = 0,
        speaker: Speaker = None, event: Event = None, channel: Channel = None, language: Language = None,
        published_after: After = None, published_before: Before = None,
        talk: Annotated[Values, Field(description="Only these talk ids")] = None,
        ctx: Context | None = None,
    ) -> SearchAnswer:
        filters = _filter(speaker, event, channel, language, published_after, published_before, talk)
        try:
            response = searcher().search(query, limit, offset=offset, filters=filters or None)
        except QueryError as exc:
            raise ToolError(f"cannot search: {exc}") from None
        base = _service_base(ctx)
        moments = [FoundMoment(talk=_ref(r.talk, base),
                               start=r.start, end=r.end, text=r.text, translation=r.translation,
                               link=_absolute(base, r.link), page=_absolute(base, r.page))
                   for r in response.results]
        return SearchAnswer(query=query, moments=moments, more=response.next_offset is not None,
                            quotes_dropped=response.quotes_dropped)

    @server.tool(description=TRANSCRIPT_DESCRIPTION, annotations=READ_ONLY)
    def get_transcript(
        talk_id: Annotated[str, Field(max_length=64, description="The talk's id")],
        start: Annotated[float | None, Field(ge=0, le=1e7, allow_inf_nan=False, description="From this second")] = None,
        end: Annotated[float | None, Field(ge=0, le=1e7, allow_inf_nan=False, description="Up to this second")] = None,
        translation: Annotated[bool, Field(description="Each sentence's English too, for a talk indexed with "
                                                       "`--translate` (refused for a talk that has none)")] = False,
        ctx: Context | None = None,
    ) -> TranscriptAnswer:
        if start is not None and end is not None and end <= start:
            raise ToolError(f"end ({end:g} s) must be after start ({start:g} s)")
        with searcher().reading() as library:
            talk = library.talk(talk_id)
            if talk is None:
                raise ToolError(f"no talk {talk_id!r} in the library (list_talks shows the ids)")
            segments = library.segments(talk_id)
        if translation and (missing := missing_translation(talk, segments)):
            raise ToolError(missing)  # as the HTTP API refuses it: not the original words given as the English
        if start is not None and segments and start >= segments[-1].end:
            raise ToolError(f"start ({start:g} s) is past the talk's last sentence, which ends at "
                            f"{segments[-1].end:.0f} s")
        # A sentence overlapping the range counts: a range that starts mid-sentence still reads whole sentences.
        chosen = [s for s in segments if (start is None or s.end > start) and (end is None or s.start < end)]
        first = chosen[0].start if chosen else (start or 0.0)
        return TranscriptAnswer(
            talk=_ref(talk_summary(talk, searcher().served, searcher().base), _service_base(ctx)),
            link=_absolute(_service_base(ctx), link_at(talk, first, searcher().served, searcher().base)),
            sentences=[Sentence(start=round(s.start, 2), end=round(s.end, 2), text=s.text,
                                translation=s.translation if translation else None) for s in chosen])

    @server.tool(description=LIST_DESCRIPTION, annotations=READ_ONLY)
    def list_talks(
        speaker: Speaker = None, event: Event = None, channel: Channel = None, language: Language = None,
        published_after: After = None, published_before: Before = None,
        limit: Annotated[int, Field(ge=1, le=1000, description="Talks to return")] = talks_limit,
        offset: Annotated[int, Field(ge=0, le=TALKS_OFFSET_MAX, description="Skip this many (the next page)")] = 0,
        talk: Annotated[Values, Field(description="Only these talk ids")] = None,
        ctx: Context | None = None,
    ) -> TalksAnswer:
        filters = _filter(speaker, event, channel, language, published_after, published_before, talk)
        with searcher().reading() as library:
            talks, count = library.talks(limit, offset, filters), library.count_talks(filters)
        origin = _service_base(ctx)
        return TalksAnswer(talks=[_ref(talk_summary(t, searcher().served, searcher().base), origin) for t in talks],
                           total=count)

    return server

