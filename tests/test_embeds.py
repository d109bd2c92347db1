"""Embeds without scripts: the /embed pages in an iframe on another origin (real headless Chromium), the
oEmbed provider, and the frame-ancestors policy. Reuses test_widget's servers and its hostile library (talk
t02 is a YouTube talk whose title and passages carry HTML) and its Chromium."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import ValidationError

from talksearch.service.routes.embeds import content_security_policy, media_origin
from talksearch.settings import Settings
from tests.service_fixtures import assert_error, read_server, talk_ids
from tests.test_widget import (  # noqa: F401 (fixtures)
    CHROMIUM,
    HOSTILE_TITLE,
    TIMEOUT_MS,
    YOUTUBE_ID,
    hostile_library,
    host_site,
    widget_api,
)

pytestmark = [pytest.mark.browser, pytest.mark.models,
              pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(), reason="needs Debian's chromium")]
T01_TITLE = "Checkpointing Long-Running Simulations to Object Storage"


@pytest.fixture(scope="module")
def talks(widget_api) -> dict[str, str]:
    listing = httpx.get(f"{widget_api.base}/api/talks", timeout=60).json()["talks"]
    by_title = {t["title"]: t["id"] for t in listing}
    return {"t01": by_title[T01_TITLE], "t02": by_title[HOSTILE_TITLE]}


class Framed:
    """A page on the host site's origin with one iframe pasted in; records every request and console error."""

    def __init__(self, browser, site, path: str, iframe: str):
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.context.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(site.page(path, iframe))
        self.frame = self.page.wait_for_selector("iframe").content_frame()
        self.frame.wait_for_load_state()

    def close(self):
        self.context.close()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def test_a_page_on_another_origin_embeds_a_moment_and_the_player_starts_there(browser, host_site, widget_api, talks):
    iframe = f'<iframe src="{widget_api.base}/embed/talks/{talks["t01"]}?t=7" width="640" height="420" title="talk"></iframe>'
    framed = Framed(browser, host_site, "/moment.html", iframe)
    try:
        assert _origin(framed.page.url) != widget_api.base
        # media on another host is read only when played (preload="none"): played, it starts at the moment
        framed.frame.evaluate("document.querySelector('video, audio').play()")
        framed.frame.wait_for_function("() => { const v = document.querySelector('video, audio');"
                                       " return v && v.readyState >= 1; }")
        framed.frame.evaluate("document.querySelector('video, audio').pause()")
        assert framed.frame.evaluate("document.querySelector('video, audio').currentTime") == pytest.approx(7, abs=1)
        assert framed.frame.locator("h1").text_content() == T01_TITLE
        assert framed.frame.locator("script").count() == 0
        # another host's media may not answer CORS: asked for without it (the service's own /media is asked with it)
        assert framed.frame.locator("[crossorigin]").count() == 0
        media = httpx.get(f"{widget_api.base}/api/talks/{talks['t01']}", timeout=60).json()["player"]["src"]
        # Nothing from third parties: the host page, the embed, and the talk's own media.
        assert {_origin(u) for u in framed.requests} <= {host_site.base, widget_api.base, _origin(media)}, framed.requests
        assert not framed.errors, framed.errors  # a CSP violation would be reported here
    finally:
        framed.close()


def test_an_embedded_search_shows_hostile_titles_as_text_and_plays_in_the_frame(browser, host_site, widget_api, talks):
    iframe = f'<iframe src="{widget_api.base}/embed?q=partition+keys" width="640" height="480" title="search"></iframe>'
    framed = Framed(browser, host_site, "/search.html", iframe)
    try:
        links = framed.frame.locator("ol a:not(.time)")
        titles = links.all_text_contents()
        assert HOSTILE_TITLE in titles  # shown literally, as text
        assert framed.frame.evaluate("window.__pwned") is None
        assert framed.frame.locator("img").count() == 0
        links.nth(titles.index(HOSTILE_TITLE)).click()
        framed.frame.wait_for_url(f"{widget_api.base}/embed/talks/{talks['t02']}?t=*")
        assert framed.frame.locator("h1").text_content() == HOSTILE_TITLE
        # A YouTube talk is a link to YouTube at the moment: nothing is loaded from YouTube.
        youtube = framed.frame.locator("a[href^='https://www.youtube.com/']").get_attribute("href")
        assert youtube.startswith(f"https://www.youtube.com/watch?v={YOUTUBE_ID}&t=")
        assert not [u for u in framed.requests if "youtube" in u]
        assert framed.frame.evaluate("window.__pwned") is None
        assert not framed.errors, framed.errors
    finally:
        framed.close()


def test_only_the_embeds_can_be_framed_by_another_site(browser, host_site, widget_api, talks):
    """The pages show what third-party feeds wrote; another site framing them could dress them up and take the
    visitor's clicks (clickjacking). They say so to the browser (frame-ancestors 'self', and X-Frame-Options for
    browsers that know no CSP); the embeds, made to be framed, keep their own policy."""
    for path in ("/", f"/talks/{talks['t01']}", "/widget"):
        iframe = f'<iframe src="{widget_api.base}{path}" width="640" height="420" title="page"></iframe>'
        framed = Framed(browser, host_site, "/framing.html", iframe)
        try:
            assert framed.frame.url.startswith("chrome-error:"), (path, framed.frame.url)  # refused to show it
        finally:
            framed.close()
    for path in ("/", f"/talks/{talks['t01']}", "/api/talks", "/docs", "/api/search?q=", "/nowhere"):
        headers = httpx.get(f"{widget_api.base}{path}", timeout=60).headers
        assert "frame-ancestors 'self'" in headers["content-security-policy"], path
        assert headers["x-frame-options"] == "SAMEORIGIN" and headers["x-content-type-options"] == "nosniff", path


def test_an_embedded_search_says_when_no_moment_holds_the_quoted_phrase(widget_api):
    page = httpx.get(f"{widget_api.base}/embed", params={"q": '"storage object"'}, timeout=60).text
    assert "No moment holds “storage object” word for word; these are the closest." in html.unescape(page)
    assert "word for word" not in httpx.get(f"{widget_api.base}/embed", params={"q": '"object storage"'},
                                            timeout=60).text
    page = httpx.get(f"{widget_api.base}/embed", params={"q": "zebra giraffe"}, timeout=60).text
    assert "No talk searched says “zebra giraffe”: these are the closest in meaning or sound." in html.unescape(page)


def _shown(page: str) -> list[tuple[str, str]]:
    """The moments an embedded search lists, (talk id, start as its link writes it), in order."""
    return re.findall(r'<a class="time" href="[^"]*/embed/talks/([^"?]+)\?t=([^"]+)"', page)


def _link(page: str, kind: str) -> str | None:
    found = re.search(rf'<a class="{kind}" href="([^"]+)"', page)
    return html.unescape(found[1]) if found else None


def test_an_embedded_search_groups_and_pages_as_the_api_does(widget_api):
    """`group=talk` and `offset` were ignored by /embed: ten moments, several of one talk, where the API gave one a
    talk; and no way on to the next page in the frame."""
    from talksearch.timecode import url_seconds

    def api(**params) -> list[tuple[str, str]]:
        found = httpx.get(f"{widget_api.base}/api/search", params={"q": "checkpoint", **params}, timeout=60).json()
        return [(r["talk"]["id"], url_seconds(r["start"])) for r in found["results"]]

    grouped = httpx.get(f"{widget_api.base}/embed", params={"q": "checkpoint", "group": "talk"}, timeout=60).text
    assert _shown(grouped) == api(group="talk"), _shown(grouped)
    first = httpx.get(f"{widget_api.base}/embed", params={"q": "checkpoint", "group": "talk", "limit": 1}, timeout=60)
    assert first.status_code == 200
    assert _shown(first.text) == api(group="talk", limit=1), first.text
    assert len(api(group="talk")) == len({talk for talk, _ in api(group="talk")}) == 2  # one a talk, of two
    # the box searches again grouped, and the full page shows the same search grouped
    assert '<input type="hidden" name="group" value="talk">' in first.text
    full_page = html.unescape(re.search(r'<a href="([^"]+)" target="_blank"', first.text)[1])
    assert parse_qs(urlsplit(full_page).query) == {"q": ["checkpoint"], "group": ["talk"]}, full_page
    assert _link(first.text, "previous") is None  # the first page
    more = _link(first.text, "more")
    assert more is not None and parse_qs(urlsplit(more).query) == {"q": ["checkpoint"], "limit": ["1"],
                                                                    "group": ["talk"], "offset": ["1"]}, more
    second = httpx.get(f"{widget_api.base}{more}", timeout=60).text
    assert _shown(second) == api(group="talk", limit=1, offset=1) and _shown(second) != _shown(first.text)
    assert parse_qs(urlsplit(_link(second, "previous")).query) == {"q": ["checkpoint"], "limit": ["1"],
                                                                   "group": ["talk"]}
    assert _link(second, "more") is None  # two talks: no third page
    # moments page as the API's do too; a page past the last says so, and leads back to the first
    assert _shown(httpx.get(f"{widget_api.base}/embed", params={"q": "checkpoint", "offset": 2}, timeout=60).text) == \
        api(offset=2)
    past = httpx.get(f"{widget_api.base}/embed", params={"q": "checkpoint", "group": "talk", "offset": 5}, timeout=60)
    assert "No more talks past 5 for" in past.text and "First results" in past.text
    assert parse_qs(urlsplit(_link(past.text, "previous")).query) == {"q": ["checkpoint"], "group": ["talk"]}
    for refused in ({"group": "moments"}, {"offset": -1}, {"offset": 10_001}):  # in the one error shape, as the API
        assert_error(httpx.get(f"{widget_api.base}/embed", params={"q": "checkpoint", **refused}, timeout=60), 422,
                     "invalid_request")
    # a grouped search page pasted into an oEmbed consumer: its iframe is grouped too
    search = httpx.get(f"{widget_api.base}/oembed", params={"url": f"{widget_api.base}/?q=power+capping&group=talk"},
                       timeout=60)
    assert f'src="{widget_api.base}/embed?q=power+capping&amp;group=talk"' in search.json()["html"]


def test_embed_links_that_open_a_new_tab_say_so(widget_api, talks):
    """A screen reader hears that a link leaves the frame for a new tab (WCAG 3.2.5 advises it; a keyboard hunt)."""
    import re

    for path in ("/embed?q=checkpoint", f"/embed/talks/{talks['t01']}?t=3"):
        page = httpx.get(f"{widget_api.base}{path}", timeout=60).text
        leaving = re.findall(r'<a [^>]*target="_blank"[^>]*>(.*?)</a>', page, re.S)
        assert leaving and all("(opens in a new tab)" in link for link in leaving), (path, leaving)


def test_embed_pages_carry_their_policy(widget_api, talks):
    for path in ("/embed", f"/embed/talks/{talks['t01']}?t=3"):
        response = httpx.get(f"{widget_api.base}{path}", timeout=60)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp and csp.endswith("frame-ancestors *")
        assert "x-frame-options" not in response.headers
    assert content_security_policy("https://wiki.example.org 'self'").endswith(
        "frame-ancestors https://wiki.example.org 'self'")
    # The media origin comes from the catalog: rebuilt from its parts, or left out, never pasted in.
    assert media_origin("http://media.example:8080/a.ogg#t=3") == "http://media.example:8080"
    assert media_origin("http://[::1]:9/a.ogg") == "http://[::1]:9"
    assert media_origin("http://a;script-src *@host.example/a.ogg") == "http://host.example"
    assert media_origin("http://x y;/a.ogg") is None and media_origin("file:///a.ogg") is None
    with pytest.raises(ValidationError):  # a value that would end the directive and add its own
        Settings(library="unused", embed_frame_ancestors="* ; script-src *")
    assert_error(httpx.get(f"{widget_api.base}/embed/talks/nope", timeout=60), 404, "not_found")
    assert_error(httpx.get(f"{widget_api.base}/embed/talks/{talks['t01']}?t=-1", timeout=60), 422, "invalid_request")
    # a talk page's t= pasted into an embed's: the same moment (a clock was a 422), anything else still refused
    # ... a media fragment's too (npt:7, 7,20: its start), as the talk page and oEmbed read them
    for written in ("0:07", "7s", "0h0m7s", "7", "npt:7", "7,20", "npt:0:07,0:20"):
        page = httpx.get(f"{widget_api.base}/embed/talks/{talks['t01']}", params={"t": written}, timeout=60)
        assert page.status_code == 200 and "#t=7" in page.text, (written, page.text[:300])
    for refused in ("seven", "-0:07", "1:2:3:4", "10000000"):
        said = assert_error(httpx.get(f"{widget_api.base}/embed/talks/{talks['t01']}", params={"t": refused},
                                      timeout=60), 422, "invalid_request")["message"]
        # the limit named (a number past it was refused as "not a time: a finite number of seconds", no more)
        assert said.startswith("t: not a time: a finite number of seconds under 10,000,000 (75, 75.5)"), said


def test_oembed_turns_a_talk_link_into_its_iframe(widget_api, talks):
    page = httpx.get(f"{widget_api.base}/talks/{talks['t02']}?t=12", timeout=60).text
    start = page.index('type="application/json+oembed"')
    href = html.unescape(page[start:page.index(">", start)].split('href="')[1].split('"')[0])
    assert href.startswith(f"{widget_api.base}/oembed?url=")
    assert parse_qs(urlsplit(href).query)["url"] == [f"{widget_api.base}/talks/{talks['t02']}?t=12"]
    answer = httpx.get(href, timeout=60).json()
    assert answer["type"] == "rich" and answer["version"] == "1.0" and answer["title"] == HOSTILE_TITLE
    assert answer["provider_url"] == f"{widget_api.base}/"
    assert f'src="{widget_api.base}/embed/talks/{talks["t02"]}?t=12"' in answer["html"]
    assert f'title="{html.escape(HOSTILE_TITLE, quote=True)}"' in answer["html"] and "<img" not in answer["html"]

    small = httpx.get(f"{widget_api.base}/oembed", params={"url": f"{widget_api.base}/talks/{talks['t01']}", "maxwidth": 300},
                      timeout=60).json()
    assert small["width"] == 300 and f'width="300"' in small["html"]
    assert 'style="border:0;max-width:100%"' in small["html"]  # pasted in a phone's page, never wider than it
    search = httpx.get(f"{widget_api.base}/oembed", params={"url": f"{widget_api.base}/?q=power+capping&speaker=A"}, timeout=60)
    assert f'src="{widget_api.base}/embed?q=power+capping&amp;speaker=A"' in search.json()["html"]
    for url in (f"{widget_api.base}/talks/nope", "https://elsewhere.example/about", "not a url",
                "http://[::1/talks/x"):
        assert_error(httpx.get(f"{widget_api.base}/oembed", params={"url": url}, timeout=60), 404, "not_found")
    assert_error(httpx.get(f"{widget_api.base}/oembed", params={"url": f"{widget_api.base}/talks/{talks['t01']}",
                                                          "format": "xml"}, timeout=60), 422, "invalid_request")
    # a search the embed would refuse (no language code) is refused here, not handed out as an iframe
    refused = httpx.get(f"{widget_api.base}/oembed", params={"url": f"{widget_api.base}/?q=power&language=english"},
                        timeout=60)
    assert "'english' is not a language code" in assert_error(refused, 422, "invalid_request")["message"]


def test_a_page_on_another_site_calls_mcp_and_reads_a_media_range(browser, host_site):
    """In Chromium, from a page on another origin: a tools/call to /mcp, and a Range fetch of a local talk's
    /media whose Content-Range the page can read (it got the 206 but saw null)."""
    server, local = read_server(), talk_ids()["local"]
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(host_site.page("/assistant.html", "<p>an assistant on another site</p>"))
        seen = page.evaluate("""async ([base, local, query]) => {
            const call = await fetch(base + '/mcp', {method: 'POST', body: JSON.stringify({jsonrpc: '2.0', id: 1,
                method: 'tools/call', params: {name: 'search_talks', arguments: {query, limit: 3}}}), headers: {
                'Content-Type': 'application/json', Accept: 'application/json, text/event-stream',
                'MCP-Protocol-Version': '2025-06-18'}});
            const media = await fetch(base + '/media/' + local, {headers: {Range: 'bytes=0-9'}});
            return {call: call.status, moments: (await call.json()).result.structuredContent.moments.length,
                    media: media.status, range: media.headers.get('Content-Range'),
                    ranges: media.headers.get('Accept-Ranges'), length: media.headers.get('Content-Length')};
        }""", [server.base, local, "checkpoints to object storage"])
    finally:
        context.close()
    assert seen["call"] == 200 and seen["moments"] > 0, seen
    assert seen["media"] == 206 and seen["range"].startswith("bytes 0-9/") and seen["ranges"] == "bytes", seen
    assert seen["length"] == "10", seen


def test_oembed_refuses_the_filters_the_embed_refuses(widget_api):
    def oembed(search: str) -> httpx.Response:
        return httpx.get(f"{widget_api.base}/oembed", params={"url": f"{widget_api.base}/?q=gang&{search}"}, timeout=60)

    for filters, said in (("published_after=garbage", "published_after: "),
                          ("published_before=2024-13-01", "published_before: "),
                          ("speaker=" + "x" * 201, "at most 200 characters")):
        refused = assert_error(httpx.get(f"{widget_api.base}/embed?q=gang&{filters}", timeout=60), 422, "invalid_request")
        assert said in refused["message"], refused
        assert assert_error(oembed(filters), 422, "invalid_request") == refused, filters  # the same answer, word for word
    fine = oembed("published_after=2024-01-01")
    assert fine.status_code == 200 and "published_after=2024-01-01" in fine.json()["html"]


def test_the_widget_page_shows_both_ways_to_embed(widget_api):
    page = httpx.get(f"{widget_api.base}/widget", timeout=60).text
    # both shown as code to copy: escaped in the page, whole once unescaped
    assert "&lt;script src=" in page and "&lt;iframe src=" in page
    assert f'<iframe src="{widget_api.base}/embed"' in html.unescape(page)
    assert "/oembed?url=" in page
