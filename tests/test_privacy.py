"""What a talk page tells third parties before the visitor does anything: nothing, in real headless Chromium.

A YouTube talk's page shows a button in place of YouTube's player: YouTube hears of the visit only when the visitor
asks to play (the button, a sentence, a moment), and then its player comes from youtube-nocookie.com. A talk whose
media is on another host fetches nothing from that host until it is played. The library and servers are
test_widget's: the indexed test talks, one of them made a YouTube talk, the other's media on the feed's host; the
one stand-in is test_widget's for YouTube's IFrame API (this machine is offline), which records how it is driven.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from tests.test_accessibility import _violations
from tests.test_widget import YOUTUBE_ID, YOUTUBE_STAND_IN, hostile_library, widget_api  # noqa: F401 (fixtures)

pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.browser, pytest.mark.models]

NOCOOKIE = "https://www.youtube-nocookie.com"
IFRAME_API = "https://www.youtube.com/iframe_api"
LOOPBACK = ("127.0.0.1", "localhost")


class Visit:
    """A fresh context that records every URL fetched; YouTube's API is the stand-in, any other third party is
    refused (it is recorded first)."""

    def __init__(self, browser, **context):
        self.context = browser.new_context(**context)
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.context.on("request", lambda r: self.requests.append(r.url))
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.set_default_timeout(60_000)  # the machine is shared; nothing here asserts on durations
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    @staticmethod
    def _route(route):
        url = route.request.url
        if url == IFRAME_API:
            route.fulfill(body=YOUTUBE_STAND_IN, content_type="text/javascript")
        elif urlsplit(url).hostname in LOOPBACK:
            route.continue_()
        else:
            route.abort()

    def open(self, url: str) -> None:
        self.page.goto(url, wait_until="networkidle")

    def third_parties(self, api_base: str) -> list[str]:
        return [u for u in self.requests if not u.startswith((api_base, "data:"))]

    def close(self):
        self.context.close()


def _sentences(api_base: str, talk_id: str) -> list[dict]:
    response = httpx.get(f"{api_base}/api/talks/{talk_id}/transcript", timeout=60)
    response.raise_for_status()
    return response.json()["segments"]


def _remote_talk(api_base: str) -> dict:
    """The talk whose media is on the feed's host (the other is the YouTube talk)."""
    talks = httpx.get(f"{api_base}/api/talks", timeout=60).json()["talks"]
    (talk,) = [t for t in talks if t["media_url"] and urlsplit(t["media_url"]).scheme == "http"]
    return talk


def test_a_youtube_talk_page_contacts_youtube_only_when_asked_to_play(widget_api, hostile_library, browser):
    _, talk_id = hostile_library
    moment = _sentences(widget_api.base, talk_id)[2]["start"]
    visit = Visit(browser)
    visit.open(f"{widget_api.base}/talks/{talk_id}?t={moment}")
    assert visit.third_parties(widget_api.base) == []
    play = visit.page.get_by_role("button", name="Play here (loads YouTube's player)")
    assert play.is_visible() and visit.page.locator("#yt-open").is_hidden()  # the link is for pages without scripts
    play.focus()
    visit.page.keyboard.press("Enter")  # a keyboard reaches it as a mouse does
    yt = visit.page.wait_for_function("() => window.__yt && window.__yt.playing && window.__yt").json_value()
    assert yt["host"] == NOCOOKIE and yt["videoId"] == YOUTUBE_ID
    assert yt["start"] == int(moment) and yt["seeks"] == [moment]  # at the link's moment
    assert visit.third_parties(widget_api.base) == [IFRAME_API]  # the API's script; its player is from NOCOOKIE
    assert visit.page.evaluate("document.activeElement.localName") == "iframe"  # the focus goes on to the player
    # loaded, the page behaves as before: a sentence seeks the player and the address follows
    later = visit.page.locator("#transcript .s").last
    later.click()
    start = float(later.get_attribute("data-start"))
    assert visit.page.evaluate("window.__yt.seeks.at(-1)") == start
    assert visit.page.evaluate("location.search") == f"?t={round(start, 2):g}"
    visit.page.wait_for_function("(s) => document.querySelector('#transcript .s.now') === s", arg=later.element_handle())
    assert visit.errors == []
    visit.close()


@pytest.mark.parametrize("how", ["sentence", "moment link"])
def test_a_moment_asked_for_before_the_player_loads_it_and_plays_there(widget_api, hostile_library, browser, how):
    _, talk_id = hostile_library
    visit = Visit(browser)
    visit.open(f"{widget_api.base}/talks/{talk_id}")
    target = visit.page.locator("#transcript .s").nth(1) if how == "sentence" else visit.page.locator("#transcript a.ts").first
    at = float(target.get_attribute("data-start") or target.get_attribute("data-seek"))
    assert visit.third_parties(widget_api.base) == []
    target.click()
    yt = visit.page.wait_for_function("() => window.__yt && window.__yt.playing && window.__yt").json_value()
    assert yt["host"] == NOCOOKIE and yt["start"] == int(at) and yt["seeks"] == [at]
    # the reader stays where they clicked: the player takes the focus from its own button only
    assert visit.page.evaluate("document.activeElement.localName") != "iframe"
    assert visit.errors == []
    visit.close()


def test_where_youtubes_script_cannot_load_the_page_says_so_and_links_from_the_moment_asked(widget_api, hostile_library,
                                                                                             browser):
    _, talk_id = hostile_library
    later = _sentences(widget_api.base, talk_id)[2]["start"]
    visit = Visit(browser)
    visit.context.unroute("**/*")
    visit.context.route("**/*", lambda route: route.abort() if route.request.url == IFRAME_API else route.continue_())
    visit.open(f"{widget_api.base}/talks/{talk_id}")
    visit.page.locator("#transcript .s").nth(2).click()  # asked to play from there; the script fails to load
    link = visit.page.locator("#yt-open")
    link.wait_for(state="visible")
    assert link.text_content() == f"YouTube's player could not be loaded: watch on YouTube from 0:{int(later):02d}"
    assert link.get_attribute("href").endswith(f"t={int(later)}s")
    visit.close()


def test_without_scripts_a_youtube_talk_links_to_youtube_at_the_moment(widget_api, hostile_library, browser):
    _, talk_id = hostile_library
    moment = _sentences(widget_api.base, talk_id)[2]["start"]
    visit = Visit(browser, java_script_enabled=False)
    visit.open(f"{widget_api.base}/talks/{talk_id}?t={moment}")
    link = visit.page.locator("#yt-open")
    assert link.get_attribute("href") == f"https://www.youtube.com/watch?v={YOUTUBE_ID}&t={int(moment)}s"
    assert link.is_visible() and visit.page.locator("#yt-play").is_hidden()
    assert visit.third_parties(widget_api.base) == []
    visit.close()


def test_a_youtube_talk_page_before_play_passes_axe(widget_api, hostile_library, browser):
    _, talk_id = hostile_library
    found = {}
    for scheme in ("light", "dark"):
        for viewport in ({"width": 1280, "height": 800}, {"width": 375, "height": 667}):
            visit = Visit(browser, color_scheme=scheme, viewport=viewport)
            visit.open(f"{widget_api.base}/talks/{talk_id}?t=3")
            if violations := _violations(visit.page):
                found[f"{scheme} {viewport['width']}"] = violations
            visit.close()
    assert not found, found


@pytest.mark.parametrize("moment_in", ["query", "fragment"])
def test_a_remote_media_talk_page_fetches_nothing_from_its_host_before_play(widget_api, browser, moment_in):
    """?t= (the server reads it) and #t= (the page does) still start the player at the moment, once played; the
    length is the catalog's until then."""
    talk = _remote_talk(widget_api.base)
    moment = _sentences(widget_api.base, talk["id"])[1]["start"]
    media_host = "{0.scheme}://{0.netloc}".format(urlsplit(talk["media_url"]))
    visit = Visit(browser)
    visit.open(f"{widget_api.base}/talks/{talk['id']}" + (f"?t={moment}" if moment_in == "query" else f"#t={moment}"))
    media = visit.page.locator("#media")
    assert media.get_attribute("preload") == "none"
    assert not [u for u in visit.requests if u.startswith(media_host)]
    assert visit.page.locator(".talk-head .meta").first.inner_text().count(":") >= 1  # the catalog's duration
    media.evaluate("m => m.play()")
    visit.page.wait_for_function("([m, t]) => m.readyState >= 1 && m.currentTime >= t - 0.05",
                                 arg=[media.element_handle(), moment])
    assert [u for u in visit.requests if u.startswith(media_host)]
    assert visit.errors == []
    visit.close()


def test_an_embedded_remote_media_talk_fetches_nothing_from_its_host_before_play(widget_api, browser):
    talk = _remote_talk(widget_api.base)
    media_host = "{0.scheme}://{0.netloc}".format(urlsplit(talk["media_url"]))
    visit = Visit(browser)
    visit.open(f"{widget_api.base}/embed/talks/{talk['id']}?t=2")
    assert visit.page.locator("video, audio").first.get_attribute("preload") == "none"
    assert not [u for u in visit.requests if u.startswith(media_host)]
    visit.close()


def test_a_sentence_clicked_before_remote_media_is_read_plays_from_that_sentence(widget_api, browser):
    """Not from the link's moment, which the player would otherwise go to once it has read the recording."""
    talk = _remote_talk(widget_api.base)
    sentences = _sentences(widget_api.base, talk["id"])
    visit = Visit(browser)
    visit.open(f"{widget_api.base}/talks/{talk['id']}?t={sentences[1]['start']}")
    target = visit.page.locator("#transcript .s").nth(3)
    at = float(target.get_attribute("data-start"))
    target.click()
    media = visit.page.locator("#media").element_handle()
    visit.page.wait_for_function("([m, t]) => m.readyState >= 1 && !m.seeking && m.currentTime >= t - 0.05",
                                 arg=[media, at])
    visit.page.wait_for_timeout(500)  # a seek back to the link's moment would come as it reads the recording
    assert visit.page.evaluate("m => m.currentTime", media) >= at - 0.05
    assert visit.errors == []
    visit.close()
