"""Pages made for an ``<iframe>`` on sites that allow no scripts, and the oEmbed provider that hands them out.

``/embed?q=…`` searches and ``/embed/talks/{id}?t=…`` plays a talk from a moment (a media fragment, so the
browser seeks without any script). They load nothing from third parties: styles are inline, a YouTube talk
is a link to YouTube at the moment rather than YouTube's player. Who may frame them is the operator's
``embed_frame_ancestors`` setting (CSP ``frame-ancestors``).
"""

import base64
import hashlib
import html
import re
from typing import Annotated, Literal
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from pydantic import ValidationError, validate_call
from talksearch.service.errors import ApiError, wants_page
from talksearch.service.params import NOT_UTF8, SEARCH_OFFSET_MAX, Filters, Offset, no_such_talks, not_utf8, talk_filter
from talksearch.service.rendering import base_path, environment, render, site_url
from talksearch.service.routes.pages import moment_in_talk
from talksearch.service.routing import ReadRoute
from talksearch.service.state import State
from talksearch.service.talk_detail import talk_detail
from talksearch.timecode import LONGEST_LINK_SECONDS, link_seconds, url_seconds, written_seconds

from talksearch.library import TalkFilter
from talksearch.schemas import ErrorResponse, OEmbed
from talksearch.search.searcher import (Group, QueryError, corrected_note, link_at, quotes_dropped_note,
                                        words_not_found_note)

router = APIRouter(tags=["embeds"], route_class=ReadRoute)
_HTML = {200: {"content": {"text/html": {}}, "description": "A page for an iframe"}}
_FILTER_NAMES = ("talk", "channel", "event", "speaker", "language", "published_after", "published_before")
_HOST = re.compile(r"[A-Za-z0-9.-]+|[0-9A-Fa-f:.]+")  # a name or an IP address, IPv6 included
SAID_SECONDS = 20.0  # how much of the transcript the talk embed quotes from the moment on


def _css() -> str:
    return environment().loader.get_source(environment(), "embed.css")[0]


def content_security_policy(frame_ancestors: str, media_from: str | None = None) -> str:
    """Nothing but the page itself, its own styles and (for a talk) its media; framed by whom the operator says."""
    style = "'sha256-" + base64.b64encode(hashlib.sha256(_css().encode()).digest()).decode() + "'"
    media = f"'self' {media_from}" if media_from else "'self'"
    return (f"default-src 'none'; style-src {style}; img-src data:; media-src {media}; form-action 'self'; "
            f"base-uri 'none'; frame-ancestors {frame_ancestors}")


def media_origin(url: str) -> str | None:
    """The media's origin for ``media-src``, rebuilt from its parts: the URL comes from the catalog (a source's
    metadata), and nothing in it may add to the policy."""
    parts = urlsplit(url)
    try:
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not _HOST.fullmatch(host):
        return None
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def _page(body: str, state, media_from: str | None = None, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status, headers={
        "Content-Security-Policy": content_security_policy(state.settings.embed_frame_ancestors, media_from),
        "Cross-Origin-Resource-Policy": "cross-origin", "Referrer-Policy": "strict-origin-when-cross-origin"})


@router.get("/embed", response_class=HTMLResponse,
            responses={**_HTML, 404: {"model": ErrorResponse, "content": {"text/html": {}},
                                      "description": "A `talk` the library lacks: a browser gets the page saying so"},
                       422: {"model": ErrorResponse}},
            summary="A search box and its results, as a page for an iframe (no scripts)")
def embed_search(
    state: State,
    request: Request,
    filters: Filters,
    q: Annotated[str, Query(max_length=2000, description="What to look for; empty shows only the box",
                            examples=["power capping"])] = "",
    limit: Annotated[int | None, Query(ge=1, le=100, description="Results to show (1-100)")] = None,
    offset: Offset = 0,
    group: Annotated[Group, Query(
        description="`talk`: one result per talk (its best moment), as the API's `group`")] = "none",
) -> HTMLResponse:
    response, notice = None, None
    page = limit or state.settings.search_limit
    with state.searcher.reading() as library:
        missing = no_such_talks(library, filters.talks)
    if missing and not wants_page(request):  # not a browser's frame: the one error shape, as the API answers it
        raise ApiError(404, missing)
    if not_utf8(request.scope["query_string"]):  # read leniently, it would search a "�"
        notice = f"Cannot search: {NOT_UTF8}."
    elif missing:  # the box would search nothing however asked: said in the frame (a 404), which stays framable
        notice = f"Cannot search: {missing}."
    elif q.strip():
        try:
            response = state.searcher.search(q, page, offset=offset, filters=filters or None, group=group)
        except QueryError as exc:
            notice = f"Cannot search: {exc}."
    # The box searches again with the same filters, limit and grouping: they ride along as hidden fields (a new
    # search starts at its first page, so the offset does not).
    hidden = [(k, v) for k, v in request.query_params.multi_items() if k in (*_FILTER_NAMES, "limit")]
    hidden += [("group", "talk")] if group == "talk" else []
    base = base_path(request)
    at_offset = [("offset", offset)] if offset else []
    # the same results on the search page: its own page size, so everything but the limit
    full_page = f"{base}/?" + urlencode([("q", q), *[(k, v) for k, v in hidden if k != "limit"], *at_offset])
    next_page = previous_page = None
    if response is not None:  # the search's other pages, in the frame, as the search page links its own
        this_search = f"{base}/embed?" + urlencode([("q", q), *hidden])
        if response.next_offset is not None and response.next_offset <= SEARCH_OFFSET_MAX:  # a page it would serve
            next_page = f"{this_search}&offset={response.next_offset}"
        if offset:  # past the last result ("No more"): back to the first page, not to an empty one before it
            before = 0 if not response.results else max(0, offset - page)
            previous_page = this_search + (f"&offset={before}" if before else "")
    quotes_note = quotes_dropped_note(q) if response is not None and response.quotes_dropped else None
    if response is not None and not response.words_found:  # the nearest only: said instead
        quotes_note = words_not_found_note(q)
    if response is not None and response.corrected_query is not None:  # what was searched instead: said first
        quotes_note = corrected_note(response.corrected_query) + (f" {quotes_note}" if quotes_note else "")
    return _page(render("embed_search.html", base, css=_css(), q=q, response=response, notice=notice, hidden=hidden,
                        full_page=full_page, next_page=next_page, previous_page=previous_page,
                        max_chars=state.settings.max_query_chars, quotes_note=quotes_note),
                 state, status=404 if missing else 200)


TIME_FORMS = (f"a finite number of seconds under {LONGEST_LINK_SECONDS:,} (`75`, `75.5`), a clock (`1:15`, `1:02:03`), "
              "units (`1m15s`) or a media fragment's time (`npt:75`, `75,90`: its start)")


def _start_seconds(value: str) -> float | None:
    """A talk page's ``t=`` (pasted into an embed's) in seconds, by the talk page's rule (``link_seconds``); None for
    what is no time at all, which the talk page starts at 0 unsaid and an embed refuses."""
    if seconds := link_seconds(value):
        return seconds
    # link_seconds' 0 is also what it makes of what it cannot read (or a time past any talk): a 0 however written
    said = value.strip().lower().removeprefix("npt:").split(",")[0]
    return 0.0 if not said or written_seconds(said) == 0 or re.fullmatch(r"0+(\.0*)?", said) else None


@router.get("/embed/talks/{talk_id}", response_class=HTMLResponse,
            responses={**_HTML, 404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
            summary="A talk's player starting at a moment, as a page for an iframe (no scripts)")
def embed_talk(
    state: State,
    request: Request,
    talk_id: str,
    t: Annotated[str, Query(
        max_length=64, description=f"Start here, as the talk page takes it: {TIME_FORMS}; anything else is refused",
        examples=["75", "1:15", "1m15s", "npt:75"])] = "",
) -> HTMLResponse:
    start = _start_seconds(t)
    if start is None:
        raise ApiError(422, f"t: not a time: {TIME_FORMS}".replace("`", ""))
    with state.searcher.reading() as library:
        talk = library.talk(talk_id)
        segments = library.segments(talk_id) if talk else []
    if talk is None:
        raise ApiError(404, f"There is no talk {talk_id!r} in this library.")
    t, past_end = moment_in_talk(talk, start)  # as the talk page: from the start, and that said
    base = base_path(request)
    detail = talk_detail(talk, base)
    said = [s for s in segments if s.end > t and s.start < t + SAID_SECONDS][:4]
    src = detail.player.src or ""
    # A media fragment starts the player at the moment; browsers seek there without any script.
    media = f"{src}#t={url_seconds(t)}" if src and t else src
    origin = media_origin(src)
    page = f"{base}/talks/{quote(talk_id, safe='')}" + (f"?t={url_seconds(t)}" if t else "")
    source = link_at(talk, t, served=True, base=base)
    if source.startswith(f"{base}/talks/"):  # no source to play (a local file moved away): our page cannot either
        source = None
    return _page(render("embed_talk.html", base, css=_css(), talk=detail, start=t, media=media, said=said,
                        source=source, page=page, past_end=past_end,
                        any_origin="*" in state.settings.cors_origins), state, origin)


_NOT_OURS = "the url is not a talk page, moment or search of this service"


def _iframe(src: str, title: str, width: int, height: int) -> str:
    attr = lambda value: html.escape(str(value), quote=True)  # noqa: E731
    return (f'<iframe src="{attr(src)}" width="{width}" height="{height}" title="{attr(title)}" style="border:0;max-width:100%" '
            f'loading="lazy" allow="fullscreen; picture-in-picture"></iframe>')


@router.get("/oembed", response_model=OEmbed,
            responses={404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
            summary="oEmbed for a talk page, a moment (/talks/{id}?t=…) or a search (/?q=…): an iframe to paste")
def oembed(
    state: State,
    request: Request,
    url: Annotated[str, Query(max_length=2000, description="A talk page, moment or search page of this service",
                              examples=["https://talks.example.org/talks/3f2a9c1d0b7e?t=75"])],
    maxwidth: Annotated[int | None, Query(ge=1, le=10_000, description="The widest the embed may be")] = None,
    maxheight: Annotated[int | None, Query(ge=1, le=10_000, description="The tallest the embed may be")] = None,
    # oEmbed suggests 501 for other formats; this service keeps 5xx for its own failures, so: 422.
    format: Annotated[Literal["json"], Query(description="Only `json` is offered")] = "json",
) -> OEmbed:
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. "http://[::1/…": not a URL at all, let alone one of ours
        raise ApiError(404, _NOT_OURS) from None
    query = parse_qs(parts.query)
    base = site_url(request)
    # A URL of this service, as its pages give it, starts with root. Compared decoded: /vortr%C3%A4ge, its
    # lower-case escapes and /vorträge (as an address bar shows it) are one path.
    root, own = unquote(base_path(request)), unquote(parts.path)
    own = own.removeprefix(root) if root and (own == root or own.startswith(root + "/")) else own
    path = own.rstrip("/").removeprefix("/embed" if own.startswith("/embed/") else "")
    if path.startswith("/talks/") and path.count("/") == 2:
        talk_id = path.removeprefix("/talks/")
        with state.searcher.reading() as library:
            talk = library.talk(talk_id)
        if talk is None:
            raise ApiError(404, f"no talk {talk_id!r} at {url!r}")
        # the moment as the talk page reads it: its ?t= (the last, as a request reads a repeated one), else #t=
        moment = query.get("t") or parse_qs(parts.fragment).get("t") or [""]
        # one past the talk's end: the talk's iframe, as the talk page's discovery link is
        start, _ = moment_in_talk(talk, round(link_seconds(moment[-1]), 2))
        src = f"{base}/embed/talks/{quote(talk_id, safe='')}" + (f"?t={url_seconds(start)}" if start else "")
        title, width, height = talk.title, 640, 420
    elif path in ("", "/embed") and query.get("q", [""])[-1].strip():  # the last q, as the search page reads it
        # the search's bytes, escaped in the url or escaped twice (in the url's own query), must be UTF-8
        if not_utf8(request.scope["query_string"], "url") or not_utf8(parts.query.encode()):
            raise ApiError(422, NOT_UTF8, "invalid_query")
        keep = [(k, v) for k, values in query.items() if k in ("q", *_FILTER_NAMES) for v in values]
        if query.get("group", [""])[-1] == "talk":  # one result per talk, as the search page reads its group
            keep.append(("group", "talk"))
        # what the embed would refuse is refused here too (a 422, or a 404 for a talk the library lacks), not an iframe
        talks = _embed_filters(query).talks
        with state.searcher.reading() as library:
            if missing := no_such_talks(library, talks):  # a search the embed would answer with a 404
                raise ApiError(404, missing)
        src = f"{base}/embed?{urlencode(keep)}"
        title, width, height = f"talksearch: {query['q'][-1].strip()}", 640, 480
    else:
        raise ApiError(404, _NOT_OURS)
    width, height = min(width, maxwidth or width), min(height, maxheight or height)
    return OEmbed(title=title, provider_url=f"{base}/", html=_iframe(src, title, width, height), width=width,
                  height=height)


# The embed's own filter checks (its ``Filters`` dependency), callable outside a request.
_check_filters = validate_call(talk_filter)


def _embed_filters(query: dict[str, list[str]]) -> TalkFilter:
    """Refuse the filters ``/embed`` would refuse, as it words it: the dates are single values (the last wins, as in
    a request), the others lists."""
    args = {name: values[-1] if name.startswith("published_") else values
            for name, values in query.items() if name in _FILTER_NAMES}
    try:
        return _check_filters(**args)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


