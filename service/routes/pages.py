"""The HTML pages: ``/`` (search) and ``/talks/{id}`` (player and transcript), plus ``/results``, the
search page's results as an HTML fragment for search-as-you-type."""

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from talksearch.language_codes import filter_languages, language_label
from talksearch.library import StoredTalk, TalkFilter, length_measured
from talksearch.search.searcher import NotFound, QueryError, corrected_note, quotes_dropped_note, words_not_found_note
from talksearch.service.errors import ApiError
from talksearch.service.feeds import talks_feed_title
from talksearch.service.params import (NOT_A_DATE, NOT_UTF8, SEARCH_OFFSET_MAX, TALKS_OFFSET_MAX, calendar_date,
                                      filter_values, not_utf8)
from talksearch.service.rendering import base_path, paragraphs, render, site_url
from talksearch.service.routing import ReadRoute
from talksearch.service.state import State
from talksearch.service.talk_detail import page_head, player, talk_detail
from talksearch.text import fold
from talksearch.timecode import link_seconds, url_seconds

router = APIRouter(include_in_schema=False, route_class=ReadRoute)

_MENUS = (("channel", "Channel", "channels"), ("event", "Event", "events"), ("speaker", "Speaker", "speakers"),
          ("language", "Language", "languages"))
_FILTERS = (*(name for name, _, _ in _MENUS), "published_after", "published_before")  # what the form holds, q aside


def search_page_query(query: list[tuple[str, str]]) -> str:
    """The search page's query for a search the API was asked (a feed's page, its ``rel="alternate"``): what the
    page's form can hold, ``q``, the talks searched within (``talk``, which the form carries on) and the filters,
    every value of a repeated one, so that the page searches what the feed does; ``limit`` is the service's own."""
    return urlencode([(name, value) for name, value in query if name in ("q", "talk") or name in _FILTERS])


def _form(request: Request) -> dict:
    params = request.query_params
    notice = None
    try:  # the talks searched within ("search within this talk"), every value, as the API reads them
        within = list(dict.fromkeys(filter_values("talk", params.getlist("talk"))))
    except ApiError as exc:
        within, notice = [], f"Cannot filter: {exc.message}."
    selected: dict[str, list[str] | str] = {}
    for name, _, _ in _MENUS:  # every value of a repeated filter, any of them, as the API reads them
        try:
            selected[name] = filter_values(name, params.getlist(name))
        except ApiError as exc:
            selected[name], notice = [], f"Cannot filter: {exc.message}."
    for name in ("published_after", "published_before"):  # read as the API reads it (calendar_date)
        try:
            selected[name] = calendar_date(value).isoformat() if (value := params.get(name)) else ""
        except ValueError:  # not searched by (the date field is empty), and said, as for the menus' errors
            selected[name], notice = "", f"Cannot filter: {name}: {NOT_A_DATE}."
    if selected["language"]:  # read as the API reads it: de-DE is de (the menu's code); "english" gets a notice
        try:
            selected["language"] = filter_languages(selected["language"])
        except ValueError as exc:  # not searched: the menu selects nothing, as for the other menus' errors
            selected["language"], notice = [], f"Cannot filter by language: {exc}."
    if not_utf8(request.scope["query_string"]):  # read leniently, it would search a "�"
        notice = f"Cannot search: {NOT_UTF8}."
    try:
        offset = max(int(params.get("offset", 0)), 0)
    except ValueError:
        offset = 0
    q = params.get("q", "")
    # the API's bounds: a search's pages stop at its own (deep pages are costly); the talk list's reach any library
    offset = min(offset, SEARCH_OFFSET_MAX if q.strip() else TALKS_OFFSET_MAX)
    return {"q": q, "group": "talk" if params.get("group") == "talk" else "none",
            "offset": offset, "selected": selected, "within": within, "notice": notice}


def _scope(state, within: list[str]) -> list[tuple[str, StoredTalk | None]]:
    """The talks a search is within, (id, talk), in the order asked: None for an id the library has no talk for
    (removed since the link was made, or mistyped), which the page names rather than dropping."""
    if not within:
        return []
    with state.searcher.reading() as library:
        talks = library.talks_by_id(within)
    return [(talk_id, talks.get(talk_id)) for talk_id in within]


def _no_such_talks(missing: list[str]) -> str:
    named = ", ".join(repr(talk_id) for talk_id in missing)
    if len(missing) == 1:
        return f"Cannot search within talk {named}: there is no such talk in this library."
    return f"Cannot search within talks {named}: there are no such talks in this library."


def _results_context(state, form: dict, base: str) -> dict:
    s = form["selected"]
    scope = _scope(state, form["within"])
    filters = TalkFilter(  # within the talks asked for that the library has (the page names the others)
        talks=[talk_id for talk_id, talk in scope if talk is not None], channels=s["channel"], events=s["event"],
        speakers=s["speaker"], languages=s["language"], published_after=s["published_after"] or None,
        published_before=s["published_before"] or None,
    )
    reversed_dates = filters.reversed_dates()
    titles = [talk.title for _, talk in scope if talk is not None]
    # none of the talks asked for is in the library: said, rather than a search of no talk ("Nothing found")
    missing = [talk_id for talk_id, talk in scope if talk is None]
    notice = (form["notice"] or (f"Cannot filter: {reversed_dates}." if reversed_dates else None)
              or (_no_such_talks(missing) if missing and len(missing) == len(scope) else None))
    # each value of the Filters' menus and dates counts, as the page's script counts the form's (search.js); the
    # talks searched within are said beside the results (scope), not in the Filters
    active_filters = sum(len(v) if isinstance(v, list) else bool(v) for v in s.values())
    menus_chosen = {k: v for k, v in s.items() if v}  # links repeat a filter's every value (doseq)
    group = {"group": "talk"} if form["group"] == "talk" else {}
    context = {"q": form["q"], "group": form["group"], "selected": s, "active_filters": active_filters,
               "response": None, "talks": None, "notice": notice, "players": {}, "feed_query": "",
               "quotes_note": None, "previous_query": None, "within": form["within"], "scope": scope,
               # talks searched within that share a title ("chap, chap"): told apart as results are, by their details
               "alike_titles": {title for title in titles if titles.count(title) > 1},
               # the same search in every talk: the words and the Filters kept, from the first page
               "all_talks_query": urlencode({**({"q": form["q"]} if form["q"].strip() else {}), **menus_chosen,
                                             **group}, doseq=True)}
    if notice:
        return context
    chosen = {**({"talk": form["within"]} if form["within"] else {}), **menus_chosen}
    if form["q"].strip():
        try:
            response = state.searcher.search(form["q"], state.settings.search_limit, offset=form["offset"],
                                              filters=filters or None, group=form["group"])
        except QueryError as exc:
            context["notice"] = f"Cannot search: {exc}."
            return context
        except NotFound:  # the talks searched within were removed since the scope was read
            context["notice"] = _no_such_talks(form["within"])
            return context
        with state.searcher.reading() as library:
            talks = library.talks_by_id(r.talk.id for r in response.results)
        # a talk removed since the search ranked it (a DELETE meanwhile) has no page nor recording to show
        response = response.model_copy(update={"results": [r for r in response.results if r.talk.id in talks]})
        context["players"] = {talk_id: player(talk, base) for talk_id, talk in talks.items()}
        context["response"] = response
        if response.corrected_query is not None:  # a typing slip searched as the word it slipped from: said
            context["corrected_note"] = corrected_note(response.corrected_query)
        if not response.words_found:  # no talk says a word of it: the results are only the nearest, said so
            context["words_note"] = words_not_found_note(form["q"])
        elif response.quotes_dropped:  # the results lack the phrases the user quoted: say so, not a silent swap
            context["quotes_note"] = quotes_dropped_note(form["q"])
        if response.next_offset is not None and response.next_offset <= SEARCH_OFFSET_MAX:  # a page it would serve
            context["next_query"] = urlencode({"q": form["q"], **chosen, **group, "offset": response.next_offset},
                                              doseq=True)
        # a page past the last moment ("No more"): how many moments there are is not counted (each page ranks every
        # moment before it), so the way back is to the first page, not ten clicks on empty ones
        past_the_end = form["offset"] > 0 and not response.results
        context["previous_query"] = _previous_page({"q": form["q"], **chosen, **group}, form["offset"],
                                                   state.settings.search_limit, 0 if past_the_end else None)
        context["previous_text"] = "First results" if past_the_end else "Previous results"
        # The same search as a feed: the filters' names are the API's, and a feed has no pages or grouping.
        context["feed_query"] = urlencode({"q": form["q"], **chosen}, doseq=True)
    else:
        with state.searcher.reading() as library:
            context["talks"] = library.talks(state.settings.talks_limit, form["offset"], filters)
            context["total"] = library.count_talks(filters)
        context["offset"] = form["offset"]
        # The talk list as a feed (its discovery link): the filters kept, and named in its title.
        context["talks_feed"] = {"query": urlencode(chosen, doseq=True), "title": talks_feed_title(filters)}
        shown = form["offset"] + len(context["talks"])
        if shown < context["total"]:  # the library is longer than a page: the next page of talks, filters kept
            context["next_query"] = urlencode({**chosen, "offset": shown}, doseq=True)
        # past the last talk: back to the last page of them, not to an empty one before it
        page = state.settings.talks_limit
        last_page = max(0, context["total"] - 1) // page * page
        context["previous_query"] = _previous_page(chosen, form["offset"], page,
                                                   last_page if form["offset"] >= context["total"] else None)
    return context


def _previous_page(query: dict, offset: int, page: int, past_the_end: int | None = None) -> str | None:
    """The page before ``offset`` (``page`` long), or None on the first: a page reached by a link leads back
    without ten clicks on "More". A page past the last one ("No more") leads to ``past_the_end`` (the last page's
    offset), not to the empty page before it."""
    if not offset:
        return None
    before = max(0, offset - page) if past_the_end is None else past_the_end
    return urlencode({**query, **({"offset": before} if before else {})}, doseq=True)


def _options(name: str, values: list[str], chosen: list[str]) -> list[tuple[str, str, bool]]:
    """A filter menu's options, (value, text, selected): a language reads as its name ("German (de)"), its value
    the code. A chosen value no talk has ("it", a speaker since removed) is an option too, selected, so that the
    form shows the filter the page searched with, and sends it again rather than dropping it. A chosen value is
    the option its filter matches, case and accents aside as the catalog compares them (``TalkFilter``; the
    facets list each name once): "josé garcía" selects "Jose Garcia", one option, and no "no talks" one too."""
    def text(value: str) -> str:
        return language_label(value) if name == "language" else value

    chosen_keys, known = ({fold(value) for value in some} for some in (chosen, values))
    offered = [(value, text(value), fold(value) in chosen_keys) for value in values]
    missing: dict[str, tuple[str, str, bool]] = {}  # a name no talk has, chosen in two spellings: the first
    for value in chosen:
        if fold(value) not in known:
            missing.setdefault(fold(value), (value, f"{text(value)} – no talks", True))
    return offered + list(missing.values())


Menus = list[tuple[str, str, list[tuple[str, str, bool]]]]


def _menus(state, chosen: dict) -> Menus:
    """The filter menus, (name, label, options): those with an option, the ``chosen`` ones selected."""
    with state.searcher.reading() as library:
        facets = library.facets()
    return [(name, label, options) for name, label, key in _MENUS
            if (options := _options(name, facets[key], chosen[name]))]


def _reading(form: dict, menus: Menus) -> dict:
    """How the server read the page's query, in the form's terms: the text searched (the last ``q``), each menu's
    chosen options (value, text) as the menus hold them ("tomasz wierzbicki" is "Tomasz Wierzbicki", en-US is
    en), the dates as a date field holds them, the talks searched within (``talk``, the form's hidden fields), and
    ``query``, the URL that says the same with nothing else. search.js sets the form from it after Back or Forward,
    so the form shows what the results were searched by."""
    s = form["selected"]
    chosen = {name: [(value, text) for value, text, selected in options if selected] for name, _, options in menus}
    dates = {name: s[name] for name in ("published_after", "published_before")}
    query = [("q", form["q"])] if form["q"].strip() else []
    query += [("talk", talk_id) for talk_id in form["within"]]
    query += [(name, value) for name, options in chosen.items() for value, _ in options]
    query += [(name, value) for name, value in dates.items() if value]
    if form["group"] == "talk":
        query.append(("group", "talk"))
    if form["offset"]:
        query.append(("offset", str(form["offset"])))
    return {"q": form["q"], "group": "talk" if form["group"] == "talk" else "", "menus": chosen, **dates,
            "talk": form["within"], "query": urlencode(query)}


def _title(context: dict) -> str:
    """The search page's window title: the words searched, and which page a later one is ("moments 11–20"), as its
    count line says. In the results' reading too, for search.js to set after Back or Forward as a load would."""
    response, talks, offset = context["response"], context["talks"], context.get("offset")
    parts = [context["q"]] if context["q"] else []
    if response and response.offset and response.results:
        kind = "talks" if response.group == "talk" else "moments"
        parts.append(f"{kind} {response.offset + 1}–{response.offset + len(response.results)}")
    elif talks and offset:
        parts.append(f"talks {offset + 1}–{offset + len(talks)}")
    return " – ".join([*parts, "talksearch"])


@router.get("/", response_class=HTMLResponse)
def search_page(state: State, request: Request) -> HTMLResponse:
    form = _form(request)
    menus = _menus(state, form["selected"])
    base = base_path(request)
    context = _results_context(state, form, base)
    return HTMLResponse(render("search.html", base, menus=menus, max_chars=state.settings.max_query_chars,
                               noindex=not state.settings.crawlable,
                               reading={**_reading(form, menus), "title": _title(context)}, **context))


@router.get("/results", response_class=HTMLResponse)
def results_fragment(state: State, request: Request) -> HTMLResponse:
    base = base_path(request)
    form = _form(request)
    # the library's names read only where a menu filter is chosen: a keystroke's search mostly has none
    menus = _menus(state, form["selected"]) if any(form["selected"][name] for name, _, _ in _MENUS) else []
    context = _results_context(state, form, base)
    return HTMLResponse(render("results.html", base, reading={**_reading(form, menus), "title": _title(context)},
                               **context))


@router.get("/talks")
def talk_list(request: Request) -> RedirectResponse:
    """``/talks``, a talk page's address cut short: the talks are listed by the search page without a query."""
    return RedirectResponse(base_path(request) + "/", status_code=307)


def moment_in_talk(talk: StoredTalk, start: float) -> tuple[float, float | None]:
    """Where a link's moment plays the talk from, and the moment asked for where it is past the talk's end (a typo,
    another talk's time): such a link plays the talk from its start, and its page says so. The talk page's rule, and
    its embed's and oEmbed's. By a measured length only: a talk indexed from captions alone may go on past where its
    captions end, or past what its feed rounded its length down to (``length_measured``)."""
    if talk.duration and length_measured(talk.transcript_source, talk.media_url) and start > talk.duration:
        return 0.0, start
    return start, None


@router.get("/talks/{talk_id}", response_class=HTMLResponse)
def talk_page(state: State, talk_id: str, request: Request) -> HTMLResponse:
    with state.searcher.reading() as library:
        talk = library.talk(talk_id)
        segments = library.segments(talk_id) if talk else []
    if talk is None:
        raise ApiError(404, f"There is no talk {talk_id!r} in this library.")
    start, past_end = moment_in_talk(talk, link_seconds(request.query_params.get("t", "")))
    current = next((s for s in reversed(segments) if s.start <= start + 0.05), None) if start else None
    # oEmbed discovery: consumers (CMSs, wikis) turn a pasted talk link into the /embed iframe.
    oembed = site_url(request) + "/oembed?" + urlencode({"url": str(request.url.replace(query=f"t={url_seconds(start)}" if start else ""))})
    base = base_path(request)
    detail = talk_detail(talk, base)
    return HTMLResponse(render("talk.html", base, talk=detail, start=start, current=current, past_end=past_end,
                               oembed=oembed, paragraphs=paragraphs(segments),
                               max_chars=state.settings.max_query_chars, noindex=not state.settings.crawlable,
                               head=page_head(detail, segments, start, site_url(request))))
