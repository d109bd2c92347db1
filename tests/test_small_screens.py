"""The pages on small screens, touch and paper, in real headless Chromium against the real service.

A hunt on phones found: a long word in a title (a package's dotted name, a file name) made the search page, the talk
page and the embeds scroll sideways at 320px (and a phone then drew the whole page at half size); a printed talk
page lost most of its transcript to the scrolling box it has on a wide screen; a swipe on a phone that started on
the video, not the transcript, did not stop the page jumping back to the spoken sentence; the search page's video
played full screen on an iPhone (no playsinline); the widget page's iframe code widened a phone page to 656px; an
untitled chapter (a library indexed before they were dropped) was listed as "None".

The library is built here from captions alone (no transcription): one short video talk with a sidecar .info.json
giving it a long-word title, speakers, chapters and a description.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html import unescape

import pytest

from tests.service_fixtures import index_quietly, serving, settings_for, untitle_first_chapter
from tests.test_widget import HostSite

pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.models,
              pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs ffmpeg")]

LONG = "supercalifragilisticexpialidocious_reproducibility_toolkit_v2.3.4"
DOTTED = "torch.distributed.elastic.multiprocessing"
TITLE = f"Restarting jobs with {DOTTED} ({LONG})"
SECONDS = 60
QUERY = "toolkit"
NARROW = {"width": 320, "height": 568}
PHONE = {"width": 375, "height": 667}
A4_LANDSCAPE = {"width": 1123, "height": 794}  # 297 x 210 mm at 96 CSS px to the inch


def _said_at(second: int) -> str:
    if second % 10 == 5:
        return f"The {QUERY} is called {LONG} and wraps {DOTTED}."
    return f"Sentence number {second} of the talk, said at second {second}."


@pytest.fixture(scope="module")
def site(light_embedding, tmp_path_factory):
    """The service over a library of the one captioned video talk, and the talk's id. Its first chapter's title is
    made null in the catalog, as a library indexed before untitled chapters were dropped has it."""
    folder = tmp_path_factory.mktemp("small-talk")
    video = folder / "restarts.webm"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"color=c=0x334455:s=160x90:r=2:d={SECONDS}",
                    "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", str(SECONDS), "-c:v", "libvpx",
                    "-b:v", "20k", "-c:a", "libopus", str(video)], check=True)
    cues = [f"00:00:{s:02d}.000 --> 00:00:{s + 1:02d}.000\n{_said_at(s)}" for s in range(SECONDS - 1)]
    video.with_suffix(".en.vtt").write_text("WEBVTT\n\n" + "\n\n".join(cues) + "\n")
    video.with_suffix(".info.json").write_text(json.dumps({
        "title": TITLE, "creators": [f"Maintainer of {LONG}"], "series": f"Workshop on {DOTTED}",
        "description": f"How {LONG} restarts the jobs.\nA second paragraph.",
        "chapters": [{"start_time": 0, "end_time": 12, "title": "Untitled, soon"},
                     {"start_time": 12, "end_time": 30, "title": f"Inside {DOTTED}"},
                     {"start_time": 30, "title": "Results"}]}))
    settings = settings_for(tmp_path_factory.mktemp("small-lib") / "library")
    index_quietly(settings, [str(folder)], added=1)
    untitle_first_chapter(settings.library)
    with serving(settings) as server:
        yield server, server.get("/api/talks").json()["talks"][0]["id"]


# In the page: how far it scrolls sideways, and the elements that stick out of the window on the right.
SIDEWAYS = """() => {
  const width = document.documentElement.clientWidth;
  const out = Array.from(document.querySelectorAll('body *'))
    .filter((e) => e.getBoundingClientRect().right > width + 1 && e.getClientRects().length)
    .map((e) => e.tagName.toLowerCase() + (e.className ? '.' + String(e.className).split(' ').join('.') : ''));
  return {scrollWidth: document.documentElement.scrollWidth, width, out: out.slice(0, 8)};
}"""


def test_a_long_word_wraps_at_320px_on_every_page(browser, site):
    """A title, a speaker, a snippet, a sentence and a chapter with a 66-letter word in them wrap inside their boxes:
    no page scrolls sideways at 320px (WCAG 1.4.10), as a phone with the page at its width shows it."""
    server, talk_id = site
    context = browser.new_context(viewport=NARROW)
    page = context.new_page()
    wide = {}
    for path in ("/", f"/?q={QUERY}", f"/?q={QUERY}&group=talk", f"/talks/{talk_id}?t=15",
                 f"/embed?q={QUERY}", f"/embed/talks/{talk_id}?t=15"):
        page.goto(server.base + path)
        assert LONG in page.inner_text("body"), path  # the word is there to wrap
        seen = page.evaluate(SIDEWAYS)
        if seen["scrollWidth"] > seen["width"] or seen["out"]:
            wide[path] = seen
    context.close()
    assert not wide, wide


def test_an_untitled_chapter_is_listed_by_its_number(site):
    """Not as "None": a chapter without a title, as a library indexed before they were dropped has one."""
    server, talk_id = site
    html = server.get(f"/talks/{talk_id}").text
    listed = html.split('aria-label="Chapters"')[1].split("</nav>")[0]
    chapters = " ".join(re.sub(r"<[^>]+>", " ", listed).split())  # its words, as read
    assert "None" not in chapters
    assert "0:00 Chapter 1 " in chapters and f"Inside {DOTTED}" in chapters, chapters


def test_a_printed_talk_page_holds_its_whole_transcript_and_no_controls(browser, site):
    """Printed on A4 landscape (a page wide enough for the two columns), the transcript is not the scrolling box of
    the screen: its last sentence is printed. The player and the forms are not; the chapters' and About's words
    are, About's while it is closed."""
    server, talk_id = site
    context = browser.new_context(viewport=A4_LANDSCAPE)
    page = context.new_page()
    page.goto(f"{server.base}/talks/{talk_id}")
    page.emulate_media(media="print")
    printed = page.evaluate("""() => {
      const shown = (e) => !!e && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden';
      const transcript = document.getElementById('transcript');
      const last = Array.from(transcript.querySelectorAll('.s')).pop();
      // the last sentence is within every box around it that would clip it
      let clipped = false;
      for (let e = last.parentElement; e && e !== document.body; e = e.parentElement) {
        if (getComputedStyle(e).overflowY !== 'visible'
            && last.getBoundingClientRect().bottom > e.getBoundingClientRect().bottom + 1) clipped = true;
      }
      const about = document.querySelector('.about p');
      return {clipped, scrolls: transcript.scrollHeight > transcript.clientHeight + 1,
              controls: ['#media', '#find', '#follow', '#copy-moment', '#related-btn'].filter(
                (s) => shown(document.querySelector(s))),
              chapters: shown(document.querySelector('.chapters')),
              about: shown(about) && about.getBoundingClientRect().height > 0 && !document.querySelector('.about').open};
    }""")
    context.close()
    assert printed == {"clipped": False, "scrolls": False, "controls": [], "chapters": True, "about": True}, printed


def test_a_printed_talk_page_does_not_highlight_the_spoken_sentence(browser, site):
    """The sentence being spoken (``.now``, a link's moment) and the keyboard's place are the screen's: on paper that
    sentence looks as every other one (its highlight was printed half faded: the screen's transition ran on)."""
    server, talk_id = site
    context = browser.new_context(viewport=A4_LANDSCAPE)
    page = context.new_page()
    page.goto(f"{server.base}/talks/{talk_id}?t=15")
    page.wait_for_selector(".s.now")
    page.focus(".s.now")  # as after a click on it, or the keyboard's Enter
    page.emulate_media(media="print")  # read at once, as a browser prints: a fading highlight was printed mid-fade
    looks = page.evaluate("""() => {
      const look = (e) => { const c = getComputedStyle(e);
        return [c.backgroundColor, c.boxShadow, c.outlineStyle, c.color, c.fontWeight, c.textDecorationLine]; };
      return {now: look(document.querySelector('.s.now')), other: look(document.querySelector('.s:not(.now)'))};
    }""")
    context.close()
    assert looks["now"] == looks["other"], looks


def test_the_search_pages_play_buttons_print_legibly(browser, site):
    """Browsers print no backgrounds by default: a play button's time, in the page's background colour on an accent
    background, would be printed white on white. In print it is the text's colour."""
    server, _ = site
    context = browser.new_context(viewport=A4_LANDSCAPE)
    page = context.new_page()
    page.goto(f"{server.base}/?q={QUERY}")
    page.emulate_media(media="print")
    colours = page.eval_on_selector(".play", """(e) => [getComputedStyle(e).color,
                                                       getComputedStyle(document.body).color]""")
    context.close()
    assert colours[0] == colours[1], colours


def test_a_swipe_on_the_page_pauses_following_on_a_phone(browser, site):
    """On a phone the page scrolls, not the transcript. The player moving on scrolls its sentence into view, unless
    the reader has just scrolled, whether the swipe (a wheel here) began on the transcript or on the video above it."""
    server, talk_id = site
    context = browser.new_context(viewport=PHONE, reduced_motion="reduce")  # following scrolls at once
    page = context.new_page()
    page.goto(f"{server.base}/talks/{talk_id}")
    page.wait_for_function("document.getElementById('media').readyState >= 1")
    seek = """(t) => new Promise((done) => { const m = document.getElementById('media');
      m.addEventListener('seeked', () => setTimeout(done, 50), {once: true}); m.currentTime = t; })"""
    page.evaluate(seek, 55)  # followed: the page scrolls down to the sentence
    followed = page.evaluate("scrollY")
    assert followed > 100
    video = page.locator("#media").bounding_box()
    page.mouse.move(video["x"] + video["width"] / 2, video["y"] + video["height"] / 2)
    page.mouse.wheel(0, -300)  # the reader scrolls up, from the video
    page.wait_for_function(f"scrollY < {followed}")
    page.wait_for_timeout(200)
    read = page.evaluate("scrollY")
    page.evaluate(seek, 58)
    assert page.evaluate("scrollY") == read, (followed, read)
    context.close()


def test_the_search_pages_video_plays_inline(browser, site):
    """An iPhone plays a video without playsinline full screen: the search page's, as the talk page's, has it."""
    server, _ = site
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(f"{server.base}/?q={QUERY}")
    page.click(".result .play")
    assert page.locator(".player-slot video").get_attribute("playsinline") is not None
    context.close()


def test_the_widget_pages_iframe_code_fits_a_phone(browser, site):
    """The iframe the /widget page offers, pasted into a blog read on a phone, is no wider than the phone."""
    server, _ = site
    html = server.get("/widget").text
    codes = [unescape(code) for code in re.findall(r"&lt;iframe src.*?&lt;/iframe&gt;", html, re.S)]
    assert len(codes) >= 2, html
    host = HostSite()
    context = browser.new_context(viewport=NARROW)
    page = context.new_page()
    try:
        for code in codes:
            page.goto(host.page("/blog", code))
            seen = page.evaluate(SIDEWAYS)
            frame = page.locator("iframe").bounding_box()
            assert seen["scrollWidth"] <= seen["width"], (code, seen)
            assert frame["height"] >= 200, (code, frame)  # still a usable height
    finally:
        context.close()
        host.close()


def test_text_doubles_at_200_percent_zoom(browser, site):
    """A 1920px window zoomed to 200% is 960 CSS pixels wide, each two device pixels: text sized in CSS pixels the
    same at both widths is twice as large (WCAG 1.4.4). Sized by the viewport's width, it grew 1.5 times."""
    server, talk_id = site
    sizes = {}
    for width in (1920, 960):
        context = browser.new_context(viewport={"width": width, "height": 1000})
        page = context.new_page()
        page.goto(f"{server.base}/talks/{talk_id}")
        sizes[width] = page.evaluate("""() => ['.transcript p', 'h1', '.meta'].map(
            (s) => parseFloat(getComputedStyle(document.querySelector(s)).fontSize))""")
        context.close()
    assert sizes[960] == sizes[1920] and sizes[1920][0] <= 20, sizes  # and no larger on a desktop than a reader's own
