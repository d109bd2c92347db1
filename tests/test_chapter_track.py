"""A talk's chapters where players and the terminal look for them: a WebVTT chapters track
(``/api/talks/{id}/chapters.vtt``, a ``<track kind="chapters">`` on the talk page's player, as real Chromium loads
it) and each result's chapter in ``talksearch search``.

The library is built here from captions alone (no transcription): a video talk and an audio talk, each with a sidecar
.info.json giving it chapters (one titled with markup characters; one of the audio's made untitled in the catalog, as
a library indexed before untitled chapters were dropped has it), and an audio talk without chapters.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from tests.helpers import talksearch
from tests.service_fixtures import assert_error, index_quietly, serving, settings_for, untitle_first_chapter

pytestmark = [pytest.mark.models, pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs ffmpeg")]

SECONDS = 24
MARKUP = "Q&A <live> --> later"
CHAPTERS = [{"start_time": 0, "end_time": 8, "title": "Opening"},
            {"start_time": 8, "end_time": 16, "title": MARKUP},
            {"start_time": 16, "title": "Results"}]  # the last to the recording's end, as the indexer measures it
# What each talk says, by the second its lines start from: each in words of its own (talks that say the same words
# over the same length would be taken for one recording indexed twice, and named in each other's "also in").
SAID = {
    "video": {0: "The opening sentence number {s} welcomes everyone.",
              8: "Questions about the quokka migration, sentence {s}.",
              16: "Results of sentence {s} came out fine."},
    "audio": {0: "Episode line {s} talks about wombats and their burrows.",
              8: "Listeners asked how wombats dig so deep, line {s}."},
    "plain": {0: "An unchaptered remark on quokka habitats, number {s}."},
}
STAMP = r"(\d{2}):([0-5]\d):([0-5]\d)\.(\d{3})"  # WebVTT's hh:mm:ss.ttt (hours always written, as the exports do)


def _captions(path, said: dict[int, str]) -> None:
    lines = [said[max(start for start in said if start <= s)].format(s=s) for s in range(SECONDS - 1)]
    cues = [f"00:00:{s:02d}.000 --> 00:00:{s + 1:02d}.000\n{line}" for s, line in enumerate(lines)]
    path.write_text("WEBVTT\n\n" + "\n\n".join(cues) + "\n")


def _sidecar(path, title: str, chapters: list[dict] | None) -> None:
    path.write_text(json.dumps({"title": title, **({"chapters": chapters} if chapters else {})}))


@pytest.fixture(scope="module")
def library(light_embedding, tmp_path_factory):
    """The library of the three captioned talks; its settings."""
    folder = tmp_path_factory.mktemp("chaptered")
    silence = ["-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", str(SECONDS)]
    video, audio, plain = folder / "migration.webm", folder / "episode.ogg", folder / "plain.ogg"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"color=c=0x334455:s=160x90:r=2:d={SECONDS}",
                    *silence, "-c:v", "libvpx", "-b:v", "20k", "-c:a", "libopus", str(video)], check=True)
    for recording in (audio, plain):
        subprocess.run(["ffmpeg", "-v", "error", *silence, "-c:a", "libopus", str(recording)], check=True)
    for recording, said in ((video, SAID["video"]), (audio, SAID["audio"]), (plain, SAID["plain"])):
        _captions(recording.with_suffix(".en.vtt"), said)
    _sidecar(video.with_suffix(".info.json"), "Migrating quokkas", CHAPTERS)
    _sidecar(audio.with_suffix(".info.json"), "The episode", CHAPTERS)
    _sidecar(plain.with_suffix(".info.json"), "Plain talk", None)
    settings = settings_for(tmp_path_factory.mktemp("chaptered-lib") / "library")
    index_quietly(settings, [str(folder)], added=3)
    untitle_first_chapter(settings.library, "The episode")
    return settings


@pytest.fixture(scope="module")
def site(library):
    """The service over the library, and its talks' ids by title."""
    with serving(library) as server:
        yield server, {t["title"]: t["id"] for t in server.get("/api/talks").json()["talks"]}


def _parsed(vtt: str) -> list[tuple[float, float, str]]:
    """A WebVTT file's cues (start, end, text), asserting what a player's parser requires: the WEBVTT header, blank
    lines between blocks, each cue's timing line of two hh:mm:ss.ttt stamps, each ending after it starts, in start
    order; and, as chapters must be, not overlapping."""
    header, *blocks = vtt.rstrip("\n").split("\n\n")
    assert header == "WEBVTT", vtt
    cues = []
    for block in blocks:
        timing, *text = block.split("\n")
        found = re.fullmatch(f"{STAMP} --> {STAMP}", timing)
        assert found and text and all(text), block
        hours, minutes, seconds, millis, *end = (int(n) for n in found.groups())
        start = hours * 3600 + minutes * 60 + seconds + millis / 1000
        stop = end[0] * 3600 + end[1] * 60 + end[2] + end[3] / 1000
        assert stop > start, block
        assert all(part not in line for line in text for part in ("-->", "<")), block  # markup escaped
        cues.append((start, stop, "\n".join(text)))
    assert [c[0] for c in cues] == sorted(c[0] for c in cues), vtt
    assert all(before[1] <= after[0] for before, after in zip(cues, cues[1:])), vtt
    return cues


def test_chapters_vtt_is_a_cue_a_chapter_from_its_start_to_its_end(site):
    """One cue a chapter: titled (markup as entities; an untitled one by its number, as the page lists it), from its
    start to its end, the last to the talk's end; served as text/vtt, listed beside the transcript exports."""
    server, ids = site
    for title, first in (("Migrating quokkas", "Opening"), ("The episode", "Chapter 1")):
        track = server.get(f"/api/talks/{ids[title]}").json()["chapter_track"]
        assert track == f"/api/talks/{ids[title]}/chapters.vtt"
        answer = server.get(track)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].split(";")[0] == "text/vtt"
        cues = _parsed(answer.text)
        assert [text for _, _, text in cues] == [first, "Q&amp;A &lt;live&gt; --&gt; later", "Results"]
        assert [(start, end) for start, end, _ in cues[:2]] == [(0, 8), (8, 16)]
        assert cues[2][0] == 16 and abs(cues[2][1] - SECONDS) < 0.5, cues  # the recording's end
    spec = server.get("/openapi.json").json()["paths"]
    chapters = spec["/api/talks/{talk_id}/chapters.vtt"]["get"]
    assert chapters["tags"] == spec["/api/talks/{talk_id}/transcript.{fmt}"]["get"]["tags"]
    assert set(chapters["responses"]["200"]["content"]) == {"text/vtt"}
    assert "404" in chapters["responses"]


def test_chapters_json_is_podcasting_2_0s_chapters_file(site):
    """What /talks.atom's <podcast:chapters> names: Podcasting 2.0's JSON chapters, each chapter's start, end and title
    as the catalog holds them (an untitled one without a title), so that podcast apps show them and another library
    that indexes the feed keeps them (a federation hunt: they were lost)."""
    server, ids = site
    answer = server.get(f"/api/talks/{ids['Migrating quokkas']}/chapters.json")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json+chapters", answer.text
    chapters = answer.json()["chapters"]
    assert answer.json()["version"] == "1.2.0" and chapters[:2] == [
        {"startTime": 0, "endTime": 8, "title": "Opening"}, {"startTime": 8, "endTime": 16, "title": MARKUP}]
    assert chapters[2]["startTime"] == 16 and chapters[2]["title"] == "Results"
    assert abs(chapters[2]["endTime"] - SECONDS) < 0.5  # as the indexer ended it: at the recording's end
    untitled = server.get(f"/api/talks/{ids['The episode']}/chapters.json").json()["chapters"][0]
    assert untitled == {"startTime": 0, "endTime": 8}, untitled
    assert assert_error(server.get(f"/api/talks/{ids['Plain talk']}/chapters.json"), 404, "not_found")
    feed = server.get("/talks.atom").text
    for title, talk_id in ids.items():
        named = f'<podcast:chapters url="{server.base}/api/talks/{talk_id}/chapters.json" type="application/json+chapters"/>'
        assert (named in feed) == (title != "Plain talk"), (title, feed)


def test_chapters_vtt_of_an_unknown_talk_or_one_without_chapters_is_a_404(site):
    server, ids = site
    assert "no talk" in assert_error(server.get("/api/talks/nosuchtalk/chapters.vtt"), 404, "not_found")["message"]
    missing = assert_error(server.get(f"/api/talks/{ids['Plain talk']}/chapters.vtt"), 404, "not_found")
    assert "no chapters" in missing["message"], missing
    assert server.get(f"/api/talks/{ids['Plain talk']}").json()["chapter_track"] is None


@pytest.mark.browser
def test_the_talk_page_player_has_a_chapters_track_that_chromium_loads(browser, site):
    """The video's and the audio's player carry the chapters as a track of kind chapters in the talk's language,
    off until a player asks for them (not shown as subtitles); set to hidden, Chromium loads its cues. A talk
    without chapters has no such track."""
    server, ids = site
    page = browser.new_page()
    for title, tag in (("Migrating quokkas", "video"), ("The episode", "audio")):
        page.goto(f"{server.base}/talks/{ids[title]}")
        assert page.evaluate("document.getElementById('media').tagName.toLowerCase()") == tag
        track = page.evaluate("""async () => {
          const tracks = Array.from(document.getElementById('media').textTracks);
          const track = tracks.find((t) => t.kind === 'chapters');
          if (!track) return {kinds: tracks.map((t) => t.kind)};
          const before = track.mode;
          track.mode = 'hidden';
          for (let i = 0; i < 400 && !(track.cues && track.cues.length >= 3); i++) {  // all three (as the embed's)
            await new Promise((done) => setTimeout(done, 50));
          }
          return {kind: track.kind, language: track.language, before,
                  cues: Array.from(track.cues || [], (c) => [c.startTime, c.endTime, c.getCueAsHTML().textContent])};
        }""")
        assert track.get("kind") == "chapters", (title, track)
        assert track["language"] == "en" and track["before"] == "disabled", (title, track)
        assert [c[2] for c in track["cues"]][1:] == [MARKUP, "Results"], (title, track)
        assert [c[:2] for c in track["cues"]][:2] == [[0, 8], [8, 16]], (title, track)
    page.goto(f"{server.base}/talks/{ids['Plain talk']}")
    # (its captions track, which an audio talk's player carries too: a page reader takes them)
    assert page.evaluate("Array.from(document.getElementById('media').textTracks, (t) => t.kind)") == ["captions"]
    page.close()


@pytest.mark.browser
def test_the_embed_player_has_the_chapters_track_too(browser, site):
    """/embed/talks/{id}'s player carries the same chapters track as the talk page's, and Chromium loads its cues
    under the embed's own Content-Security-Policy (media-src 'self'); a talk without chapters has none."""
    server, ids = site
    page = browser.new_page()
    for title, tag in (("Migrating quokkas", "video"), ("The episode", "audio")):
        page.goto(f"{server.base}/embed/talks/{ids[title]}?t=9")
        # all three cues: Chromium parses a track as it arrives, and the first may be there before the others
        cues = page.evaluate("""async (tag) => {
          const track = Array.from(document.querySelector(tag).textTracks).find((t) => t.kind === 'chapters');
          if (!track) return null;
          track.mode = 'hidden';
          for (let i = 0; i < 400 && !(track.cues && track.cues.length >= 3); i++) {
            await new Promise((done) => setTimeout(done, 50));
          }
          return [track.language, Array.from(track.cues || [], (c) => c.getCueAsHTML().textContent)];
        }""", tag)
        assert cues and cues[0] == "en" and cues[1][1:] == [MARKUP, "Results"], (title, cues)
    page.goto(f"{server.base}/embed/talks/{ids['Plain talk']}")
    assert page.evaluate("Array.from(document.querySelector('audio').textTracks, (t) => t.kind)") == []
    page.close()


def test_search_text_output_names_each_results_chapter(library):
    """`talksearch search` says which chapter each result is in, as the API's `chapter` does (a result in a talk
    without chapters says none); --json is the API's response, as before."""
    query = ("search", "quokka", "--library", str(library.library), "--limit", "6")
    answer = json.loads(talksearch(*query, "--json").stdout)["results"]
    found = talksearch(*query)
    assert found.returncode == 0, found.stderr
    # a result's lines: its time and title, then its own lines, indented
    blocks = re.split(r"\n(?=\s*\d+:\d\d  )", found.stdout.strip("\n"))
    assert len(blocks) == len(answer), found.stdout
    assert {r["chapter"] for r in answer} >= {MARKUP, None}, answer  # a chapter's and a talk without chapters'
    for result, block in zip(answer, blocks):
        assert result["talk"]["title"] in block.splitlines()[0], (result, block)
        named = [line.strip() for line in block.splitlines() if line.strip().startswith("Chapter: ")]
        assert named == ([f"Chapter: {result['chapter']}"] if result["chapter"] else []), (result, block)
