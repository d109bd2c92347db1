"""The embeddable widget in real headless Chromium, against the real API over a real library.

Three origins, as on the web: the media server (the feed's host, from conftest), the API (uvicorn on
its own port) and the host page that embeds the widget with the two documented lines (a third port).
The library is a copy of the session's indexed test talks in which talk t02 is made hostile (HTML in
its title and passages, to show nothing from the API is ever parsed as HTML) and a YouTube talk.

The one stand-in: this machine is offline, so requests to www.youtube.com are answered by a small
stand-in for the IFrame Player API (the documented YT.Player / onYouTubeIframeAPIReady surface) that
records how the widget drives it. Everything else is real.
"""

from __future__ import annotations

import gzip
import html
import http.server
import re
import shutil
import socket
import sqlite3
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from talksearch.settings import Settings
from talksearch.timecode import clock
from tests.test_languages import translated_site  # noqa: F401 (a fixture: a German talk served with its English)

playwright_sync = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent
WIDGET = ROOT / "service" / "static" / "widget.js"
HOSTILE_TITLE = '<img src=x onerror="window.__pwned=1">'
HOSTILE_TEXT = '<b>bold</b> <img src=x onerror="window.__pwned=2"> &amp; '
YOUTUBE_ID = "aBcDeFgHiJk"
YOUTUBE_PAGE = f"https://www.youtube.com/watch?v={YOUTUBE_ID}"
# The IFrame Player API's surface the widget and the talk page use: YT.Player(element, {host, videoId, playerVars,
# events}), onReady, seekTo, playVideo, getPlayerState, getCurrentTime, getIframe, destroy, and the global
# onYouTubeIframeAPIReady callback.
YOUTUBE_STAND_IN = """
window.YT = { Player: function (element, options) {
  const frame = document.createElement('iframe');
  frame.title = 'YouTube video player';
  element.replaceWith(frame);
  window.__yt = { videoId: options.videoId, host: options.host || null, start: options.playerVars.start, seeks: [],
                  playing: false };
  this.seekTo = (seconds) => window.__yt.seeks.push(seconds);
  this.playVideo = () => { window.__yt.playing = true; };
  this.getPlayerState = () => (window.__yt.playing ? 1 : -1);
  this.getCurrentTime = () => (window.__yt.seeks.length ? window.__yt.seeks[window.__yt.seeks.length - 1] : 0);
  this.getIframe = () => frame;
  this.destroy = () => frame.remove();
  setTimeout(() => options.events.onReady({ target: this }));
} };
window.onYouTubeIframeAPIReady();
"""
TIMEOUT_MS = 60_000  # generous: the machine is shared; nothing here asserts on durations

pytestmark = [pytest.mark.browser, pytest.mark.models,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]


# --- servers ----------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HostSite:
    """The third-party site: serves pages (path -> HTML) set by the tests from its own origin."""

    def __init__(self):
        pages = self.pages = {}
        extra = self.headers = {}  # path -> the page's own response headers (a COEP, say)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                path = self.path.split("?")[0]
                body = pages.get(path)
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                for name, value in extra.get(path, {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write((body or "not found").encode())

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def page(self, path: str, embed: str, title: str = "Example Conference", headers: dict | None = None) -> str:
        # What a conference site might look like, with the two lines pasted into it.
        self.headers[path] = headers or {}
        self.pages[path] = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><link rel="icon" href="data:,">
<title>{title}</title>
<style>body{{font:16px/1.5 Georgia,serif;margin:0;padding:24px;background:#fbfaf7;color:#222}}
@media (prefers-color-scheme:dark){{body{{background:#101114;color:#ddd}}}}
/* a host stylesheet that would wreck the widget if styles leaked into it */
input{{border:5px dashed red!important;background:yellow}} li{{font-size:40px}} mark{{background:red}}</style></head>
<body><h1>{title}: talks archive</h1><p>Search everything our speakers said.</p>
{embed}
</body></html>"""
        return self.base + path

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Api:
    """The real service under uvicorn, in a thread, on a loopback port of its own."""

    def __init__(self, library: Path):
        import uvicorn

        from talksearch.service.app import create_app

        self.base = f"http://127.0.0.1:{_free_port()}"
        port = int(self.base.rsplit(":", 1)[1])
        config = uvicorn.Config(create_app(Settings(library=library, threads=1)), host="127.0.0.1", port=port,
                                log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 120  # model loading; a wait, not an assertion on speed
        while not self.server.started:
            assert self.thread.is_alive(), "uvicorn exited during start-up"
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.1)

    def search(self, q: str, **filters) -> dict:
        response = httpx.get(f"{self.base}/api/search", params={"q": q, **filters}, timeout=60)
        response.raise_for_status()
        return response.json()

    def close(self):
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="module")
def hostile_library(feed_library, tmp_path_factory) -> tuple[Path, str]:
    """A copy of the indexed test talks in which t02 is a YouTube talk whose title and passages carry
    HTML that must stay text; t01 stays a direct-media talk on the feed's host."""
    source, _ = feed_library
    library = tmp_path_factory.mktemp("widgetlib") / "library"
    shutil.copytree(source, library)
    with sqlite3.connect(library / "catalog.sqlite") as db:
        (talk_id,) = db.execute("SELECT id FROM talks WHERE title LIKE 'InfiniBand%'").fetchone()
        page = YOUTUBE_PAGE
        db.execute("UPDATE talks SET title = ?, extractor = 'Youtube', source_id = ?, url = ?, media_url = NULL "
                   "WHERE id = ?", (HOSTILE_TITLE, YOUTUBE_ID, page, talk_id))
        db.execute("UPDATE passages SET text = ? || text WHERE talk_id = ?", (HOSTILE_TEXT, talk_id))
        db.execute("INSERT INTO passages_fts(passages_fts) VALUES ('rebuild')")  # keep full-text in step
    db.close()
    return library, talk_id


@pytest.fixture(scope="module")
def widget_api(hostile_library):
    server = Api(hostile_library[0])
    yield server
    server.close()


@pytest.fixture(scope="module")
def host_site():
    server = HostSite()
    yield server
    server.close()


class Visit:
    """One page in a fresh context, recording console errors and every URL the page fetched."""

    def __init__(self, browser, url: str, fake_clock: bool = False, **context):
        self.context = browser.new_context(**context)
        self.page = self.context.new_page()
        if fake_clock:  # the page's timers run only when the test says (page.clock.run_for)
            self.page.clock.install()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.context.route("https://www.youtube.com/**", self._youtube)
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(url)
        self.page.wait_for_function("customElements.get('talk-search') !== undefined")
        # The widget announces finished searches; keep them so a test can wait for *its* query's answer.
        self.page.evaluate("""() => { window.__events = [];
            for (const t of ['results', 'play', 'error'])
              document.addEventListener('talksearch-' + t, e => window.__events.push({type: t, ...e.detail})); }""")

    @staticmethod
    def _youtube(route):
        if route.request.url == "https://www.youtube.com/iframe_api":
            route.fulfill(body=YOUTUBE_STAND_IN, content_type="text/javascript")
        else:
            route.abort()

    def wait_event(self, kind: str, **match) -> dict:
        found = self.page.wait_for_function(
            """([kind, match]) => window.__events.find(e => e.type === kind &&
                Object.entries(match).every(([k, v]) => e[k] === v))""", arg=[kind, match])
        return found.json_value()

    def search(self, query: str) -> None:
        """Type like a person (one input event per key, so debounce and cancelling are exercised)."""
        self.page.keyboard.press("/")
        self.page.keyboard.type(query)
        self.wait_event("results", query=query)

    def shadow(self, script: str):
        """Run `script` (a function body) with `root` bound to the first widget's shadow root."""
        return self.page.evaluate(f"() => {{ const root = document.querySelector('talk-search').shadowRoot; {script} }}")

    def origins(self) -> set[str]:
        return {"{0.scheme}://{0.netloc}".format(urlsplit(u)) for u in self.requests if not u.startswith("data:")}

    def close(self):
        self.context.close()


def _wait_playing_at(visit: Visit, start: float, tag: str = "audio") -> dict:
    """Wait until the widget's media element has played a little, then check where playback began.

    `played` holds the ranges actually heard, so its first start is where playback began: a player
    that started at 0:00 and merely reached `start` later would not pass.
    """
    state = visit.page.wait_for_function(
        """(tag) => { const m = document.querySelector('talk-search').shadowRoot.querySelector(tag);
            return m && !m.paused && m.played.length && m.currentTime > m.played.start(0) &&
                {src: m.currentSrc, began: m.played.start(0), ranges: m.played.length}; }""", arg=tag).json_value()
    assert state["ranges"] == 1 and abs(state["began"] - start) <= 2, state
    return state


def _played(browser, host_site, api, path: str, query: str) -> tuple[Visit, dict]:
    """A host page at ``path`` with the widget on ``api``: ``query`` typed and its first result played (Enter);
    the page and the API's first result for the query."""
    hit = api.search(query)["results"][0]
    url = host_site.page(path, f'<script src="{api.base}/widget.js" defer></script>\n'
                               f'<talk-search api="{api.base}"></talk-search>')
    visit = Visit(browser, url)
    visit.search(query)
    visit.page.keyboard.press("Enter")
    visit.wait_event("play", talk=hit["talk"]["id"])
    return visit, hit


def _player_link(visit: Visit, name: str):
    """The player's link of that name (its source, or the talk's page here), as a screen reader finds it."""
    return visit.page.locator("talk-search .player").get_by_role("link", name=name, exact=True)


def _contrast(*colours: str) -> float:
    """WCAG's contrast ratio of two computed `rgb(r, g, b)` colours."""
    def luminance(colour: str) -> float:
        r, g, b = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
                   for c in (int(n) / 255 for n in re.findall(r"\d+", colour)[:3])]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    lighter, darker = sorted(map(luminance, colours), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


# --- the script and the page that documents it ------------------------------------------------------


def test_widget_js_is_small_cacheable_and_cors(widget_api):
    size = len(gzip.compress(WIDGET.read_bytes(), 9))
    print(f"widget.js: {WIDGET.stat().st_size} bytes, {size} gzipped")
    assert size <= 15 * 1024

    plain = httpx.get(f"{widget_api.base}/widget.js", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.headers["content-type"].startswith("text/javascript")
    assert plain.headers["access-control-allow-origin"] == "*"
    assert "max-age=" in plain.headers["cache-control"] and "public" in plain.headers["cache-control"]
    assert plain.content == WIDGET.read_bytes()

    zipped = httpx.get(f"{widget_api.base}/widget.js")  # httpx asks for gzip and decodes it
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == WIDGET.read_bytes()

    again = httpx.get(f"{widget_api.base}/widget.js", headers={"If-None-Match": zipped.headers["etag"]})
    assert again.status_code == 304 and not again.content
    for tag in (f'W/{zipped.headers["etag"]}', "*"):  # a weak validator, and any representation
        assert httpx.get(f"{widget_api.base}/widget.js", headers={"If-None-Match": tag}).status_code == 304
    refused = httpx.get(f"{widget_api.base}/widget.js", headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in refused.headers and refused.content == WIDGET.read_bytes()


def test_widget_page_shows_embed_code_and_a_working_instance(widget_api, browser):
    page = httpx.get(f"{widget_api.base}/widget")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    shown = "".join(re.findall(r"<pre[^>]*><code>(.*?)</code></pre>", page.text, re.S))  # the embed code, escaped
    assert "<script" not in shown and f'<script src="{widget_api.base}/widget.js" defer></script>' in html.unescape(shown)
    assert f'<talk-search api="{widget_api.base}"></talk-search>' in html.unescape(shown)

    visit = Visit(browser, f"{widget_api.base}/widget")  # under the page's own strict Content-Security-Policy
    visit.search("object storage")
    assert visit.page.locator("talk-search [role=option]").count() > 0
    # A same-origin site may write the api relative ("/ts"): it is the page's, resolved against its URL. A new
    # api searches again; "/" and "." (/widget's directory) are this service, which is served at the root.
    for relative in ("/", "."):
        before = len(visit.requests)
        visit.page.evaluate("""(api) => { window.__events = [];
            document.querySelector('talk-search').setAttribute('api', api); }""", relative)
        assert visit.wait_event("results", query="object storage")["count"] > 0, relative
        assert f"{widget_api.base}/api/search?q=object+storage" in visit.requests[before:], relative
    assert visit.errors == []  # a CSP violation would be logged here
    visit.close()


# --- embedded on another site ------------------------------------------------------------------------


def test_type_select_and_play_at_the_moment_cross_origin(widget_api, host_site, media_server, browser):
    query = "checkpoints go to an object storage bucket"
    expected = widget_api.search(query)["results"]
    hit = expected[0]
    assert hit["talk"]["media_url"] and hit["start"] >= 3, "the checks below need a media hit away from 0:00"
    url = host_site.page("/", f'<script src="{widget_api.base}/widget.js" defer></script>\n'
                         f'<talk-search api="{widget_api.base}"></talk-search>')
    visit = Visit(browser, url)
    assert urlsplit(url).port != urlsplit(widget_api.base).port  # the page and the API are different origins

    visit.search(query)
    options = visit.page.locator("talk-search [role=option]")
    assert options.count() == len(expected)
    first = options.nth(0)
    assert first.locator(".title").text_content() == hit["talk"]["title"]
    assert first.locator(".time").text_content() == clock(hit["start"])
    assert hit["talk"]["speakers"][0] in first.locator(".meta").text_content()
    assert first.locator("mark").count() > 0  # matched words are marked in the snippet
    assert first.get_attribute("aria-selected") == "false"

    visit.page.keyboard.press("ArrowDown")
    assert first.get_attribute("aria-selected") == "true"
    assert visit.page.locator("talk-search input").get_attribute("aria-activedescendant") == first.get_attribute("id")

    visit.page.keyboard.press("Enter")
    visit.wait_event("play", talk=hit["talk"]["id"])
    state = _wait_playing_at(visit, hit["start"])
    assert state["src"].split("#")[0] == hit["talk"]["media_url"]  # played from the feed's host, cross-origin
    assert _player_link(visit, "Open at source ↗").get_attribute("href") == hit["link"]
    assert visit.page.locator("talk-search [role=listbox]").is_hidden()  # choosing closes the results

    # The transcript as the player's captions (WCAG 1.2.2), read from the API's origin: the cues of its WebVTT.
    vtt = httpx.get(f"{widget_api.base}/api/talks/{hit['talk']['id']}/transcript.vtt").text
    cues = re.findall(r"^([\d:.]+) --> [\d:.]+\n(.+(?:\n.+)?)", vtt, re.M)  # a cue's one or two lines
    captions = visit.page.wait_for_function("""() => {
        const track = document.querySelector('talk-search').shadowRoot.querySelector('audio').textTracks[0];
        if (!track) return false;
        const off = track.mode === 'disabled';  // off until the listener picks them, as on the talk page
        track.mode = 'showing';  // a disabled track lists no cues
        return track.cues.length && {off, kind: track.kind, language: track.language, count: track.cues.length,
                                     start: track.cues[0].startTime, text: track.cues[0].text}; }""").json_value()
    h, m, s = cues[0][0].split(":")
    assert captions == {"off": True, "kind": "captions", "language": hit["talk"]["language"], "count": len(cues),
                        "start": pytest.approx(int(h) * 3600 + int(m) * 60 + float(s)), "text": cues[0][1]}

    assert visit.errors == []
    # Nothing fetched but the page itself, the API and the media.
    assert visit.origins() <= {host_site.base, widget_api.base, media_server.base}
    visit.close()


def test_the_player_links_to_the_talk_page_at_the_moment_beside_the_source(widget_api, host_site, browser):
    """A talk with a source links to it and to its page here, where its transcript is: both open at the moment, the
    page's resolved against the API (the host page is another origin), in a new tab, as the source's does."""
    visit, hit = _played(browser, host_site, widget_api, "/page-link", "checkpoints go to an object storage bucket")
    assert hit["link"] and hit["start"] >= 3, "the checks below need a talk with a source, at a moment past 0:00"
    assert _player_link(visit, "Open at source ↗").get_attribute("href") == hit["link"]
    page_link = _player_link(visit, "Open talk page ↗")
    assert page_link.is_visible()
    href = urlsplit(page_link.get_attribute("href"))
    assert f"{href.scheme}://{href.netloc}" == widget_api.base and href.path == f"/talks/{hit['talk']['id']}"
    assert float(parse_qs(href.query)["t"][0]) == pytest.approx(hit["start"], abs=0.01)
    assert page_link.get_attribute("target") == "_blank" and "noopener" in page_link.get_attribute("rel")

    with visit.page.expect_popup() as opened:
        page_link.click()
    talk_page = opened.value
    talk_page.wait_for_load_state()
    article = talk_page.locator("#talk")
    assert article.get_attribute("data-id") == hit["talk"]["id"]
    assert float(article.get_attribute("data-start")) == pytest.approx(hit["start"], abs=0.01)
    assert talk_page.locator(".s.now").count() == 1  # the sentence said at that moment, in its transcript
    assert visit.errors == []
    visit.close()


def test_click_plays_another_result(widget_api, host_site, browser):
    query = "each rank uploads its own part and a manifest"
    expected = widget_api.search(query, speaker="Ines Moreau", limit=5)["results"]
    url = host_site.page("/click", f'<script src="{widget_api.base}/widget.js" defer></script>\n'
                              f'<talk-search api="{widget_api.base}" limit="5" speaker="Ines Moreau"></talk-search>')
    visit = Visit(browser, url)
    visit.search(query)
    options = visit.page.locator("talk-search [role=option]")
    assert options.count() == len(expected) >= 2
    # The second result, so the click is not just "the default one".
    hit = expected[1]
    options.nth(1).click()
    visit.wait_event("play", talk=hit["talk"]["id"])
    state = _wait_playing_at(visit, hit["start"])
    assert state["src"].split("#")[0] == hit["talk"]["media_url"]
    assert visit.errors == []
    visit.close()


def test_hostile_title_and_text_stay_inert(widget_api, host_site, browser, hostile_library):
    _, talk_id = hostile_library
    query = "tenant partition keys"
    hits = [r for r in widget_api.search(query)["results"] if r["talk"]["id"] == talk_id]
    assert hits and hits[0]["talk"]["title"] == HOSTILE_TITLE  # the API really returns the hostile title
    url = host_site.page("/hostile", f'<script src="{widget_api.base}/widget.js" defer></script>\n'
                                f'<talk-search api="{widget_api.base}"></talk-search>')
    visit = Visit(browser, url)
    visit.search(query)
    titles = visit.page.locator("talk-search [role=option] .title").all_text_contents()
    assert HOSTILE_TITLE in titles  # shown literally, as text
    snippets = visit.page.locator("talk-search [role=option] .snip").all_text_contents()
    assert any("<b>bold</b>" in s and 'onerror="window.__pwned=2"' in s for s in snippets)

    index = titles.index(HOSTILE_TITLE)
    visit.page.locator("talk-search [role=option]").nth(index).click()
    visit.wait_event("play", talk=talk_id)
    # The title and the time are each a bidi isolate, so a right-to-left title cannot carry the time into its run
    assert visit.page.locator("talk-search .now bdi").all_text_contents()[0] == HOSTILE_TITLE

    # The server's snippet format (<mark> around terms, everything else escaped), and a broken one
    # with raw HTML in it: only <mark> elements ever come out, the rest is text.
    parsed = visit.page.evaluate("""() => {
        const div = document.createElement('div');
        div.append(customElements.get('talk-search').snippetNodes(
            'a &lt;i&gt; <mark>key</mark> <img src=x onerror="window.__pwned=3"> &amp;lt; &quot;q&quot; &#x27;s'));
        return {text: div.textContent, tags: [...div.querySelectorAll('*')].map(e => e.localName),
                marked: [...div.querySelectorAll('mark')].map(e => e.textContent)};
    }""")
    assert parsed == {"text": 'a <i> key <img src=x onerror="window.__pwned=3"> &lt; "q" \'s',
                      "tags": ["mark"], "marked": ["key"]}
    # Without a server snippet the widget marks the query's words in the plain text itself.
    plain = 'Checkpointing <img src=x onerror="window.__pwned=4">: the checkpoints of 2 (rechecked) Ünïcode'
    fallback = visit.page.evaluate("""(plain) => {
        const div = document.createElement('div');
        div.append(customElements.get('talk-search').markedText(plain, 'where do CHECKPOINTS go? ünïcode'));
        return {text: div.textContent, tags: [...div.querySelectorAll('*')].map(e => e.localName),
                marked: [...div.querySelectorAll('mark')].map(e => e.textContent)};
    }""", plain)
    assert fallback == {"text": plain, "tags": ["mark"] * 3, "marked": ["Checkpointing", "checkpoints", "Ünïcode"]}

    assert visit.shadow("return root.querySelectorAll('img, b, i').length") == 0
    assert visit.page.evaluate("() => document.querySelectorAll('img').length") == 0
    visit.page.wait_for_timeout(300)  # an onerror would have fired by now; this is a wait, not an assertion
    assert visit.page.evaluate("() => window.__pwned") is None
    assert visit.errors == []
    visit.close()


def test_youtube_talk_plays_in_the_iframe_player_at_the_moment(widget_api, host_site, browser, hostile_library):
    _, talk_id = hostile_library
    query = "tenant partition keys"
    expected = widget_api.search(query, speaker="Kenji Watanabe")["results"]
    assert expected and all(r["talk"]["id"] == talk_id for r in expected)
    hit = max(expected, key=lambda r: r["start"])  # the one furthest into the talk
    assert hit["link"].startswith(f"https://www.youtube.com/watch?v={YOUTUBE_ID}&t=")
    url = host_site.page("/youtube", f'<script src="{widget_api.base}/widget.js" defer></script>\n'
                                f'<talk-search api="{widget_api.base}" speaker="Kenji Watanabe"></talk-search>')
    visit = Visit(browser, url)
    visit.search(query)
    assert not any("youtube.com" in u for u in visit.requests)  # the player script loads only when needed
    for _ in range(expected.index(hit) + 1):
        visit.page.keyboard.press("ArrowDown")
    visit.page.keyboard.press("Enter")
    visit.wait_event("play", talk=talk_id)
    yt = visit.page.wait_for_function("() => window.__yt && window.__yt.playing && window.__yt").json_value()
    assert yt["videoId"] == YOUTUBE_ID
    assert yt["host"] == "https://www.youtube-nocookie.com"  # YouTube's privacy-enhanced player, as the search page's
    assert yt["start"] == int(hit["start"]) and yt["seeks"] == [hit["start"]]
    assert visit.shadow("return !!root.querySelector('.stage iframe')")  # the player sits inside the widget
    assert _player_link(visit, "Open at source ↗").get_attribute("href") == hit["link"]
    assert "https://www.youtube.com/iframe_api" in visit.requests
    assert visit.errors == []
    visit.close()


def test_keyboard_shortcuts_and_escape(widget_api, host_site, browser):
    url = host_site.page("/keys", f'<input id="other" placeholder="the site\'s own field">'
                             f'<script src="{widget_api.base}/widget.js" defer></script>\n'
                             f'<talk-search api="{widget_api.base}" placeholder="Search our talks"></talk-search>')
    visit = Visit(browser, url)
    page = visit.page
    box = page.locator("talk-search input")
    assert box.get_attribute("placeholder") == "Search our talks"

    page.locator("#other").focus()
    page.keyboard.press("/")  # typing "/" in the site's own field must stay there
    assert page.locator("#other").input_value() == "/"
    page.keyboard.press("Control+k")
    assert box.evaluate("e => e.getRootNode().activeElement === e")

    page.keyboard.type("manifest")
    visit.wait_event("results", query="manifest")
    listbox = page.locator("talk-search [role=listbox]")
    assert listbox.is_visible() and box.get_attribute("aria-expanded") == "true"
    page.keyboard.press("ArrowUp")  # from nothing selected, up goes to the last result
    options = page.locator("talk-search [role=option]")
    chosen = options.nth(options.count() - 1)
    assert chosen.get_attribute("aria-selected") == "true"
    # Forced colours (Windows High Contrast) drop the chosen result's background and inset shadow: it keeps an outline.
    page.emulate_media(forced_colors="active")
    outlined = "e => getComputedStyle(e).outlineStyle !== 'none' && parseFloat(getComputedStyle(e).outlineWidth) >= 1"
    assert chosen.evaluate(outlined) and not options.nth(0).evaluate(outlined)
    page.emulate_media(forced_colors="none")

    page.keyboard.press("Escape")
    assert listbox.is_hidden() and box.get_attribute("aria-expanded") == "false"
    # a closed list has no active option: a screen reader read the hidden one out as chosen
    assert box.get_attribute("aria-activedescendant") is None
    page.keyboard.press("ArrowDown")  # reopens, on the result chosen before
    assert listbox.is_visible() and box.get_attribute("aria-activedescendant") == chosen.get_attribute("id")
    page.keyboard.press("Enter")
    visit.wait_event("play")
    assert page.locator("talk-search .player").is_visible()
    assert listbox.is_hidden() and box.get_attribute("aria-activedescendant") is None
    page.keyboard.press("Escape")  # results are closed already: Esc closes the player
    assert page.locator("talk-search .player").is_hidden()
    assert visit.errors == []
    visit.close()


def test_a_dark_site_and_a_hidden_first_widget(widget_api, host_site, browser):
    """A dark site's `*{color:#eee}` matches the talk-search element itself, beating :host: the widget's text must
    still take its colour from the widget, like its background. The page's first widget sits in a closed mobile
    menu: the shortcuts go to the one that is shown, and Esc works from the player's own controls."""
    menu = f'<nav style="display:none"><talk-search id="menu" api="{widget_api.base}"></talk-search></nav>'
    url = host_site.page("/dark", f'<style>body{{background:#111}} *{{color:#eee}}</style>\n{menu}\n'
                             f'<script src="{widget_api.base}/widget.js" defer></script>\n'
                             f'<talk-search id="main" api="{widget_api.base}"></talk-search>')
    visit = Visit(browser, url)
    page = visit.page
    page.keyboard.press("/")
    assert page.evaluate("() => document.activeElement.id") == "main"
    page.keyboard.type("object storage")
    visit.wait_event("results", query="object storage")
    page.keyboard.press("Enter")
    visit.wait_event("play")
    page.keyboard.press("ArrowDown")  # the results again, over the player
    colours = page.locator("#main").evaluate("""e => Object.fromEntries(['.box', 'input', '.title', '.snip', '.now']
        .map(s => [s, getComputedStyle(e.shadowRoot.querySelector(s)).color]))""")
    assert colours == dict.fromkeys(colours, "rgb(31, 35, 40)")  # the widget's text colour, not the site's #eee
    assert page.locator("#main .box").first.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(255, 255, 255)"

    page.keyboard.press("Escape")  # closes the results
    close = page.locator("#main .player button[aria-label='Close player']")
    close.focus()
    page.keyboard.press("Escape")  # from the player's own button: closes the player, back to the box
    assert page.locator("#main .player").is_hidden()
    assert page.locator("#main input").evaluate("e => e.getRootNode().activeElement === e")

    page.locator("h1").click()
    page.keyboard.press("Control+k")
    assert page.evaluate("() => document.activeElement.id") == "main"
    page.evaluate("""() => { document.activeElement.blur();
        addEventListener('keydown', e => { window.__keyTaken = e.defaultPrevented; }); }""")
    # shortcuts="off" (WCAG 2.1.4: single-key shortcuts can be turned off): the keys are left to the page.
    page.locator("#main").evaluate("e => e.setAttribute('shortcuts', 'off')")
    for key in ("/", "Control+k"):
        page.keyboard.press(key)
        assert page.evaluate("() => [window.__keyTaken, document.activeElement.localName]") == [False, "body"], key
    # With no widget shown, "/" is left alone rather than swallowed.
    page.locator("#main").evaluate("e => { e.removeAttribute('shortcuts'); e.hidden = true; }")
    page.keyboard.press("/")
    assert page.evaluate("() => window.__keyTaken") is False
    assert visit.errors == []
    visit.close()


def test_the_english_of_a_hit_has_the_query_words_marked(translated_site, host_site, browser):
    """A talk indexed with --translate: the API's translation_snippet marks the query's words in the English, which
    may be the only place they are (the German here holds neither)."""
    site, _ = translated_site
    url = host_site.page("/translated", f'<script src="{site.base}/widget.js" defer></script>\n'
                                   f'<talk-search api="{site.base}"></talk-search>')
    visit = Visit(browser, url)
    visit.search("memory bandwidth")
    english = visit.page.locator("talk-search [role=option] .tr").filter(has_text="limits the program")
    assert english.text_content() == "Memory bandwidth limits the program."
    assert english.locator("mark").all_text_contents() == ["Memory", "bandwidth"]
    assert english.get_attribute("lang") == "en"
    # The talk's title, like its words, is in the talk's language, not the host page's "en".
    title = visit.page.locator("talk-search [role=option]").filter(has_text="limits the program").locator(".title")
    assert title.text_content() == "Speicher" and title.get_attribute("lang") == "de"
    assert visit.errors == []
    # and so is it in the player's "now playing", where a screen reader read it in English (an a11y hunt; played,
    # its recording's made-up host is not found: no error of the widget's)
    visit.page.locator("talk-search [role=option]").filter(has_text="limits the program").click()
    playing = visit.page.locator("talk-search .now bdi").first
    assert playing.text_content() == "Speicher" and playing.get_attribute("lang") == "de"
    visit.close()


def test_error_states_are_understandable(widget_api, host_site, browser):
    dead = f"http://127.0.0.1:{_free_port()}"  # nothing listens here
    url = host_site.page("/down", f'<script src="{widget_api.base}/widget.js" defer></script>\n'
                             f'<talk-search api="{dead}"></talk-search>')
    visit = Visit(browser, url)
    visit.page.keyboard.press("/")
    visit.page.keyboard.type("storage")
    visit.wait_event("error", query="storage")
    status = visit.page.locator("talk-search [role=status]")
    assert "Can't reach the talk search service" in status.text_content() and status.is_visible()
    # The error keeps WCAG AA contrast (4.5:1) on the light and on the dark background, and --ts-error still sets it.
    colours = "e => [getComputedStyle(e).color, getComputedStyle(e.closest('.box')).backgroundColor]"
    for scheme in ("light", "dark"):
        visit.page.emulate_media(color_scheme=scheme)
        assert _contrast(*status.evaluate(colours)) >= 4.5, scheme
    visit.page.locator("talk-search").evaluate("e => e.style.setProperty('--ts-error', 'rgb(1, 2, 3)')")
    assert status.evaluate(colours)[0] == "rgb(1, 2, 3)"
    visit.close()

    url = host_site.page("/long", f'<script src="{widget_api.base}/widget.js" defer></script>\n'
                             f'<talk-search api="{widget_api.base}" channel="No such channel"></talk-search>')
    visit = Visit(browser, url)
    box = visit.page.locator("talk-search input")
    nonsense = "zqxj" * 120  # one long word, quoted back by the status line: it must wrap inside the box
    box.fill(nonsense)
    visit.wait_event("results", query=nonsense, count=0)
    status = visit.page.locator("talk-search [role=status]")
    assert "Nothing in these talks matches" in status.text_content()
    assert status.evaluate("e => e.scrollWidth <= e.clientWidth"), "the status line runs out of the box"
    box.fill("x" * 600)  # a paste past the API's limit is cut to it, as in /embed's form, not sent to be refused
    assert box.input_value() == "x" * 500
    # A script is not held to maxlength; the API then refuses the query with its error shape.
    box.evaluate("e => { e.value = 'x'.repeat(600); e.dispatchEvent(new Event('input')); }")
    visit.wait_event("error")
    assert "longer than 500 characters" in visit.page.locator("talk-search [role=status]").text_content()
    # The browser logs the 422 response itself; the widget adds nothing else.
    assert all("Failed to load resource" in e for e in visit.errors)
    visit.close()


def test_filters_scope_the_search_and_say_when_nothing_matches(widget_api, host_site, browser):
    url = host_site.page("/scoped", f'<script src="{widget_api.base}/widget.js" defer></script>\n'
                               f'<talk-search api="{widget_api.base}" speaker="Kenji Watanabe"></talk-search>')
    visit = Visit(browser, url)
    visit.search("object storage")  # said in the other speaker's talk only
    metas = visit.page.locator("talk-search [role=option] .meta").all_text_contents()
    assert metas and all("Kenji Watanabe" in m for m in metas)
    # ... so this speaker's talks are only the nearest, and the status line says so
    assert (visit.page.locator("talk-search [role=status]").text_content()
            == "No talk searched says “object storage”: these are the closest in meaning or sound.")
    # Each speaker, event or channel is its own bidi isolate (an Arabic name beside the event reordered them)
    assert "Kenji Watanabe" in visit.page.locator("talk-search [role=option] .meta bdi").all_text_contents()
    visit.page.locator("talk-search").evaluate("e => e.setAttribute('channel', 'No such channel')")
    visit.wait_event("results", query="object storage", count=0)  # changing a filter searches again
    status = visit.page.locator("talk-search [role=status]")
    assert status.is_visible() and "Nothing in these talks matches" in status.text_content()
    assert visit.page.locator("talk-search [role=listbox]").is_hidden()
    assert visit.errors == []
    visit.close()


def test_a_quoted_phrase_no_talk_holds_is_said_to_be_searched_unquoted(widget_api, host_site, browser):
    url = host_site.page("/unquoted", f'<script src="{widget_api.base}/widget.js" defer></script>\n'
                                 f'<talk-search api="{widget_api.base}" speaker="Kenji Watanabe"></talk-search>')
    visit = Visit(browser, url)
    visit.search("“keys partition”")  # his talk says both words, never in this order: they answer, unquoted
    status = visit.page.locator("talk-search [role=status]")
    assert status.is_visible(), status.text_content()
    assert status.text_content() == "No moment holds “keys partition” word for word; these are the closest."
    assert visit.page.locator("talk-search [role=option]").count()
    assert visit.errors == []
    visit.close()


def test_a_slip_searched_as_the_word_a_talk_says_is_said(widget_api, host_site, browser):
    url = host_site.page("/slipped", f'<script src="{widget_api.base}/widget.js" defer></script>\n'
                                f'<talk-search api="{widget_api.base}"></talk-search>')
    visit = Visit(browser, url)
    visit.search("partiton keys")  # no talk says "partiton": searched as "partition", and the status line says so
    status = visit.page.locator("talk-search [role=status]")
    assert status.text_content() == "Searched for “partition keys”, as the talks spell it."
    assert visit.page.locator("talk-search [role=option]").count()
    assert visit.errors == []
    visit.close()


def _still(visit: Visit) -> None:
    """Hold the player still at the chosen moment, so the screenshots for docs/ (scripts/screenshots.sh) only
    change when the widget's look does."""
    visit.shadow("""const m = root.querySelector('audio'); m.pause();
        return new Promise(done => { m.addEventListener('seeked', done, {once: true}); m.currentTime = 7; });""")


def test_phone_width_dark_mode_and_screenshots(widget_api, host_site, browser, screenshots):
    # Scoped to one speaker so the documentation shows ordinary talks, not this module's hostile one.
    embed = (f'<script src="{widget_api.base}/widget.js" defer></script>\n'
             f'<talk-search api="{widget_api.base}" speaker="Ines Moreau"></talk-search>')
    url = host_site.page("/shot", embed)

    light = Visit(browser, url, viewport={"width": 760, "height": 720}, color_scheme="light")
    light.search("object storage checkpoints")
    light.page.keyboard.press("ArrowDown")
    light.page.keyboard.press("Enter")
    light.wait_event("play")
    light.page.keyboard.press("ArrowDown")  # reopens the results over the playing talk
    # The host's `input{border:5px dashed red}` and `mark{background:red}` must not reach inside.
    assert light.shadow("return getComputedStyle(root.querySelector('input')).borderTopWidth") == "0px"
    assert light.shadow("return getComputedStyle(root.querySelector('mark')).backgroundColor") != "rgb(255, 0, 0)"
    _still(light)
    light.page.screenshot(path=str(screenshots / "widget.png"), animations="disabled")
    light.page.locator("talk-search [role=option]").nth(1).click()  # with a mouse: the box keeps the keyboard
    assert light.shadow("return root.activeElement !== null && root.activeElement.tagName === 'INPUT'")
    assert light.errors == []
    light.close()

    phone = Visit(browser, url, viewport={"width": 360, "height": 740}, color_scheme="dark",
                  is_mobile=True, has_touch=True, device_scale_factor=2)
    phone.search("object storage checkpoints")
    phone.page.locator("talk-search [role=option]").nth(0).tap()
    phone.wait_event("play")
    # a tap leaves the box (its on-screen keyboard would stay open over the player); a click keeps it (below)
    assert phone.shadow("return root.activeElement === null || root.activeElement.tagName !== 'INPUT'")
    background = phone.shadow("return getComputedStyle(root.querySelector('.box')).backgroundColor")
    assert background == "rgb(23, 25, 30)"  # the dark palette, from prefers-color-scheme
    phone.page.locator("talk-search input").tap()  # back in the box: the results show again
    assert phone.page.locator("talk-search [role=listbox]").is_visible()
    widths = phone.page.evaluate("""() => ({page: document.documentElement.scrollWidth,
        widget: document.querySelector('talk-search').getBoundingClientRect().right})""")
    assert widths["page"] <= 360 and widths["widget"] <= 360  # nothing sticks out sideways
    _still(phone)
    phone.page.screenshot(path=str(screenshots / "widget-dark.png"), animations="disabled")
    # turned on its side, a video talk's player fits the screen (these talks are audio: a video put on the stage)
    phone.page.set_viewport_size({"width": 740, "height": 360})
    assert phone.shadow("""const video = document.createElement('video'); root.querySelector('.stage').append(video);
        const height = video.getBoundingClientRect().height; video.remove(); return height""") <= 252  # 70vh
    phone.page.locator("talk-search").evaluate("e => e.setAttribute('theme', 'light')")  # the site fixes the mode
    assert phone.shadow("return getComputedStyle(root.querySelector('.box')).backgroundColor") == "rgb(255, 255, 255)"
    assert phone.errors == []
    phone.close()


def test_language_attribute_scopes_the_search_and_marks_the_words(widget_api, host_site, browser):
    """Issue 16: `language="…"` keeps the search to talks in one spoken language; snippets carry their `lang`."""
    url = host_site.page("/language", f'<script src="{widget_api.base}/widget.js" defer></script>\n'
                                 f'<talk-search api="{widget_api.base}" language="en"></talk-search>')
    visit = Visit(browser, url)
    visit.search("object storage")
    snippets = visit.page.locator("talk-search [role=option] .snip")
    assert snippets.count() and all(snippets.nth(i).get_attribute("lang") == "en" for i in range(snippets.count()))
    visit.page.locator("talk-search").evaluate("e => e.setAttribute('language', 'de')")
    visit.wait_event("results", query="object storage", count=0)  # no German talk here
    assert visit.errors == []
    visit.close()


def test_tab_leaves_the_widget_and_closes_the_results(widget_api, host_site, browser):
    url = host_site.page("/tab", f'<script src="{widget_api.base}/widget.js" defer></script>\n'
                            f'<talk-search api="{widget_api.base}"></talk-search><a id="after" href="#after">next</a>')
    visit = Visit(browser, url)
    visit.search("object storage")
    page = visit.page
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")
    # Not the results list (Chromium makes a scrolling box focusable), but the host page's next link.
    assert page.evaluate("() => document.activeElement.id") == "after"
    assert page.locator("talk-search [role=listbox]").is_hidden()
    assert page.locator("talk-search input").get_attribute("aria-expanded") == "false"
    assert visit.errors == []
    visit.close()


@pytest.fixture(scope="module")
def local_talk_api(feed_library, tmp_path_factory):
    """Both test talks as talks indexed from local files whose .info.json named a web page: their results link to
    the service's copy, relatively (/media/{id}#t=...). t01's url is a conference's page, which cannot start at a
    moment; t02's is its YouTube page (a folder downloaded with yt-dlp), yet the service plays its own copy."""
    source, _ = feed_library
    folder = tmp_path_factory.mktemp("localtalk")
    library = folder / "library"
    shutil.copytree(source, library)
    with sqlite3.connect(library / "catalog.sqlite") as db:
        for name, title, page in (("t01.ogg", "Checkpointing%", "https://talks.example.org/checkpointing"),
                                  ("t02.ogg", "InfiniBand%", YOUTUBE_PAGE)):
            recording = folder / name
            shutil.copy(ROOT / "tests" / "data" / name, recording)
            db.execute("UPDATE talks SET media_url = ?, url = ? WHERE title LIKE ?", (recording.as_uri(), page, title))
    db.close()
    server = Api(library)
    server.recordings = folder  # t01.ogg and t02.ogg, where the catalog says they are
    yield server
    server.close()


def test_source_link_of_a_local_talk_is_its_page_on_the_web_and_it_plays_the_services_copy(local_talk_api, host_site,
                                                                                           browser):
    """"Open at source" goes where the talk page's "Source" does, the talk's url: its link is the service's own
    copy, which the widget plays already, and "Open talk page" has the moment."""
    visit, hit = _played(browser, host_site, local_talk_api, "/local", "checkpoints go to an object storage bucket")
    assert hit["link"].startswith("/media/") and "#t=" in hit["link"], hit["link"]  # relative, as the API documents
    source = _player_link(visit, "Open at source ↗")
    assert source.get_attribute("href") == hit["talk"]["url"] == "https://talks.example.org/checkpointing"
    assert source.text_content() == "Open at source ↗"
    # played from the service's copy, which the API names without the file's path on the server, in an <audio>
    # element: its name keeps the recording's suffix (.ogg)
    assert hit["talk"]["media_url"] == f"/media/{hit['talk']['id']}.ogg"
    state = _wait_playing_at(visit, hit["start"])
    assert state["src"].split("#")[0] == local_talk_api.base + hit["talk"]["media_url"]
    visit.close()


def test_a_server_that_never_answers_is_said_to_be_unreachable(widget_api, host_site, browser):
    """A server that takes the connection and then says nothing: after the widget's timeout (15 s, run on the
    page's fake clock) the status says so and talksearch-error is sent, rather than "Searching…" for ever."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel accepts the connections; nobody ever reads or answers them
    try:
        url = host_site.page("/silent", f'<script src="{widget_api.base}/widget.js" defer></script>\n'
                                 f'<talk-search api="http://127.0.0.1:{silent.getsockname()[1]}"></talk-search>')
        visit = Visit(browser, url, fake_clock=True)
        visit.page.keyboard.press("/")
        visit.page.keyboard.type("storage")
        visit.page.clock.run_for(1_000)  # the debounce: the search is sent
        status = visit.page.locator("talk-search [role=status]")
        status.filter(has_text="Searching…").wait_for()
        visit.page.clock.run_for(16_000)
        visit.wait_event("error", query="storage")
        assert "Can't reach the talk search service" in status.text_content() and status.is_visible()
        visit.close()
    finally:
        silent.close()


def test_a_local_audio_talk_plays_in_an_audio_player_named_for_the_talk(local_talk_api, host_site, browser):
    """Served from the service's /media/{id} (no file extension), a talk indexed from an .ogg file still plays in
    an <audio> bar, not a black 16:9 video box."""
    visit, hit = _played(browser, host_site, local_talk_api, "/local-audio", "checkpoints go to an object storage bucket")
    _wait_playing_at(visit, hit["start"], tag="audio")
    assert visit.shadow("return root.querySelector('.stage video')") is None
    assert visit.shadow("return root.querySelector('.stage audio').getAttribute('aria-label')") == hit["talk"]["title"]
    assert visit.errors == []
    visit.close()


def test_one_widget_starting_pauses_another(widget_api, host_site, browser):
    """Two widgets on a page: one talk is heard at a time, as on the search page."""
    url = host_site.page("/two", f'<script src="{widget_api.base}/widget.js" defer></script>\n'
                             f'<talk-search api="{widget_api.base}"></talk-search>\n'
                             f'<talk-search api="{widget_api.base}"></talk-search>')
    visit = Visit(browser, url)
    visit.search("checkpoints go to an object storage bucket")
    visit.page.keyboard.press("Enter")
    _wait_playing_at(visit, visit.wait_event("play")["start"])
    second = visit.page.locator("talk-search").nth(1)
    second.locator("input").press_sequentially("each rank uploads its own part")
    visit.wait_event("results", query="each rank uploads its own part")
    second.locator("input").press("Enter")
    playing = "w => { const m = w.shadowRoot.querySelector('audio, video'); return !!m && !m.paused; }"
    visit.page.wait_for_function(f"() => ({playing})(document.querySelectorAll('talk-search')[1])")
    assert visit.page.locator("talk-search").first.evaluate(playing) is False
    assert visit.errors == []
    visit.close()


def test_a_player_that_cannot_load_is_announced_and_its_links_say_they_open_a_new_tab(widget_api, host_site, browser,
                                                                                      hostile_library):
    """YouTube's player script out of reach (a blocker, a network that refuses it): the message shown in the player is
    also said by the widget's status (its live region), which otherwise still said "N results". The player's links
    open a new tab, and their description says so (WCAG 3.2.5), their names unchanged."""
    _, talk_id = hostile_library
    query = "tenant partition keys"
    url = host_site.page("/youtube-blocked", f'<script src="{widget_api.base}/widget.js" defer></script>\n'
                                             f'<talk-search api="{widget_api.base}" speaker="Kenji Watanabe"></talk-search>')
    visit = Visit(browser, url)
    visit.context.unroute("https://www.youtube.com/**")
    visit.context.route("https://www.youtube.com/**", lambda route: route.abort())
    visit.search(query)
    visit.page.keyboard.press("Enter")
    visit.wait_event("play", talk=talk_id)
    message = "YouTube's player couldn't be loaded; open the talk at the source."
    visit.page.locator("talk-search .msg").filter(has_text=message).wait_for()
    status = visit.page.locator("talk-search").get_by_role("status")
    assert status.text_content() == message
    for name in ("Open at source ↗", "Open talk page ↗"):
        link = _player_link(visit, name)
        assert link.get_attribute("target") == "_blank"
        playwright_sync.expect(link).to_have_accessible_description("opens in a new tab")
    visit.close()


# --- real host pages: their headers, components, dialogs, layouts and scripts ------------------------------------


def _embedded(api, attributes: str = "") -> str:
    """The two documented lines, for a page of the host site."""
    return (f'<script src="{api.base}/widget.js" defer></script>\n'
            f'<talk-search api="{api.base}"{attributes}></talk-search>')


def test_a_local_copy_of_a_youtube_talk_plays_here_and_its_source_is_youtube(local_talk_api, host_site, browser):
    """A talk downloaded with yt-dlp and indexed from its folder: the service plays its own copy (the API's player,
    the talk page, /embed), and so does the widget, with nothing fetched from YouTube; "Open at source" is the
    YouTube page."""
    query = "tenant partition keys"
    hit = local_talk_api.search(query, speaker="Kenji Watanabe")["results"][0]
    talk = hit["talk"]
    assert talk["url"] == YOUTUBE_PAGE and hit["link"].startswith("/media/"), hit
    player = httpx.get(f"{local_talk_api.base}/api/talks/{talk['id']}").json()["player"]
    assert player["kind"] == "audio" and player["youtube_id"] is None  # what the service itself plays
    visit = Visit(browser, host_site.page("/local-youtube", _embedded(local_talk_api, ' speaker="Kenji Watanabe"')))
    visit.search(query)
    visit.page.keyboard.press("Enter")
    visit.wait_event("play", talk=talk["id"])
    assert visit.shadow("return root.querySelector('.stage').firstChild.localName") == "audio"
    state = _wait_playing_at(visit, hit["start"])
    assert state["src"].split("#")[0] == local_talk_api.base + talk["media_url"]
    assert _player_link(visit, "Open at source ↗").get_attribute("href") == YOUTUBE_PAGE
    assert not [u for u in visit.requests if "youtube.com" in urlsplit(u).netloc]
    assert visit.errors == []
    visit.close()


def test_a_host_page_that_requires_corp_plays_the_services_copy(local_talk_api, host_site, browser):
    """A page with Cross-Origin-Embedder-Policy: require-corp loads another origin's media only when it says
    Cross-Origin-Resource-Policy: /media must, as widget.js does."""
    url = host_site.page("/coep", _embedded(local_talk_api),
                         headers={"Cross-Origin-Embedder-Policy": "require-corp"})
    visit, hit = Visit(browser, url), local_talk_api.search("checkpoints go to an object storage bucket")["results"][0]
    visit.search("checkpoints go to an object storage bucket")
    visit.page.keyboard.press("Enter")
    visit.wait_event("play", talk=hit["talk"]["id"])
    _wait_playing_at(visit, hit["start"])
    assert visit.errors == []
    visit.close()


def test_slash_typed_in_a_closed_shadow_roots_field_stays_there(widget_api, host_site, browser):
    """A design system's field whose shadow root is closed: the key's target is the component, not an input."""
    field = """<script>customElements.define('date-field', class extends HTMLElement {
      constructor() { super(); const root = this.attachShadow({mode: 'closed'});
        root.innerHTML = '<input aria-label="Date">'; this.field = root.firstChild; } });</script>
<date-field></date-field>"""
    visit = Visit(browser, host_site.page("/closed", field + _embedded(widget_api)))
    page = visit.page
    page.evaluate("() => document.querySelector('date-field').field.focus()")
    page.keyboard.type("12/05/2026")
    assert page.evaluate("() => document.querySelector('date-field').field.value") == "12/05/2026"
    assert page.locator("talk-search input").input_value() == ""
    page.evaluate("() => document.querySelector('date-field').field.blur()")
    page.keyboard.press("/")  # outside any field: still the shortcut
    assert page.locator("talk-search input").evaluate("e => e.getRootNode().activeElement === e")
    visit.close()


def test_escape_with_nothing_of_the_widgets_open_closes_the_hosts_dialog(widget_api, host_site, browser):
    """Esc closes the widget's results first, as ever; then, nothing of its own open, it is the search field's and
    the page's, as in a plain search field: it empties the box, then closes the dialog around it."""
    visit = Visit(browser, host_site.page("/dialog", f"<dialog>{_embedded(widget_api)}</dialog>"))
    page, dialog = visit.page, visit.page.locator("dialog")
    page.evaluate("() => document.querySelector('dialog').showModal()")
    box = page.locator("talk-search input")
    box.focus()
    box.press_sequentially("manifest")
    visit.wait_event("results", query="manifest")
    page.keyboard.press("Escape")
    assert page.locator("talk-search [role=listbox]").is_hidden() and dialog.evaluate("d => d.open")
    page.keyboard.press("Escape")
    assert box.input_value() == "" and dialog.evaluate("d => d.open")
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.querySelector('dialog').open")
    visit.close()


def test_a_widget_moved_in_the_page_goes_on_searching(widget_api, host_site, browser):
    """A layout that moves the element (a sidebar on a wide screen, the main column on a narrow one) disconnects and
    connects it: a search it was waiting to send, or waiting for, is made again rather than lost."""
    layout = f"<aside>{_embedded(widget_api)}</aside><main></main>"
    visit = Visit(browser, host_site.page("/move", layout), fake_clock=True)
    page = visit.page
    held = []  # the first search is never answered: it is on its way when the widget moves
    visit.context.route(re.compile(r"/api/search\?"),
                        lambda route: held.append(route) if not held else route.continue_())
    move = "(to) => document.querySelector(to).append(document.querySelector('talk-search'))"
    page.keyboard.press("/")
    page.keyboard.type("manifest")
    page.clock.run_for(1_000)  # the debounce: sent
    while not held:
        page.wait_for_timeout(50)
    page.evaluate(move, "main")
    page.clock.run_for(1_000)
    visit.wait_event("results", query="manifest")
    page.locator("talk-search input").fill("manifest storage")
    page.evaluate(move, "aside")  # before the debounce sent it
    page.clock.run_for(1_000)
    visit.wait_event("results", query="manifest storage")
    visit.close()


def test_a_page_that_wraps_fetch_or_replaces_builtins_still_searches_and_plays(widget_api, host_site, browser):
    """A typical fetch wrapper (it reads a Request's url) and an Array.prototype.includes replaced by an old
    library: the widget searches, and a click plays."""
    tampering = """<script>const pageFetch = window.fetch;
window.fetch = (input, init) => pageFetch(typeof input === 'string' ? input : input.url, init);
Array.prototype.includes = function () { return false; };</script>"""
    visit = Visit(browser, host_site.page("/tampered", tampering + _embedded(widget_api)))
    visit.search("manifest")
    visit.page.locator("talk-search [role=option]").first.click()
    visit.wait_event("play")
    assert visit.page.locator("talk-search .player").is_visible()
    visit.close()


def test_a_widget_inside_a_components_shadow_root(widget_api, host_site, browser):
    """A site header (a component with an open shadow root) holding the widget, before a second plain one: "/" goes
    to the first in the page's order, and the events reach the document."""
    header = f"""<script>customElements.define('site-header', class extends HTMLElement {{
      constructor() {{ super(); this.attachShadow({{mode: 'open'}}).innerHTML =
        '<nav>Menu <talk-search api="{widget_api.base}"></talk-search></nav>'; }} }});</script>
<site-header></site-header><p>Content</p>"""
    visit = Visit(browser, host_site.page("/nested", header + _embedded(widget_api)))
    visit.search("manifest")  # "/", then typed: its results event reaches the document
    nested = "document.querySelector('site-header').shadowRoot.querySelector('talk-search')"
    assert visit.page.evaluate(f"() => {nested}.shadowRoot.activeElement === {nested}.input")
    visit.page.keyboard.press("Enter")
    visit.wait_event("play")
    visit.close()


def test_loaded_as_a_module_it_searches_where_it_came_from(widget_api, host_site, browser):
    """<script type="module"> has no document.currentScript: the default api is still widget.js's origin."""
    url = host_site.page("/module", f'<script type="module" src="{widget_api.base}/widget.js"></script>\n'
                                    "<talk-search></talk-search>")
    visit = Visit(browser, url)
    visit.page.keyboard.press("/")
    visit.page.keyboard.type("manifest")
    answer = visit.page.wait_for_function("() => window.__events.find(e => e.query === 'manifest')").json_value()
    assert answer["type"] == "results", answer
    visit.close()


def test_a_local_talk_whose_file_was_moved_still_offers_its_source(local_talk_api, host_site, browser):
    """Once the file is moved the API links the talk's page here (and has no media_url): "Open at source" is still
    the page the talk's .info.json named, the only way left to the recording."""
    query = "tenant partition keys"
    talk = local_talk_api.search(query, speaker="Kenji Watanabe")["results"][0]["talk"]
    recording = local_talk_api.recordings / "t02.ogg"
    moved = recording.with_name("moved-away.ogg")
    recording.rename(moved)
    try:
        hit = local_talk_api.search(query, speaker="Kenji Watanabe", limit=7)["results"][0]  # not the cached answer
        assert hit["link"].startswith(f"/talks/{talk['id']}?t=") and hit["talk"]["media_url"] is None, hit
        url = host_site.page("/moved", _embedded(local_talk_api, ' speaker="Kenji Watanabe" limit="7"'))
        visit = Visit(browser, url)
        visit.search(query)
        visit.page.keyboard.press("Enter")
        visit.wait_event("play", talk=talk["id"])
        assert _player_link(visit, "Open at source ↗").get_attribute("href") == YOUTUBE_PAGE
        assert _player_link(visit, "Open talk page ↗").get_attribute("href") == local_talk_api.base + hit["page"]
        visit.close()
    finally:
        moved.rename(recording)
