"""The talk page with a keyboard and a screen reader, in real headless Chromium against the real service.

A hunt driving the page by keys found: following the talk scrolled the focused element out of view (the Find box
as one typed in it, at the one column 200% zoom gives; a sentence Tabbed to, in two columns) and scrolled the page
as well as the transcript; YouTube's player failing to load was not announced and left focus on a button that did
nothing more; Find's moments were links named only by a time ("0:54"); the playing chapter was not marked, and the
sentences Find matched were marked by colour alone.

The library is built here from captions alone (no transcription): a one-minute video talk with a sentence a second
and three chapters, and a short talk made a YouTube talk in the catalog (this machine is offline: YouTube's API is
refused, as a blocked network refuses it).
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess

import pytest

from tests.service_fixtures import index_quietly, serving, settings_for

pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.models,
              pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs ffmpeg")]

SECONDS = 60
WORD = "wombat"
ONE_COLUMN = {"width": 640, "height": 400}  # a 1280x800 window at 200% zoom
TWO_COLUMNS = {"width": 1366, "height": 600}
CHAPTERS = [{"start_time": 0, "end_time": 20, "title": "Opening"},
            {"start_time": 20, "end_time": 40, "title": "Burrows"},
            {"start_time": 40, "title": "Questions"}]


def _said_at(second: int) -> str:
    if second % 15 == 7:
        return f"Here the {WORD} digs a burrow, at second {second}."
    return f"Sentence number {second} of the talk, said at second {second}."


def _video(path, seconds: int) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"color=c=0x334455:s=160x90:r=2:d={seconds}",
                    "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", str(seconds), "-c:v", "libvpx",
                    "-b:v", "20k", "-c:a", "libopus", str(path)], check=True)


@pytest.fixture(scope="module")
def site(light_embedding, tmp_path_factory):
    """The service over the two talks; the video talk's id and the YouTube talk's."""
    folder = tmp_path_factory.mktemp("keyboard-talks")
    talk, other = folder / "burrows.webm", folder / "elsewhere.webm"
    _video(talk, SECONDS)
    _video(other, 10)
    cues = [f"00:00:{s:02d}.000 --> 00:00:{s + 1:02d}.000\n{_said_at(s)}" for s in range(SECONDS - 1)]
    talk.with_suffix(".en.vtt").write_text("WEBVTT\n\n" + "\n\n".join(cues) + "\n")
    talk.with_suffix(".info.json").write_text(json.dumps({"title": "Burrows", "chapters": CHAPTERS}))
    other.with_suffix(".en.vtt").write_text("WEBVTT\n\n00:00:00.000 --> 00:00:09.000\nA talk on YouTube about kelp.\n")
    other.with_suffix(".info.json").write_text(json.dumps({"title": "Kelp forests"}))
    settings = settings_for(tmp_path_factory.mktemp("keyboard-lib") / "library")
    index_quietly(settings, [str(folder)], added=2)
    with sqlite3.connect(settings.library / "catalog.sqlite") as catalog:
        catalog.execute("UPDATE talks SET extractor = 'Youtube', source_id = 'dQw4w9WgXcQ', media_url = NULL, "
                        "url = 'https://www.youtube.com/watch?v=dQw4w9WgXcQ' WHERE title = 'Kelp forests'")
    catalog.close()
    with serving(settings) as server:
        ids = {t["title"]: t["id"] for t in server.get("/api/talks").json()["talks"]}
        yield server, ids["Burrows"], ids["Kelp forests"]


def _talk_page(browser, site, viewport: dict):
    """A talk page in its own context (following scrolls at once: reduced motion), its media's length read."""
    server, talk_id, _ = site
    context = browser.new_context(viewport=viewport, reduced_motion="reduce")
    page = context.new_page()
    page.goto(f"{server.base}/talks/{talk_id}")
    page.wait_for_function("document.getElementById('media').readyState >= 1")
    return context, page


def _play_at(page, seconds: float) -> None:
    """The player moves on to a moment, as it does playing; the page has followed it (or not) when this returns."""
    page.evaluate("""(t) => new Promise((done) => { const m = document.getElementById('media');
      m.addEventListener('seeked', () => setTimeout(done, 100), {once: true}); m.currentTime = t; })""", seconds)
    page.wait_for_function(f"document.querySelector('.s.now')?.dataset.start === '{seconds:.1f}'")


# Where an element is on the screen: within the window and (for one in the transcript) its scrolling box.
IN_VIEW = """(e) => { const box = e.getBoundingClientRect(), t = document.getElementById('transcript');
  const frame = t.contains(e) ? t.getBoundingClientRect() : {top: 0, bottom: innerHeight};
  return {top: box.top, bottom: box.bottom, in_view: box.top >= Math.max(0, frame.top) - 1
          && box.bottom <= Math.min(innerHeight, frame.bottom) + 1}; }"""


def test_following_leaves_the_find_box_typed_in_where_it_is_in_one_column(browser, site):
    """At the one column 200% zoom gives, the page (not the transcript) scrolls: while the reader types in Find, the
    talk moving on does not scroll the box away; once they leave it, following goes on."""
    context, page = _talk_page(browser, site, ONE_COLUMN)
    page.click("#find-q")
    page.keyboard.type("wom")
    before = page.eval_on_selector("#find-q", IN_VIEW)
    assert before["in_view"], before
    _play_at(page, 50)
    assert page.eval_on_selector("#find-q", IN_VIEW) == before
    page.evaluate("document.activeElement.blur()")  # the reader leaves the box: following resumes
    _play_at(page, 55)
    assert page.eval_on_selector(".s.now", IN_VIEW)["in_view"]
    context.close()


def test_following_scrolls_the_transcript_not_the_page_in_two_columns(browser, site):
    """In two columns the transcript is a box of its own: following scrolls it alone, never the page around it. A
    sentence clicked has the focus, the mouse's: following goes on from it."""
    context, page = _talk_page(browser, site, TWO_COLUMNS)
    assert page.evaluate("scrollY") == 0
    page.locator(".s").nth(3).click()
    page.evaluate("document.getElementById('media').pause()")
    _play_at(page, 50)
    assert page.evaluate("document.getElementById('transcript').scrollTop") > 0
    assert page.eval_on_selector(".s.now", IN_VIEW)["in_view"]
    assert page.evaluate("scrollY") == 0
    context.close()


def test_a_sentence_tabbed_to_stays_in_view_while_the_talk_plays_on(browser, site):
    """A keyboard reader reading a sentence they moved to keeps it in view however far the talk goes on, however long
    they read; when they leave it, the transcript follows the talk again."""
    context, page = _talk_page(browser, site, TWO_COLUMNS)
    page.keyboard.press("Shift")  # a key first: the browser then shows focus moved by the page as the keyboard's
    sentence = page.locator(".s").nth(3)
    sentence.evaluate("(e) => e.focus()")
    assert sentence.evaluate("(e) => e.matches(':focus-visible')")
    page.wait_for_timeout(4500)  # past the pause after the reader's last key
    _play_at(page, 50)
    assert sentence.evaluate(IN_VIEW)["in_view"], sentence.evaluate(IN_VIEW)
    page.keyboard.press("Shift+Tab")  # out of the transcript, to the last thing before it
    page.evaluate("document.activeElement.blur()")
    page.wait_for_timeout(4500)
    _play_at(page, 56)
    assert page.eval_on_selector(".s.now", IN_VIEW)["in_view"]
    context.close()


def test_a_youtube_player_that_cannot_load_is_announced_and_its_link_takes_the_focus(browser, site):
    """Enter on "Play here" with YouTube out of reach: said in a status region, and the focus on the link to the talk
    on YouTube that takes the button's place."""
    server, _, youtube = site
    context = browser.new_context()
    context.route("https://www.youtube.com/**", lambda route: route.abort())
    page = context.new_page()
    page.goto(f"{server.base}/talks/{youtube}")
    page.focus("#yt-play")
    page.keyboard.press("Enter")
    page.wait_for_function("!document.getElementById('yt-open').hidden")
    focused = page.evaluate("[document.activeElement.id, document.activeElement.textContent]")
    assert focused == ["yt-open", "YouTube's player could not be loaded: watch on YouTube from 0:00"], focused
    assert page.locator("#yt-play").is_hidden()
    said = page.evaluate("""Array.from(document.querySelectorAll('[role=status]'), (e) => e.textContent.trim())
                              .filter(Boolean)""")
    assert any("could not be loaded" in text for text in said), said
    context.close()


def test_find_names_its_moments_and_marks_its_sentences_for_a_screen_reader(browser, site):
    """Each moment Find lists is a link named by what it does and what is said there, not a bare "0:07"; each
    sentence it marks in the transcript is described as found, as its colour shows."""
    context, page = _talk_page(browser, site, TWO_COLUMNS)
    page.fill("#find-q", WORD)
    page.press("#find-q", "Enter")
    page.wait_for_function("document.querySelectorAll('#find-hits li').length > 0")
    names = page.eval_on_selector_all("#find-hits a.ts", "(links) => links.map((a) => a.getAttribute('aria-label'))")
    assert names and all(re.fullmatch(r"Play from \d+:\d\d: (Sentence|Here) \S.*", name or "") for name in names), names
    assert "Play from 0:07: Here the wombat digs a burrow" in " | ".join(names), names
    found = page.eval_on_selector_all(".s.hit", """(marked) => marked.map((s) => (s.getAttribute('aria-describedby')
        || '').split(' ').map((id) => document.getElementById(id)?.textContent.trim()).join(' '))""")
    assert found and all("found" in said.lower() for said in found), found
    page.fill("#find-q", "")
    page.press("#find-q", "Enter")  # cleared: no sentence is described as found any more
    assert page.eval_on_selector_all(".s[aria-describedby]", "(marked) => marked.length") == 0
    context.close()


def test_the_playing_chapter_is_the_current_one_in_the_chapters_list(browser, site):
    context, page = _talk_page(browser, site, TWO_COLUMNS)
    current = """() => Array.from(document.querySelectorAll('.chapters a'), (a) => a.getAttribute('aria-current'))"""
    _play_at(page, 25)
    assert page.evaluate(current) == [None, "true", None]
    _play_at(page, 45)
    assert page.evaluate(current) == [None, None, "true"]
    _play_at(page, 3)
    assert page.evaluate(current) == ["true", None, None]
    # a second before a chapter starts, as search results name a moment's chapter (a chapters hunt: the page
    # marked the one before, the results the next)
    from talksearch.library import chapter_at

    _play_at(page, 39)
    assert chapter_at(CHAPTERS, 39) == "Questions" and page.evaluate(current) == [None, None, "true"]
    context.close()
