"""talksearch as a Model Context Protocol server (the official ``mcp`` SDK): the tools an AI assistant calls.

One server definition, two transports: ``talksearch mcp`` runs it over stdio, and the service mounts it at
``/mcp`` (streamable HTTP, behind ``ClientPosts``); both answer what is no JSON-RPC message alike. The tools
only read, and every answer is built from what the library holds (ids, times, text and links come from the
catalog), so an assistant can cite a moment but has nothing to invent one from.
"""

from __future__ import annotations

import difflib
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Collection
from typing import Annotated
from urllib.parse import urlsplit

import anyio
import pydantic_core
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER, unsupported_protocol_version_rejection
from mcp.shared.message import SessionMessage
from mcp.types import Resource as MCPResource
from mcp.types import Tool as MCPTool
from mcp.types import ToolAnnotations
from mcp_types import (
    INVALID_PARAMS,
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
from mcp_types.version import SUPPORTED_PROTOCOL_VERSIONS
from pydantic import BaseModel, BeforeValidator, Field, StringConstraints, ValidationError, create_model
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from talksearch import __version__
from talksearch.language_codes import filter_languages
from talksearch.library import TalkFilter
from talksearch.schemas import Chapter, SearchResponse, SearchResult, TalkDetail, TalkSummary, TranscriptSentence
from talksearch.search.searcher import NotFound, QueryError, Searcher, link_at, talk_summary
from talksearch.service.errors import invalid_message
from talksearch.service.params import SEARCH_OFFSET_MAX, TALKS_OFFSET_MAX, PublishedDate, no_such_talks
from talksearch.service.ratelimit import SPEND_KEY
from talksearch.service.talk_detail import talk_detail
from talksearch.timecode import clock
from talksearch.transcripts import missing_transcript, missing_translation, render

MAX_VALUES = 50  # values per filter, as the HTTP API allows
MAX_VALUE_CHARS = 200  # characters per filter value, as the HTTP API allows
TRANSCRIPT_SENTENCES = 200  # sentences get_transcript returns unless asked for fewer or more
MAX_TRANSCRIPT_SENTENCES = 1000  # an hour's talk is some 750 sentences, 150,000 characters: past what an answer holds
RATE_LIMITED = -32000  # the first of JSON-RPC's codes for a server's own errors (-32000 to -32099)
INSTRUCTIONS = """Search what was said in a library of recorded talks (conference talks, lectures), down to the
second. Use search_talks to find moments, get_transcript to read around a moment before quoting it, and
list_talks to see what the library holds. Cite moments with the returned link; every time and quote comes
from the transcript, so do not adjust or invent them."""

TRANSCRIPT_RESOURCE = "talksearch://talks/{talk_id}/transcript"
LISTED_RESOURCES = 1000  # the newest talks' transcripts listed as resources; any talk's is read by its URI

SEARCH_DESCRIPTION = """Find moments in the talks where something is said or explained.

A good query is a short description of the idea in the speaker's words, e.g. "gang scheduling for MPI jobs"
or "why checkpoints go to object storage": the search matches meaning as well as exact words. Put
"quoted phrases" around words that must appear exactly (names, acronyms). Do not add words like "talk about"
or "video". Filters narrow to talks by speaker, event, channel, language or publication date (use
list_talks to see the values). Each result is one moment: the talk (its speakers, its spoken `language`), start
and end in seconds, the transcript text as spoken, `speaker` (who says it, where the talk's captions name
speakers), `translation`, its English for a talk indexed with a translation (else null), `score` (higher is
closer), and `link`, which plays the talk at that moment."""

TRANSCRIPT_DESCRIPTION = """The transcript of one talk as timed sentences (start and end in seconds).

Pass the talk id from search_talks or list_talks; pass start and end (seconds) to read only around a moment,
e.g. a minute before and after a search result, instead of the whole talk. At most max_sentences sentences
(200 unless asked, at most 1000) come back at once: when more follow within the range, `next_start` says where,
and a call with start=next_start reads on. The talk's chapters and description come with a read from its start
(a chapter's start and end read that part); a read from a moment on has the chapters it reads in alone. Pass translation=true for each sentence's English as well
(`translation`), for a talk in another language indexed with a translation."""

LIST_DESCRIPTION = """The talks in the library, newest first, with the total count: each with its speakers, event,
channel, publication date, spoken `language` and `transcript_source`. Filter by speaker, event, channel, language
or publication date; use it to learn which values the search filters take."""

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)


# A talk as the HTTP API's JSON gives it (schemas.TalkSummary: its fields' names, types and descriptions), less
# what only a player uses: `link` is what plays a talk for an assistant. (duration_measured, computed, is no field.)
PLAYER_ONLY = {"thumbnail", "media_url", "duration_measured"}
TalkRef = create_model("TalkRef", **{name: (field.annotation, field)
                                     for name, field in TalkSummary.model_fields.items() if name not in PLAYER_ONLY})


class FoundMoment(BaseModel):
    talk: TalkRef
    start: float = Field(description="seconds from the talk's start")
    end: float
    text: str = Field(description="What is said, from the transcript")
    speaker: str | None = Field(None, exclude_if=lambda speaker: speaker is None,
                                description=SearchResult.model_fields["speaker"].description)
    translation: str | None = SearchResult.model_fields["translation"]  # as the HTTP API's search names it
    # The HTTP API's SearchResult.score, which has no description of its own to reuse
    score: float = Field(description=(
        "How closely the moment matches the query, as the HTTP API's search scores it: higher is closer, and "
        "moments come best first. A query nothing in the library answers still gets its nearest moments, which "
        "score lower than real matches do"))
    chapter: str | None = Field(None, exclude_if=lambda chapter: chapter is None,
                                description=SearchResult.model_fields["chapter"].description)
    link: str = Field(description="Plays the talk at this moment")
    page: str = Field(description="The talksearch page playing the talk at this moment (over stdio: at the "
                                  "service's public address when TALKSEARCH_PUBLIC_URL is set, else its path)")


class SearchAnswer(BaseModel):
    query: str
    moments: list[FoundMoment]
    more: bool = Field(description="More moments match: search again with offset")
    quotes_dropped: bool = Field(False, description=(
        'No moment holds the query\'s "quoted phrases" word for word; these moments are for the words unquoted'))
    words_found: bool = Field(True, description=SearchResponse.model_fields["words_found"].description)
    corrected_query: str | None = Field(None, exclude_if=lambda corrected: corrected is None,
                                        description=SearchResponse.model_fields["corrected_query"].description)
    note: str | None = Field(None, exclude_if=lambda note: note is None, description=(
        "Only when the filters match no talk at all: says so (no moment is no answer to the query then)"))


class Sentence(BaseModel):
    start: float
    end: float
    text: str
    speaker: str | None = Field(None, exclude_if=lambda speaker: speaker is None,  # as the API's sentence names it
                                description=TranscriptSentence.model_fields["speaker"].description.removesuffix(".")
                                + "; absent otherwise")
    translation: str | None = Field(
        None, exclude_if=lambda english: english is None,  # no column of nulls in each answer that did not ask
        description="Only with translation=true: the sentence in English (a talk indexed with `--translate`); "
                    "absent where it has none")


class TranscriptAnswer(BaseModel):
    talk: TalkRef
    link: str = Field(description="Plays the talk from the first sentence returned")
    # what the talk page shows beside its transcript: where a long talk's parts are, and what it is about
    description: str | None = TalkDetail.model_fields["description"]
    chapters: list[Chapter] = Field([], description="The source's chapters (start, end in seconds; title), when it has "
                                           "them: where to read a part of a long talk with start and end (a read "
                                           "from a moment on: the chapters it reads in alone)")
    sentences: list[Sentence]
    next_start: float | None = Field(description=(
        "More sentences follow within the range asked (past max_sentences): call again with start=next_start to "
        "read on; null when none do"))


class TalksAnswer(BaseModel):
    talks: list[TalkRef]
    total: int = Field(description="Talks matching the filters, in all")
    note: str | None = SearchAnswer.model_fields["note"]


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


def _values(values: list[str] | None) -> list[str]:
    """A filter's values, blanks left out: a blank value is no filter, as the HTTP API reads it."""
    return [v.strip() for v in values or [] if v.strip()]


def _languages(values: list[str]) -> list[str]:
    try:
        return filter_languages(values)
    except ValueError as exc:
        raise ToolError(f"language: {exc}") from None


def _filter(speaker, event, channel, language, published_after, published_before, talk=None) -> TalkFilter:
    chosen = TalkFilter(
        talks=_values(talk), channels=_values(channel), events=_values(event),
        speakers=_values(speaker), languages=_languages(_values(language)),
        published_after=published_after.isoformat() if published_after else None,
        published_before=published_before.isoformat() if published_before else None,
    )
    if reversed_dates := chosen.reversed_dates():
        raise ToolError(reversed_dates)
    return chosen


# The filters as a tool's arguments name them
FILTER_ARGUMENTS = {"talks": "talk", "channels": "channel", "events": "event", "speakers": "speaker",
                    "languages": "language", "published_after": "published_after",
                    "published_before": "published_before"}


def _no_talk_matches(filters: TalkFilter) -> str:
    """The note of an empty answer whose filters match no talk at all: a misspelt event or speaker otherwise reads
    as "nobody said it"."""
    given = [(argument, getattr(filters, field)) for field, argument in FILTER_ARGUMENTS.items()]
    named = "; ".join(f"{argument}: {value if isinstance(value, str) else ', '.join(value)}"
                      for argument, value in given if value)
    return f"no talk matches the filters ({named}); list_talks without them shows the talks' events and speakers"


def _unknown_argument(taker: str, known: list[str], arguments: dict) -> str | None:
    """The refusal of the first argument that the tool or prompt ``taker`` does not take (the SDK's argument model
    would drop it unread, and answer as if it had not been asked: ``speakers`` for ``speaker``, ``from`` for
    ``start``); else None."""
    for name in arguments:
        if name not in known:
            return f"{name}: not an argument of {taker} ({_hint(name, known, 'its arguments')})"
    return None


def _hint(name: str, known: list[str], listed: str) -> str:
    """What a misnamed ``name`` may have meant: the closest of ``known``, else all of them (``listed``: what)."""
    close = difflib.get_close_matches(name, known, n=1)
    return f"did you mean {close[0]}?" if close else f"{listed}: " + ", ".join(known)


# A model often passes one value as a string ("Jane Doe"): read as that one value, not refused.
Values = Annotated[Annotated[list[Annotated[str, StringConstraints(max_length=MAX_VALUE_CHARS)]],
                             Field(max_length=MAX_VALUES)] | None,
                   BeforeValidator(lambda value: [value] if isinstance(value, str) else value)]
Speaker = Annotated[Values, Field(description="Only talks by any of these speakers")]
Event = Annotated[Values, Field(description="Only talks from any of these events")]
Channel = Annotated[Values, Field(description="Only talks from any of these channels")]
Language = Annotated[Values, Field(description="Only talks in any of these spoken languages, e.g. en")]
# Calendar dates only, as the API takes them: pydantic's own ``date`` reads a bare number as a Unix timestamp
After = Annotated[PublishedDate, Field(description="Only talks published on or after this date (YYYY-MM-DD)")]
Before = Annotated[PublishedDate, Field(description="Only talks published on or before this date (YYYY-MM-DD)")]


class _Server(MCPServer):
    def __init__(self, *args, searcher: Callable[[], Searcher], **kwargs):
        super().__init__(*args, **kwargs)
        self._searcher = searcher

    async def list_tools(self) -> list[MCPTool]:
        """The tools as the SDK lists them, each schema closed (``additionalProperties: false``, which
        ``call_tool`` holds to: the SDK's argument model would drop any other argument unread) and ``query``
        as long as the searcher reads one (the service's setting; its searcher opens after the tools are made)."""
        listed = []
        for tool in await super().list_tools():
            schema = {**tool.input_schema, "additionalProperties": False}
            if "query" in schema["properties"]:
                query = {**schema["properties"]["query"], "maxLength": self._searcher().max_query_chars}
                schema["properties"] = {**schema["properties"], "query": query}
            listed.append(tool.model_copy(update={"input_schema": schema}))
        return listed

    async def list_resources(self) -> list[MCPResource]:
        """The transcripts of the library's newest talks, each a resource by its URI (TRANSCRIPT_RESOURCE): a client
        lists resources to attach, not templates to fill in (its list was empty, the template alone listed)."""
        talks = await anyio.to_thread.run_sync(self._newest_talks)  # waiting on a reader: never on the event loop
        return [MCPResource(uri=TRANSCRIPT_RESOURCE.format(talk_id=talk.id), name=talk.title or talk.id,
                            title=talk.title, mime_type="text/plain",
                            description=f"The transcript of {', '.join(talk.speakers)}'s talk" if talk.speakers
                            else "The talk's transcript")
                for talk in talks]

    def _newest_talks(self) -> list:
        with self._searcher().reading() as library:
            return library.talks(LISTED_RESOURCES)

    async def call_tool(self, name, arguments, context=None):
        """A refusal is one line, as the HTTP API words it: arguments the tool's schema refuses (``limit:
        Input should be ...``, not pydantic's multi-line report with its links; an argument it does not take), and
        a tool's own ToolError without the SDK's "Error executing tool ..." before it."""
        tool = next((t for t in await self.list_tools() if t.name == name), None)
        if tool is not None and (unknown := _unknown_argument(
                name, list(tool.input_schema.get("properties", {})), arguments)):
            raise ToolError(unknown)
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError):
                raise ToolError(invalid_message(exc.__cause__.errors(), located=False)) from exc.__cause__
            if isinstance(exc.__cause__, ToolError):
                raise exc.__cause__ from None
            raise

    async def get_prompt(self, name, arguments=None, context=None):
        """A prompt asked wrongly is refused as a tool is, in one line (invalid params: an unknown prompt, an
        argument it does not take, one it needs): the SDK raises ValueError, which answered "Internal server
        error" (2026-07-28) or code 0 with its own words, and logged a traceback."""
        prompts = {prompt.name: prompt for prompt in await self.list_prompts()}
        prompt = prompts.get(name)
        if prompt is None:
            raise MCPError(INVALID_PARAMS, f"unknown prompt {name} ({_hint(name, list(prompts), 'the prompts')})")
        takes = prompt.arguments or []
        if unknown := _unknown_argument(name, [argument.name for argument in takes], arguments or {}):
            raise MCPError(INVALID_PARAMS, unknown)
        if missing := [argument.name for argument in takes if argument.required and argument.name not in
                       (arguments or {})]:
            raise MCPError(INVALID_PARAMS, f"{missing[0]}: Field required")  # as a tool's refusal words it
        return await super().get_prompt(name, arguments, context)

    async def run_stdio_async(self) -> None:
        """``run("stdio")``: the SDK's stdio transport and serving loop (as ``MCPServer.run_stdio_async``), with the
        client's lines read through ``_ClientLines`` and the answers counted by ``_Answers``."""
        lines = _ClientLines()
        try:
            async with stdio_server(stdin=lines) as (read_stream, write_stream):
                lines.answer_with(write_stream)
                # The SDK's own run_stdio_async runs this same call: MCPServer has no public way to serve other
                # streams.
                await self._lowlevel_server.run(read_stream, _Answers(write_stream, lines),
                                                self._lowlevel_server.create_initialization_options())
        except Exception as exc:  # (no except*: Python 3.10 is supported)
            if not _client_gone(exc):
                raise
            # The client closed its end: no one is left to answer, an end like the end of its input. What stdout
            # may still hold goes nowhere at exit, rather than failing there again (Python's way).
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _client_gone(exc: BaseException) -> bool:
    """Whether ``exc`` is a BrokenPipeError writing to the client, alone or in the exception groups that the
    transport's task groups raise around it."""
    grouped = getattr(exc, "exceptions", None)  # an ExceptionGroup's (the backport's on 3.10)
    if isinstance(grouped, (list, tuple)):
        return bool(grouped) and all(_client_gone(inner) for inner in grouped)
    return isinstance(exc, BrokenPipeError)


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
        if isinstance(raw, list):  # JSON-RPC's batch, which 2025-03-26 allowed and MCP no longer does
            raise Unreadable(_refusal(None, INVALID_REQUEST, "Invalid request: batches are not supported (send each "
                                      "message on its own)")) from None
        request_id = raw.get("id") if isinstance(raw, dict) else None
        if not isinstance(request_id, (int, str)) or isinstance(request_id, bool):
            request_id = None  # an id JSON-RPC does not allow cannot be echoed
        reason = invalid_message(exc.errors(), located=False)
        raise Unreadable(_refusal(request_id, INVALID_REQUEST, f"Invalid request: {reason}")) from None


def _refusal(request_id, code: int, message: str, data=None) -> JSONRPCError:
    error = ErrorData(code=code, message=message, **({"data": data} if data is not None else {}))  # no "data": null
    return JSONRPCError(jsonrpc="2.0", id=request_id, error=error)


# A message's most (a search with every filter at 50 values of 200 characters) is about 60 KB. The SDK's 4 MiB took
# seconds of the event loop to parse, before the rate limit or anything else looked at it: one post of 4 MB of empty
# lists held every other request of the service 5 s (a denial of service hunt).
MAX_BODY_BYTES = 256 * 1024


class ClientPosts:
    """``/mcp``: what clients POST, read before the SDK's streamable-HTTP app (``app``) sees it, so that every
    refusal is a JSON-RPC error, the one form an MCP client shows its user (the SDK's client reports any other
    non-2xx body as "Server returned an error response"):

    * a body that is no JSON-RPC message: the SDK answers it with id null, code -32602 (which JSON-RPC keeps for
      invalid *params*) and pydantic's multi-line report. Here: 400 with what stdio answers (``read_message``).
    * a Content-Type other than JSON, or a body over ``MAX_BODY_BYTES``: the SDK answers in plain text (and takes
      4 MiB). Here: 415, 413.
    * an ``MCP-Protocol-Version`` it does not support: 400, naming it and the supported ones.
    * the rate limit (ratelimit.py hands over the function that spends a token): a request spends one, and its
      429 is an error with the request's id. A notification runs no search and spends nothing, so a handshake
      costs one token (``initialize``), not two, and a refused message that expects no answer is not lost.
    * with ``cors_origins`` a list (a private library), a page of another origin: 403. CORS never stops a page that
      the browser takes for the service's own: one on a host name an attacker points at the service (DNS
      rebinding: ``Host`` and ``Origin`` both that name). So a POST with an ``Origin`` is answered only for an
      origin in the list, ``public_url``'s (the service's own pages) or a loopback one (a client on this machine);
      one without (no browser sends it) as before. With any origin allowed (``*``) nothing is private to keep.

    A message the SDK can read reaches it as sent (the body given back whole), and its answers are untouched."""

    def __init__(self, app: ASGIApp, max_body_size: int = MAX_BODY_BYTES,
                 cors_origins: Collection[str] = ("*",), public_url: str | None = None):
        self.app = app
        self.max_body_size = max_body_size
        own = [_origin(public_url)] if public_url else []
        self.origins = None if "*" in cors_origins else {*cors_origins, *own}  # None: any origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        origin = request.headers.get("origin")
        if origin is not None and self.origins is not None and origin not in self.origins and not _loopback(origin):
            await _answer(_refusal(None, INVALID_REQUEST, f"Forbidden: the origin {origin} may not call /mcp "
                                   "(TALKSEARCH_CORS_ORIGINS lists the origins that may)"), 403)(scope, receive, send)
            return
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
        version = request.headers.get(MCP_PROTOCOL_VERSION_HEADER)
        if version is not None and version not in SUPPORTED_PROTOCOL_VERSIONS:
            # The SDK reads a version it does not know as a newer era's and answers that params._meta lacks that
            # era's keys, naming neither version. Its own rejection (code and data, which a client negotiates
            # down with), in words that name both.
            rejection = unsupported_protocol_version_rejection(version)
            await _answer(_refusal(getattr(message, "id", None), rejection.code, (
                f"Unsupported protocol version {version} (MCP-Protocol-Version header); supported: "
                f"{', '.join(SUPPORTED_PROTOCOL_VERSIONS)}"), rejection.data), 400)(scope, receive, send)
            return
        spend = scope.get(SPEND_KEY)
        refused = spend() if spend is not None and isinstance(message, JSONRPCRequest) else None
        if refused is not None:
            reason, headers = refused
            await _answer(_refusal(message.id, RATE_LIMITED, reason), 429, headers)(scope, receive, send)
            return
        await self.app(scope, _given_back(body, receive), send)


LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


def _origin(url: str) -> str:
    """The origin of ``url`` as a browser sends it (scheme and host in lower case)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _loopback(origin: str) -> bool:
    """Whether ``origin`` is a page on this machine (http or https, localhost or a loopback address, any port): no
    name an attacker can point elsewhere."""
    try:
        parts = urlsplit(origin)
    except ValueError:  # e.g. "http://[": no origin at all
        return False
    return parts.scheme in ("http", "https") and parts.hostname in LOOPBACK_HOSTS


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
    # subscriptions=False: no subscriptions/listen, and capabilities that say so on 2026-07-28 as on the handshake
    # (no resources.subscribe, no listChanged). Stateless JSON answers hold no stream to the client, the library's
    # changes are not announced, and each listen held a connection open forever.
    server = _Server("talksearch", title="talksearch", version=__version__, instructions=INSTRUCTIONS,
                     log_level="WARNING", searcher=searcher, subscriptions=False)
    root.handlers[:], root.level = handlers, level

    def _unmatched(filters: TalkFilter) -> str | None:
        """The note of an empty answer when its filters match no talk at all; else None."""
        if not filters:
            return None
        with searcher().reading() as library:
            return _no_talk_matches(filters) if library.count_talks(filters) == 0 else None

    @server.tool(description=SEARCH_DESCRIPTION, annotations=READ_ONLY)
    def search_talks(
        # Its maxLength is the searcher's (list_tools), which refuses a longer one in its own words
        query: Annotated[str, Field(description="What to look for; \"quoted phrases\" must match exactly (when "
                                                "no moment holds them, the words unquoted answer: quotes_dropped)")],
        limit: Annotated[int, Field(ge=1, le=100, description="Moments to return")] = search_limit,
        offset: Annotated[int, Field(ge=0, le=SEARCH_OFFSET_MAX, description="Skip this many (the next page)")] = 0,
        speaker: Speaker = None, event: Event = None, channel: Channel = None, language: Language = None,
        published_after: After = None, published_before: Before = None,
        talk: Annotated[Values, Field(description="Only these talk ids (an id the library lacks is an error "
                                                  "naming it)")] = None,
        ctx: Context | None = None,
    ) -> SearchAnswer:
        filters = _filter(speaker, event, channel, language, published_after, published_before, talk)
        try:
            response = searcher().search(query, limit, offset=offset, filters=filters or None)
        except QueryError as exc:
            raise ToolError(f"cannot search: {exc}") from None
        except NotFound as exc:  # a talk the library lacks: an empty answer would read as "nobody said it"
            raise ToolError(str(exc)) from None
        base = _service_base(ctx)
        moments = [FoundMoment(talk=_ref(r.talk, base),
                               start=r.start, end=r.end, text=r.text, speaker=r.speaker,
                               translation=r.translation, score=r.score,
                               chapter=r.chapter,
                               link=_absolute(base, r.link), page=_absolute(base, r.page))
                   for r in response.results]
        return SearchAnswer(query=query, moments=moments, more=response.next_offset is not None,
                            quotes_dropped=response.quotes_dropped, words_found=response.words_found,
                            corrected_query=response.corrected_query, note=None if moments else _unmatched(filters))

    @server.tool(description=TRANSCRIPT_DESCRIPTION, annotations=READ_ONLY)
    def get_transcript(
        talk_id: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64),
                           Field(description="The talk's id")],
        start: Annotated[float | None, Field(ge=0, le=1e7, allow_inf_nan=False, description="From this second")] = None,
        end: Annotated[float | None, Field(ge=0, le=1e7, allow_inf_nan=False, description="Up to this second")] = None,
        translation: Annotated[bool, Field(description="Each sentence's English too, for a talk indexed with "
                                                       "`--translate` (refused for a talk that has none)")] = False,
        max_sentences: Annotated[int, Field(ge=1, le=MAX_TRANSCRIPT_SENTENCES, description=(
            "At most this many sentences; when more follow within the range, next_start says where"))
        ] = TRANSCRIPT_SENTENCES,
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
        in_range = [s for s in segments if (start is None or s.end > start) and (end is None or s.start < end)]
        chosen, following = in_range[:max_sentences], in_range[max_sentences:]
        first = chosen[0].start if chosen else (start or 0.0)
        detail = talk_detail(talk, searcher().base)
        # A read from a moment on (the next page, a minute around a search result) has the chapters it reads in,
        # and no description: a day-long stream's hundreds of chapters came again with every page
        last = chosen[-1].end if chosen else first
        chapters = detail.chapters if start is None else [
            c for c in detail.chapters if (c.start or 0.0) < max(last, first + 1e-6) and (c.end is None or c.end > first)]
        return TranscriptAnswer(
            talk=_ref(talk_summary(talk, searcher().served, searcher().base), _service_base(ctx)),
            description=detail.description if start is None else None, chapters=chapters,
            link=_absolute(_service_base(ctx), link_at(talk, first, searcher().served, searcher().base)),
            sentences=[Sentence(start=round(s.start, 2), end=round(s.end, 2), text=s.text, speaker=s.speaker,
                                translation=s.translation if translation else None) for s in chosen],
            next_start=_read_on(chosen, following))

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
                           total=count, note=_no_talk_matches(filters) if filters and count == 0 else None)

    # A talk's transcript as a resource: a client that lets its user attach resources (rather than have the model
    # call get_transcript a page at a time) reads a whole talk, one sentence a line after its time (to cite)
    @server.resource(TRANSCRIPT_RESOURCE, name="transcript", title="A talk's transcript", mime_type="text/plain",
                     description="The whole transcript of the talk TALK_ID (list_talks shows the ids): its title, "
                                 "then one sentence a line after the time it starts, [m:ss] or [h:mm:ss], and "
                                 "\"Name: \" where a speaker the captions name starts")
    def transcript_resource(talk_id: str) -> str:
        with searcher().reading() as library:
            talk = library.talk(talk_id)
            segments = library.segments(talk_id) if talk is not None else []
        if talk is None:
            raise ResourceNotFoundError(f"no talk {talk_id!r} in the library (list_talks shows the ids)")
        if missing := missing_transcript(talk, segments):
            raise ResourceNotFoundError(missing)
        # each sentence's line as the .txt export writes it ("Name: " where a named speaker starts), after its time
        lines = render(talk, segments, "txt").removesuffix("\n").split("\n")  # a sentence a line
        return "\n".join([talk.title or talk_id, *(f"[{clock(s.start)}] {line}" for s, line in zip(segments, lines))]
                         ) + "\n"

    @server.prompt(name="find_moments", title="Where the talks say it",
                   description="Find the moments in the library's talks where a topic is said or explained, "
                               "each cited with its talk, speakers, time and link")
    def find_moments(topic: Annotated[str, Field(description="What to find, e.g. gang scheduling for MPI jobs")]
                     ) -> str:
        return (f"Find the moments in the library's talks where this is said or explained: {topic}\n"
                "Search with search_talks (a short description in the speaker's words; more pages while they help), "
                "read around the best moments with get_transcript before quoting them, and answer with each "
                "moment's talk title, speakers, time and link, quoting only what the transcript says.")

    return server


def _read_on(chosen, following) -> float | None:
    """Where a next call reads on from (its ``start``): the next sentence's start, or where the last sentence
    returned ends when the two overlap, so that the next call neither repeats that sentence nor skips one. Not
    rounded: a start rounded down could fall inside the sentence before it."""
    if not following:
        return None
    return max(following[0].start, chosen[-1].end)
