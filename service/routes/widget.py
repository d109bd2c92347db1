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
import html
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

router = APIRouter()

SCRIPT = Path(__file__).resolve().parent.parent / "static" / "widget.js"
_cache: dict[str, object] = {}


def _script() -> tuple[bytes, bytes, str]:
    """widget.js, its gzip and its ETag; read again only when the file changes (edits show without a restart)."""
    mtime = SCRIPT.stat().st_mtime_ns
    if _cache.get("mtime") != mtime:
        body = SCRIPT.read_bytes()
        _cache.update(mtime=mtime, body=body, gz=gzip.compress(body, 9, mtime=0),
                      etag=hashlib.sha256(body).hexdigest()[:20])
    return _cache["body"], _cache["gz"], _cache["etag"]  # type: ignore[return-value]


@router.api_route("/widget.js", methods=["GET", "HEAD"], name="widget_js", include_in_schema=False)
def widget_js(request: Request) -> Response:
    body, gz, tag = _script()
    use_gzip = "gzip" in request.headers.get("accept-encoding", "").lower()
    etag = f'"{tag}{"-gz" if use_gzip else ""}"'  # each encoding is its own representation
    headers = {
        "Cache-Control": "public, max-age=3600",
        "ETag": etag,
        "Vary": "Accept-Encoding",
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
        "X-Content-Type-Options": "nosniff",
    }
    if etag in (t.strip() for t in request.headers.get("if-none-match", "").split(",")):
        return Response(status_code=304, headers=headers)
    if use_gzip:
        headers["Content-Encoding"] = "gzip"
    return Response(gz if use_gzip else body, media_type="text/javascript; charset=utf-8", headers=headers)


_PAGE_CSS = """
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;background:#f6f7f9}
main{max-width:46rem;margin:0 auto;padding:1.5rem 1rem 4rem}
h1{font-size:1.6rem;margin:.2em 0 .4em}
h2{font-size:1.15rem;margin-top:2em}
pre{background:#fff;border:1px solid #d0d4da;border-radius:8px;padding:.8em 1em;overflow-x:auto;font-size:.88rem}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace}
table{border-collapse:collapse;width:100%;font-size:.92rem}
td,th{text-align:left;vertical-align:top;padding:.35em .5em;border-top:1px solid #d0d4da}
.live{margin:1rem 0}
@media (prefers-color-scheme:dark){body{color:#e8eaed;background:#0f1115}pre{background:#17191e;border-color:#3a3f48}
td,th{border-color:#3a3f48}a{color:#8ab4f8}}
"""

_ATTRIBUTES = [
    ("api", "Where the talk search service is. Defaults to the address widget.js was loaded from."),
    ("placeholder", "Text shown in the empty search box."),
    ("limit", "How many results to show (1-100)."),
    ("channel, event, speaker", "Search only the talks of one channel, event or speaker."),
    ("theme", "light or dark: fixes the colours; without it the widget follows the visitor's system setting."),
]
# The widget's CSS custom properties (see STYLE in widget.js) and what each one colours.
_PROPERTIES = [
    ("--ts-font", "inherit", "font shorthand; the page's font by default"),
    ("--ts-fg", "#1f2328", "text"),
    ("--ts-bg", "#fff", "background of the box and the player"),
    ("--ts-muted", "#5f6670", "speakers, event, status lines"),
    ("--ts-border", "#d0d4da", "borders and separators"),
    ("--ts-accent", "#1a5fd0", "focus ring, times, links, the chosen result"),
    ("--ts-selected-bg", "#e8f0fe", "the chosen result's background"),
    ("--ts-mark-bg", "#fff0a8", "matched words"),
    ("--ts-mark-fg", "inherit", "matched words' text"),
    ("--ts-error", "#c5221f", "error messages"),
    ("--ts-radius", "8px", "corner radius"),
]


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@router.get("/widget", response_class=HTMLResponse, include_in_schema=False)
def widget_page(request: Request) -> HTMLResponse:
    script = str(request.url_for("widget_js"))
    api = str(request.base_url).rstrip("/")
    embed = f'<script src="{script}" defer></script>\n<talk-search api="{api}"></talk-search>'
    iframe = (f'<iframe src="{api}/embed" width="640" height="480" title="Search the talks" '
              f'style="border:0" loading="lazy"></iframe>')
    moment = f'<iframe src="{api}/embed/talks/TALK_ID?t=75" width="640" height="420" title="The talk" style="border:0"></iframe>'
    esc = html.escape
    props = "\n".join(f"  {name}: {default};".ljust(34) + f"/* {what} */" for name, default, what in _PROPERTIES)
    rows = "".join(f"<tr><th><code>{esc(n)}</code></th><td>{esc(d)}</td></tr>" for n, d in _ATTRIBUTES)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Search widget · talksearch</title><link rel="icon" href="data:,"><style>{_PAGE_CSS}</style></head>
<body><main>
<h1>Put talk search on your site</h1>
<p>Visitors search what was said in the talks and play a talk right at that moment, without leaving your page.
Paste these two lines where the search box should appear:</p>
<pre><code>{esc(embed)}</code></pre>
<p>Two ways to embed: this script, or, where your site allows no scripts (many wikis, CMSs and course
pages strip them), an <code>&lt;iframe&gt;</code> (below).</p>
<h2>Try it</h2>
<div class="live"><talk-search api="{esc(api, quote=True)}"></talk-search></div>
<p>Keyboard: <kbd>/</kbd> or <kbd>Ctrl</kbd>/<kbd>⌘</kbd>+<kbd>K</kbd> jumps to the search box, the arrow keys
choose a result, <kbd>Enter</kbd> plays it and <kbd>Esc</kbd> closes the results, then the player.</p>
<h2>Options</h2>
<table>{rows}</table>
<h2>Colours and fonts</h2>
<p>The widget keeps its own styles apart from your page's. Set these CSS custom properties on
<code>talk-search</code> (or any element around it) to match your site:</p>
<pre><code>talk-search {{
{esc(props)}
}}</code></pre>
<p>The values shown are the light defaults; the widget has dark ones too. A colour you set is used in both
modes, so either set your dark colours inside <code>@media (prefers-color-scheme: dark)</code> or fix the mode
with the <code>theme</code> attribute.</p>
<h2>Without scripts: an iframe</h2>
<p>A search box and its results, in a frame that loads nothing from anyone else:</p>
<pre><code>{esc(iframe)}</code></pre>
<p>One talk, starting at a moment (<code>t</code> in seconds):</p>
<pre><code>{esc(moment)}</code></pre>
<p>Sites that understand oEmbed make the iframe themselves from a pasted talk link: they find
<code>{esc(api)}/oembed?url=…</code> on every talk page. Searches add <code>channel</code>, <code>event</code> or
<code>speaker</code> to the <code>/embed</code> address to search only those talks.</p>
<h2>Content-Security-Policy</h2>
<p>If your site sends one, allow <code>{esc(api)}</code> in <code>script-src</code> and <code>connect-src</code>,
the talks' media hosts in <code>media-src</code>, and, for YouTube talks, <code>https://www.youtube.com</code> in
<code>script-src</code> and <code>frame-src</code>.</p>
</main>
<script src="{esc(script, quote=True)}" defer></script>
</body></html>"""
    # The page follows its own advice: a strict CSP under which the live widget must (and does) work.
    csp = ("default-src 'none'; script-src 'self' https://www.youtube.com; connect-src 'self'; media-src *; "
           "frame-src https://www.youtube.com https://www.youtube-nocookie.com; img-src 'self' data:; "
           f"style-src {_csp_hash(_PAGE_CSS)}; base-uri 'none'; form-action 'none'")
    return HTMLResponse(page, headers={"Content-Security-Policy": csp})
