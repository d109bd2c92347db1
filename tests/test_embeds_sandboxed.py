"""The /embed talk page framed as WordPress frames an oEmbed provider it does not trust: ``sandbox="allow-scripts"``
and ``#?secret=`` on the src. The frame's origin is opaque (null), so what it loads from the service is a cross-origin
request: its captions and chapters load only if the player asks for them with CORS (real headless Chromium, a real
service over a talk indexed from a local video with captions and chapters beside it). The search embed's form.
And the talk page's moment links within the page, which no server sees (#t=): a new one followed, one past the end;
and a recording the browser cannot play (an MPEG-TS), said on the page."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.service_fixtures import Server, index_quietly, serving, settings_for, wait_until
from tests.test_widget import CHROMIUM, TIMEOUT_MS, host_site  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.models,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]
SAMPLES = Path(__file__).resolve().parent.parent / "samples"
CAPTIONS = [(0, 6, "Power capping on a campus cluster."), (6, 14, "Energy-aware scheduling, watts per job."),
            (14, 30, "What we measured, and what we changed.")]
CHAPTERS = [{"start_time": 0, "end_time": 14, "title": "Why power"},
            {"start_time": 14, "end_time": 30, "title": "Measured"}]


@pytest.fixture(scope="module")
def local_video_service(tmp_path_factory, light_embedding):
    """The service over one local video talk, its captions (.en.vtt) and chapters (.info.json) beside it."""
    folder = tmp_path_factory.mktemp("sandboxed") / "talks"
    folder.mkdir()
    shutil.copy(SAMPLES / "s01.mp4", folder / "power.mp4")
    info = json.loads((SAMPLES / "s01.info.json").read_text())
    (folder / "power.info.json").write_text(json.dumps({**info, "chapters": CHAPTERS}))
    with _served_with_captions(folder / "power.mp4") as served:
        yield served


@contextmanager
def _served_with_captions(recording: Path, **settings) -> Iterator[tuple[Server, str]]:
    """The service over a folder holding one recording, indexed with CAPTIONS beside it (nothing transcribed), and
    that talk's id; ``settings``, the service's."""
    cues = [f"00:00:{start:02d}.000 --> 00:00:{end:02d}.000\n{text}" for start, end, text in CAPTIONS]
    recording.with_suffix(".en.vtt").write_text("WEBVTT\n\n" + "\n\n".join(cues) + "\n")
    settings = settings_for(recording.parent.parent / "library", **settings)
    index_quietly(settings, [str(recording.parent)], added=1)
    with serving(settings) as server:
        (talk,) = server.get("/api/talks").json()["talks"]
        yield server, talk["id"]


@contextmanager
def _sandboxed(browser, host_site, server: Server, talk_id: str, errors: list[str]) -> Iterator:
    """The talk's embed framed in a page of another site as WordPress frames it (sandboxed: the frame's origin is
    opaque), loaded; the frame. The page's console errors go to ``errors``."""
    iframe = (f'<iframe src="{server.base}/embed/talks/{talk_id}#?secret=abc123" width="600" height="420" title="talk"'
              ' sandbox="allow-scripts" security="restricted"></iframe>')
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.goto(host_site.page("/wordpress.html", iframe))
        frame = page.wait_for_selector("iframe").content_frame()
        frame.wait_for_load_state()
        assert frame.evaluate("origin") == "null"  # sandboxed: the frame's origin is opaque, as on WordPress
        # (polled from here: the embed's policy lets no script of its own run, nor Playwright's string predicates)
        wait_until(lambda: frame.evaluate("document.querySelector('video').readyState") >= 1, "the video to load", 30)
        yield frame
    finally:
        context.close()


def test_a_sandboxed_embed_loads_its_captions_and_chapters(browser, host_site, local_video_service):
    errors: list[str] = []
    with _sandboxed(browser, host_site, *local_video_service, errors) as frame:
        # Tracks are fetched once they are wanted (a chapter menu, captions turned on): all of them are wanted here.
        frame.evaluate("for (const t of document.querySelector('video').textTracks) t.mode = 'hidden'")
        wait_until(lambda: frame.evaluate("Array.from(document.querySelectorAll('video track'))"
                                          ".every(t => t.readyState >= 2)"), "the tracks to load or fail", 30)
        loaded = frame.evaluate("""Array.from(document.querySelector('video').textTracks)
                                   .map(t => [t.kind, Array.from(t.cues || []).map(c => c.text)])""")
        assert dict(loaded) == {"captions": [text for _, _, text in CAPTIONS],
                                "chapters": [c["title"] for c in CHAPTERS]}, (loaded, errors)


def test_a_sandboxed_embed_plays_where_the_service_answers_a_list_of_origins(browser, host_site, tmp_path):
    """With TALKSEARCH_CORS_ORIGINS a list, the frame's opaque origin (null) is answered no CORS read: the player,
    which asked for its recording with CORS, played nothing (a proxy hunt). It asks without, and plays."""
    folder = tmp_path / "talks"
    folder.mkdir()
    shutil.copy(SAMPLES / "s01.mp4", folder / "power.mp4")
    with _served_with_captions(folder / "power.mp4", cors_origins=[host_site.base]) as served:
        with _sandboxed(browser, host_site, *served, []) as frame:
            assert frame.evaluate("document.querySelector('video').error") is None


def test_the_search_embeds_box_searches_again_in_the_frame_with_its_filters(browser, local_video_service):
    """Its form names no action (an empty one is invalid HTML): it searches where it is, the filters kept."""
    from urllib.parse import parse_qs, urlsplit

    server, _ = local_video_service
    page_html = server.get("/embed", params={"q": "power", "language": "en", "group": "talk"}).text
    assert "<form " in page_html and 'action=""' not in page_html
    page = browser.new_page()
    try:
        page.goto(f"{server.base}/embed?q=power&language=en&group=talk")
        page.fill("input[name=q]", "scheduling")
        with page.expect_navigation():
            page.press("input[name=q]", "Enter")
        address = urlsplit(page.url)
        assert address.path == "/embed"
        assert parse_qs(address.query) == {"q": ["scheduling"], "language": ["en"], "group": ["talk"]}
    finally:
        page.close()


# --- the talk page's #t=, which the server never sees: its script reads it -----------------------------------------

def _media(page, expression: str):
    return page.evaluate(f"(() => {{ const media = document.getElementById('media'); return {expression}; }})()")


PAST_THE_END = "The link asks for 1:00, past the end of this talk (0:20): it plays from the start."


def test_a_moment_link_followed_within_the_page_moves_the_player_there(browser, api, ids):
    """#t= changed on an open talk page (a moment link pasted into its tab, #t=3 then #t=12) is no new page: the
    page's script hears it and seeks, as it read the first one."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{api.base}/talks/{ids['local']}#t=3")
    wait_until(lambda: _media(page, "media.currentTime") >= 2.99, "the player to start at the link's moment", 30)
    page.evaluate("location.hash = '#t=0:12'")
    wait_until(lambda: abs(_media(page, "media.currentTime") - 12) < 0.3, "the player to move to the new moment", 30)
    assert float(page.locator(".s.now").get_attribute("data-start")) <= 12
    assert page.locator(".notice", has_text="past the end").count() == 0
    page.evaluate("location.hash = '#t=1:00'")  # past the end, as a first #t= of it would be: said
    wait_until(lambda: page.locator(".notice", has_text="past the end").count(), "the notice", 10)
    assert page.locator(".notice", has_text="past the end").text_content() == PAST_THE_END
    assert not errors, errors
    page.close()


def test_a_media_fragment_past_the_end_says_so_as_the_servers_link_does(browser, api, ids):
    """?t= past the end is said by the server; #t= never reaches it, and the script says it in the same words, in
    the same place (announced: it appears after the page has been read)."""
    page = browser.new_page()
    page.goto(f"{api.base}/talks/{ids['local']}#t=60")
    wait_until(lambda: _media(page, "media.readyState") >= 1, "the player to read the recording", 30)
    notice = page.locator(".notice", has_text="past the end")
    wait_until(lambda: notice.count(), "the notice", 10)
    assert notice.text_content() == PAST_THE_END
    assert notice.get_attribute("role") == "status"
    assert page.evaluate("document.getElementById('media').nextElementSibling.textContent") == PAST_THE_END
    assert _media(page, "media.currentTime") == 0
    page.close()


def test_a_recording_the_browser_cannot_play_is_said_with_a_link_to_it(browser, tmp_path_factory, light_embedding):
    """Chromium plays no MPEG-TS (a broadcast recording, a camera's .ts): the page's player sat at 0:00 saying
    nothing (a timing hunt); the widget already said so. A sentence clicked then leaves the note as it is."""
    folder = tmp_path_factory.mktemp("unplayable") / "talks"
    folder.mkdir()
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(SAMPLES / "s01.mp4"), "-c:v", "mpeg2video", "-c:a", "mp2",
                    "-f", "mpegts", str(folder / "broadcast.ts")], check=True)
    with _served_with_captions(folder / "broadcast.ts") as (server, talk_id):
        page = browser.new_page()
        page.goto(f"{server.base}/talks/{talk_id}?t=6")
        note = page.locator("#seek-note")
        wait_until(lambda: note.is_visible(), "the note", 30)
        assert note.text_content() == "This browser could not play this recording. Open the recording."
        assert note.locator("a").get_attribute("href") == f"/media/{talk_id}"
        page.locator(".s").nth(1).click()
        assert note.is_visible()
        page.close()
