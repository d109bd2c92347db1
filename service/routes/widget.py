"""The embeddable search widget: ``GET /widget.js`` (the script sites embed) and ``GET /widget`` (how to embed it).

``/widget.js`` is loaded by other sites' pages, so it is sent with CORS and CORP headers (it works with a
``crossorigin``/``integrity`` script tag and on pages that set COEP), a short cache lifetime with an ETag
(the embed URL never changes, so a new release must reach browsers within the hour), and gzipped when
the browser accepts it.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from talksearch.service import rendering
from talksearch.service.encoding import accepts_gzip
from talksearch.service.routing import ReadRoute
from talksearch.service.state import State

router = APIRouter(route_class=ReadRoute)

SCRIPT = Path(__file__).resolve().parent.parent / "static" / "widget.js"
# widget.js cuts a longer paste to the API's default max_query_chars; the served copy carries this service's own.
_MAX_CHARS = re.compile(rb"const MAX_CHARS = \d+;")
# The last script made: (key, body, gzip, ETag), one tuple replaced whole, so that a request made while another
# remakes it takes one script's body and ETag together (read as three entries of a dict, they could be two scripts')
_made: tuple[tuple[int, int], bytes, bytes, str] | None = None


def _script(max_chars: int) -> tuple[bytes, bytes, str]:
    """widget.js with this service's query limit, its gzip and its ETag; made again only when the file or the
    limit changes (edits show without a restart)."""
    global _made
    key = (SCRIPT.stat().st_mtime_ns, max_chars)
    made = _made
    if made is None or made[0] != key:
        body = _MAX_CHARS.sub(b"const MAX_CHARS = %d;" % max_chars, SCRIPT.read_bytes(), count=1)
        made = _made = (key, body, gzip.compress(body, 9, mtime=0), hashlib.sha256(body).hexdigest()[:20])
    return made[1:]


@router.api_route("/widget.js", methods=["GET", "HEAD"], name="widget_js", include_in_schema=False)
def widget_js(request: Request, state: State) -> Response:
    body, gz, tag = _script(state.settings.max_query_chars)
    use_gzip = accepts_gzip(request.headers.get("accept-encoding", ""))
    etag = f'"{tag}{"-gz" if use_gzip else ""}"'  # each encoding is its own representation
    headers = {
        "Cache-Control": "public, max-age=3600",
        "ETag": etag,
        "Vary": "Accept-Encoding",
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
        "X-Content-Type-Options": "nosniff",
    }
    # If-None-Match compares weakly (RFC 9110 13.1.2: W/"x" matches "x"), and "*" matches any representation.
    wanted = {t.strip().removeprefix("W/") for t in request.headers.get("if-none-match", "").split(",")}
    if etag in wanted or "*" in wanted:
        return Response(status_code=304, headers=headers)
    if use_gzip:
        headers["Content-Encoding"] = "gzip"
    return Response(gz if use_gzip else body, media_type="text/javascript; charset=utf-8", headers=headers)


_ATTRIBUTES = [
    ("api", "Where the talk search service is. Defaults to the address widget.js was loaded from."),
    ("placeholder", "Text shown in the empty search box."),
    ("limit", "How many results to show (1-100)."),
    ("channel, event, speaker", "Search only the talks of one channel, event or speaker."),
    ("language", "Search only the talks in one spoken language (a code such as en or de)."),
    ("talk", "Search only within these talks: their ids, separated by spaces (an id the library lacks is said)."),
    ("theme", "light or dark: fixes the colours; without it the widget follows the visitor's system setting."),
    ("shortcuts", "off: / and Ctrl/⌘+K no longer jump to this search box (for a site that uses those keys itself)."),
]
# The widget's CSS custom properties and what each one colours; their light defaults are read from widget.js
# (STYLE's :host rule), the one place they are set.
_PROPERTIES = [
    ("--ts-font", "font shorthand; the page's font by default"),
    ("--ts-fg", "text"),
    ("--ts-bg", "background of the box and the player"),
    ("--ts-muted", "speakers, event, status lines"),
    ("--ts-border", "borders and separators"),
    ("--ts-accent", "focus ring, times, links, the chosen result"),
    ("--ts-selected-bg", "the chosen result's background"),
    ("--ts-mark-bg", "matched words"),
    ("--ts-mark-fg", "matched words' text"),
    ("--ts-error", "error messages"),
    ("--ts-radius", "corner radius"),
]
_DEFAULT = re.compile(r"var\((--ts-[a-z-]+),([^)]*)\)")


def light_defaults() -> dict[str, str]:
    """Each --ts-* property's light default, as widget.js sets it (the first ``var()`` after ``:host{``)."""
    text = SCRIPT.read_text(encoding="utf-8")
    defaults: dict[str, str] = {}
    for name, value in _DEFAULT.findall(text[text.index(":host{"):]):
        defaults.setdefault(name, value)
    return defaults


def _page_css() -> str:
    return rendering.environment().loader.get_source(rendering.environment(), "widget.css")[0]


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@router.get("/widget", response_class=HTMLResponse, include_in_schema=False)
def widget_page(request: Request) -> HTMLResponse:
    script = str(request.url_for("widget_js"))
    api = rendering.site_url(request)
    embed = f'<script src="{script}" defer></script>\n<talk-search api="{api}"></talk-search>'
    # max-width: on a page narrower than 640px (a phone) the frame takes the page's width, not 640px that widened
    # the page; its height stays, which holds the search's results or the talk's player and the words said then.
    iframe = (f'<iframe src="{api}/embed" width="640" height="480" title="Search the talks" '
              f'style="border:0;max-width:100%" loading="lazy"></iframe>')
    moment = (f'<iframe src="{api}/embed/talks/TALK_ID?t=75" width="640" height="420" title="The talk" '
              f'style="border:0;max-width:100%"></iframe>')
    defaults = light_defaults()
    properties = "\n".join(f"  {name}: {defaults[name]};".ljust(34) + f"/* {what} */" for name, what in _PROPERTIES)
    css = _page_css()
    page = rendering.render("widget.html", css=Markup(css), embed=embed, api=api, script=script,
                            attributes=_ATTRIBUTES, properties=properties,
                            iframe=iframe, moment=moment)
    # The page follows its own advice: a strict CSP under which the live widget must (and does) work.
    csp = ("default-src 'none'; script-src 'self' https://www.youtube.com; connect-src 'self'; media-src *; "
           "frame-src https://www.youtube.com https://www.youtube-nocookie.com; img-src 'self' data:; "
           f"style-src {_csp_hash(css)}; base-uri 'none'; form-action 'none'; frame-ancestors 'self'")
    return HTMLResponse(page, headers={"Content-Security-Policy": csp})
