"""A result's moment, played: the player is where the moment is, or says it cannot be, in real headless Chromium.

Two recordings a browser seeks wrong without a word: an mp3 without a seek table (VBR, no Xing/Info frame), whose
length the browser guesses from its first frame and seeks by that guess (words from 0:57 played at "1:19"), and any
recording on a host that ignores Range requests, which a player can play from the start only (every format but Ogg
started at 0:00). The talk page, the search page's player and the widget's scale the first by the length the
indexer measured; they say the second.

The library is built here from captions (no transcription): a local VBR mp3 without a seek table, played from
/media, and one remote mp3 served from a host that ignores Range and from one that honours it (the media server).
"""

from __future__ import annotations

import http.server
import shutil
import subprocess
import threading
import time
from functools import partial
from urllib.parse import urlencode

import pytest

from tests.helpers import DATA
from tests.service_fixtures import index_quietly, serving, settings_for

pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.browser, pytest.mark.models,
              pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs ffmpeg")]

SECONDS = 60


def _captions(seconds: int, said: str = "This is second number {} of the talk.") -> str:
    """A cue a second, each saying its own second: the page's highlighted sentence tells where it thinks it is."""
    return "WEBVTT\n\n" + "\n\n".join(
        f"00:00:{s:02d}.000 --> 00:00:{s + 1:02d}.000\n{said.format(s)}" for s in range(seconds))


def _speech_after_silence(path, *args: str) -> None:
    """A minute of the test talks' speech after two seconds of silence: a VBR encoder gives the silent first frame
    a low bitrate, which a browser without a seek table takes for the whole file's."""
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "anullsrc=r=44100:cl=mono:d=2",
                    *[a for talk in ("t01", "t02", "t01") for a in ("-i", str(DATA / f"{talk}.ogg"))],
                    "-filter_complex", "[0][1][2][3]concat=n=4:v=0:a=1,atrim=0:60", *args, str(path)], check=True)


class _WholeFilesOnly(http.server.SimpleHTTPRequestHandler):
    """A host that ignores Range requests: every answer the whole file, 200 (Python's own file server does so), at
    160 KB/s. A real talk is tens of megabytes, never all there by the time the player seeks; a small file sent at
    once would be, and a player seeks within what it holds."""

    def copyfile(self, source, outputfile) -> None:
        while chunk := source.read(16 << 10):
            outputfile.write(chunk)
            time.sleep(0.1)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def site(light_embedding, media_server, tmp_path_factory):
    """The service over the three talks, and their ids by name."""
    local = tmp_path_factory.mktemp("vbr-talk")
    _speech_after_silence(local / "Seek_table.mp3", "-c:a", "libmp3lame", "-q:a", "7", "-write_xing", "0")
    (local / "Seek_table.en.vtt").write_text(_captions(SECONDS))

    remote = tmp_path_factory.mktemp("remote")
    _speech_after_silence(remote / "talk.mp3", "-c:a", "libmp3lame", "-b:a", "64k")
    # words of its own, and each host's copy its own words: talks saying the same words would be one recording's
    # copies to the search, and the widget would show the one ranked first
    (remote / "talk.vtt").write_text(_captions(SECONDS, "Remote moment {}, sent whole."))
    whole_files = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_WholeFilesOnly, directory=str(remote)))
    threading.Thread(target=whole_files.serve_forever, daemon=True).start()
    ranged = media_server.directory / "playback"
    ranged.mkdir()
    feeds = []
    for name, base in (("no ranges", f"http://127.0.0.1:{whole_files.server_port}"), ("ranges", None)):
        if base is None:
            shutil.copy(remote / "talk.mp3", ranged / "talk.mp3")
            (ranged / "talk.vtt").write_text(_captions(SECONDS, "Remote moment {}, sent in ranges."))
            base = media_server.url("playback").rstrip("/")
        feed = (f'<?xml version="1.0"?><rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0">'
                f"<channel><title>Host with {name}</title><item><title>Host with {name}</title><guid>{name}</guid>"
                f'<enclosure url="{base}/talk.mp3" type="audio/mpeg" length="1"/>'
                f'<podcast:transcript url="{base}/talk.vtt" type="text/vtt"/></item></channel></rss>')
        (remote if "no" in name else ranged).joinpath(f"{name.replace(' ', '-')}.xml").write_text(feed)
        feeds.append(f"{base}/{name.replace(' ', '-')}.xml")

    # a recording that goes on past its last caption (applause, an outro), its feed stating no length: the talk's
    # length is where its captions end, no measure of the recording
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(remote / "talk.mp3"), "-af", "apad=pad_dur=30",
                    "-c:a", "libvorbis", str(ranged / "outro.ogg")], check=True)
    (ranged / "outro.vtt").write_text(_captions(SECONDS, "Moment {} before the outro."))
    base = media_server.url("playback").rstrip("/")
    (ranged / "outro.xml").write_text(
        f'<?xml version="1.0"?><rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0">'
        f"<channel><title>Silent end</title><item><title>Silent end</title><guid>outro</guid>"
        f'<enclosure url="{base}/outro.ogg" type="audio/ogg" length="1"/>'
        f'<podcast:transcript url="{base}/outro.vtt" type="text/vtt"/></item></channel></rss>')
    feeds.append(f"{base}/outro.xml")

    settings = settings_for(tmp_path_factory.mktemp("playback-lib") / "library")
    index_quietly(settings, [str(local), *feeds], added=4)
    with serving(settings) as server:
        yield server, {t["title"]: t["id"] for t in server.get("/api/talks").json()["talks"]}
    whole_files.shutdown()


def _talk_page(browser, server, talk_id: str, at: float):
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server.base}/talks/{talk_id}?t={at}")
    page.wait_for_function(f"document.getElementById('media').readyState >= 1 "
                           f"&& document.getElementById('media').currentTime > 0")
    return page, errors


def test_an_mp3_without_a_seek_table_is_played_at_the_moment_by_its_measured_length(browser, site):
    server, ids = site
    page, errors = _talk_page(browser, server, ids["Seek table"], 40)
    guessed = page.evaluate("document.getElementById('media').duration")
    assert abs(guessed / SECONDS - 1) > 0.05, guessed  # the browser's own guess is off: otherwise nothing to check
    # asked for 40 s, the browser is sent where its guess puts the 40th second of the measured minute
    assert page.evaluate("document.getElementById('media').currentTime") == pytest.approx(40 * guessed / SECONDS, abs=0.3)
    page.wait_for_function("document.querySelector('.s.now') !== null")
    assert page.locator(".s.now").inner_text() == "This is second number 40 of the talk."
    assert page.locator("#seek-note").is_hidden() and not errors, errors
    page.close()


def test_a_talk_indexed_from_captions_is_played_at_its_moments_whatever_its_recordings_length(browser, site):
    """A feed's talk indexed from its captions, its recording never read: its length is where its captions end, 60
    s of a 90 s recording. Players scaled its moments by that as by a measured length (the 40th second played at
    60 s, in the outro: an interop hunt); they play them where the captions say."""
    server, ids = site
    talk = server.get(f"/api/talks/{ids['Silent end']}").json()
    assert (talk["duration"], talk["duration_measured"]) == (SECONDS, False)
    assert server.get(f"/api/talks/{ids['Seek table']}").json()["duration_measured"] is True
    # nor is a moment in its outro, after its captions' end, past its end (the page played it from the start)
    page = server.get(f"/talks/{ids['Silent end']}?t=70").text
    assert 'data-start="70' in page and "past the end of this talk (" not in page
    page = browser.new_page()
    page.goto(f"{server.base}/talks/{ids['Silent end']}?t=40")
    page.evaluate("document.getElementById('media').play()")  # media on another host is read only when played
    length, at = _played_from(page, "document.getElementById('media')")
    assert length == pytest.approx(SECONDS + 30, abs=1) and at == pytest.approx(40, abs=0.5)
    page.close()
    page, result = _first_result_played(browser, server, "Moment 40 before the outro", "Silent end")
    length, at = _played_from(page, "document.querySelector('.inline-player')")  # the search page's, too
    assert length == pytest.approx(SECONDS + 30, abs=1) and at == pytest.approx(40, abs=0.5)
    page.close()
    from tests.test_widget import HostSite

    host = HostSite()  # and the widget's
    try:
        page = _widget_playing(browser, host, server, "Moment 40 before the outro")
        length, at = _played_from(page, "document.querySelector('talk-search').shadowRoot.querySelector('audio')")
        assert length == pytest.approx(SECONDS + 30, abs=1) and at == pytest.approx(40, abs=0.5)
        page.close()
    finally:
        host.close()


def _played_from(page, media: str) -> tuple[float, float]:
    """The browser's guessed length and where a player that was asked to play a moment is, paused there once its
    seek is done (the search page's and the widget's players play at once)."""
    page.wait_for_function(f"(m => m && m.readyState >= 2 && !m.seeking && m.currentTime > 0)({media})")
    return tuple(page.evaluate(f"(m => {{ m.pause(); return [m.duration, m.currentTime]; }})({media})"))


def _first_result_played(browser, server, query: str, title: str):
    """The search page for ``query``, its first result (of the talk ``title``) played inline: the page and it."""
    page = browser.new_page()
    page.goto(f"{server.base}/?{urlencode({'q': query})}")
    result = page.locator(".result").first
    assert result.locator(".title").inner_text() == title
    result.locator(".play").click()
    return page, result


def test_the_search_pages_player_plays_an_mp3_without_a_seek_table_at_the_moment(browser, site):
    server, ids = site
    page, result = _first_result_played(browser, server, "This is second number 40 of the talk", "Seek table")
    assert float(result.get_attribute("data-start")) == pytest.approx(40, abs=0.5)
    guessed, at = _played_from(page, "document.querySelector('.inline-player')")
    assert abs(guessed / SECONDS - 1) > 0.05, guessed
    assert at == pytest.approx(float(result.get_attribute("data-start")) * guessed / SECONDS, abs=0.5)
    page.close()


def _widget_playing(browser, host, server, query: str):
    """A page of ``host`` (another site) with the widget over ``server``, its first result for ``query`` played."""
    page = browser.new_page()
    page.goto(host.page("/", f'<script src="{server.base}/widget.js" defer></script>\n'
                             f'<talk-search api="{server.base}"></talk-search>'))
    page.wait_for_function("customElements.get('talk-search') !== undefined")
    page.locator("talk-search input").fill(query)
    page.locator("talk-search [role=option]").first.click()
    return page


def test_the_widgets_player_plays_an_mp3_without_a_seek_table_at_the_moment(browser, site):
    from tests.test_widget import HostSite

    server, ids = site
    query = "This is second number 40 of the talk"
    hit = server.get("/api/search", params={"q": query}).json()["results"][0]
    assert hit["talk"]["id"] == ids["Seek table"] and hit["start"] == pytest.approx(40, abs=0.5)
    host = HostSite()
    try:
        page = _widget_playing(browser, host, server, query)
        guessed, at = _played_from(page, "document.querySelector('talk-search').shadowRoot.querySelector('audio')")
        assert abs(guessed / SECONDS - 1) > 0.05, guessed
        assert at == pytest.approx(hit["start"] * guessed / SECONDS, abs=0.5)
        page.close()
    finally:
        host.close()


@pytest.mark.parametrize(("host", "said"), [("no ranges", True), ("ranges", False)])
def test_a_host_that_ignores_range_requests_is_said_to_play_from_the_start(browser, site, host, said):
    server, ids = site
    page = browser.new_page()
    page.goto(f"{server.base}/talks/{ids[f'Host with {host}']}?t=30")
    page.evaluate("document.getElementById('media').play()")  # media on another host is read only when played
    page.wait_for_function("document.getElementById('media').readyState >= 1")
    note = page.locator("#seek-note")
    if said:
        note.wait_for()
        assert note.inner_text() == ("The host of this recording does not let players jump ahead: it plays from the "
                                     "start. The moment is at 0:30.")
    else:
        page.wait_for_function("document.getElementById('media').currentTime > 29")
        assert note.is_hidden()
    page.close()


def test_the_search_pages_player_says_it_too(browser, site):
    server, ids = site
    page, result = _first_result_played(browser, server, "remote moment 30 sent whole", "Host with no ranges")
    assert float(result.get_attribute("data-start")) > 5
    result.locator(".seek-note").wait_for()
    assert result.locator(".seek-note").inner_text() == ("The host of this recording does not let players jump "
                                                          "ahead: it plays from the start.")
    page.close()


def test_the_widget_says_it_too(browser, site):
    """The widget on another site, playing the talk on the host that ignores Range requests: said under its
    player."""
    from tests.test_widget import HostSite

    server, ids = site
    query = "remote moment 30 sent whole"
    assert server.get("/api/search", params={"q": query}).json()["results"][0]["talk"]["id"] == ids[
        "Host with no ranges"]
    host = HostSite()
    try:
        page = _widget_playing(browser, host, server, query)
        note = page.locator("talk-search .msg")
        note.wait_for()
        assert note.inner_text() == "The host of this recording does not let players jump ahead: it plays from the start."
        page.close()
    finally:
        host.close()
