"""Sources that work against the indexer or the service: a feed whose metadata is megabytes of text, a local talk's
recording replaced since it was indexed by a link to a host's file or by a copy of one."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest

from talksearch.indexer.source_text import _capped
from talksearch.indexer.talk_details import _talk
from talksearch.library import Library
from talksearch.media_types import MEDIA_TYPES, media_type
from talksearch.settings import default
from tests.helpers import DATA, ROOT, TRUTH
from tests.service_fixtures import assert_error, index_captioned_copy, serving, settings_for

# What these check does not depend on the embedding model (conftest's light_embedding).
pytestmark = pytest.mark.usefixtures("light_embedding")

ELLIPSIS = "\N{HORIZONTAL ELLIPSIS}"


def _cli(*args: str, timeout: float, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "talksearch.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, env={**os.environ, **env})


@pytest.mark.unit
def test_free_text_is_cut_at_a_word_boundary_and_a_talk_keeps_to_its_sizes():
    """A text past its limit is cut at a word's end with "…" (mid-word when one word is all there is); a talk made
    of a source's metadata keeps its title, names, event and description within the sizes stored, its speakers to
    a panel's."""
    assert _capped("short title", 300) == "short title"
    assert _capped("alpha beta gamma", 12) == "alpha beta" + ELLIPSIS
    assert _capped("alpha beta gamma", 11) == "alpha beta" + ELLIPSIS  # the cut falls on the space
    assert _capped("x" * 50, 10) == "x" * 9 + ELLIPSIS
    huge = "word " * 40_000
    chapters = [{"start_time": n, "end_time": n + 1, "title": f"Chapter {n}"} for n in range(100_000)]
    talk = _talk({"extractor_key": "local", "id": "1", "title": huge, "channel": huge, "series": huge,
                  "description": huge, "creators": [huge] + [f"Speaker {n}" for n in range(1000)],
                  "chapters": chapters, "duration": 200_000},
                 {}, None, url="", media_url=None)
    assert [c["title"] for c in talk.chapters] == [f"Chapter {n}" for n in range(1000)]  # a table of contents
    assert all(len(text) <= 300 and text.endswith("word" + ELLIPSIS)
               for text in (talk.title, talk.channel, talk.event, talk.speakers[0])), talk
    assert len(talk.description) <= 20_000 and talk.description.endswith(ELLIPSIS)
    assert len(talk.speakers) == 50 and talk.speakers[1] == "Speaker 0"


@pytest.mark.unit
def test_control_characters_in_a_sources_metadata_are_not_stored():
    """A title holding ESC, BEL, NUL and CR/LF was stored and served as it came: in the page's <title>, the JSON-LD,
    oEmbed and MCP, on to whatever terminal prints them. They are dropped as captions drop them, the whitespace
    ones read as spaces; a description keeps its lines."""
    talk = _talk({"extractor_key": "local", "id": "1", "title": "L1 \x00NUL\x1b[2J\x1b]0;PWN\x07 talk\r\nINJECTED\r\n",
                  "channel": "Lab\x1b[31m TV", "creators": ["Ann\tLee\x08"], "series": "SC\x0c24",
                  "description": "First line.\r\nSecond\x1b[2J line.\n\x00Third."}, {}, None, url="", media_url=None)
    assert talk.title == "L1 NUL[2J]0;PWN talk INJECTED", talk.title
    assert (talk.channel, talk.speakers, talk.event) == ("Lab[31m TV", ["Ann Lee"], "SC 24"), talk
    assert talk.description == "First line.\nSecond[2J line.\nThird.", talk.description


# A table of contents as a careless or hostile source writes one: out of order, two chapters at one start, one that
# ends before it starts and one that lasts no time, control characters and 500 characters in titles, one untitled,
# an end and a start past the recording (t02.ogg, 18.8 s)
MESSY_CHAPTERS = [
    {"start_time": 15, "end_time": 22, "title": "Power capping"},
    {"start_time": 0, "end_time": 6, "title": "Intro"},
    {"start_time": 6, "end_time": 10, "title": "Gang\nscheduling\tat\x07 scale"},
    {"start_time": 6, "end_time": 10, "title": "The same start"},
    {"start_time": 10, "end_time": 10, "title": "Lasts no time"},
    {"start_time": 11, "end_time": None, "title": None},
    {"start_time": 13, "end_time": 12, "title": "x" * 500},
    {"start_time": 40, "end_time": 50, "title": "Past the end"},
]


@pytest.mark.unit
def test_a_sidecars_and_a_sites_chapters_are_read_as_a_feeds_chapters_file_is(tmp_path):
    """Chapters are the publisher's word whatever the source: a sidecar .info.json's and a site's (yt-dlp's) were
    stored as given (unsorted, two at one start, an end before the start, BEL and newlines in a title that went
    raw into the page's HTML and JSON-LD, 500-character titles), where a feed's chapters file was read into a table
    of contents. Each is read as that file is: by start, the first of one start, titles one printable line of at
    most 200 characters, none untitled, each ending by the next one's start and the recording's end."""
    from talksearch.indexer.chapters import _json_chapters
    from talksearch.indexer.sources import Candidate, Sources

    shutil.copy(DATA / "t02.ogg", tmp_path / "sched.ogg")
    (tmp_path / "sched.info.json").write_text(json.dumps({"title": "Scheduling", "chapters": MESSY_CHAPTERS}))
    talk = Sources(tmp_path / "downloads", lambda key: False).fetch(
        Candidate("sched.ogg", "sched.ogg", path=tmp_path / "sched.ogg")).talk
    recording_end = talk.chapters[-1]["end_time"]
    assert abs(recording_end - TRUTH["t02"]["duration"]) < 0.5
    assert talk.chapters == [
        {"start_time": 0, "end_time": 6, "title": "Intro"},
        {"start_time": 6, "end_time": 10, "title": "Gang scheduling at\ufffd scale"},
        {"start_time": 10, "end_time": 13, "title": "Lasts no time"},  # to where the next one starts
        {"start_time": 13, "end_time": 15, "title": "x" * 199 + ELLIPSIS},
        {"start_time": 15, "end_time": recording_end, "title": "Power capping"}]
    # the same table of contents as a feed's chapters file, and as a site's page lists it
    chapters_file = json.dumps({"version": "1.2.0", "chapters": [
        {"startTime": c["start_time"], "endTime": c["end_time"], "title": c["title"]} for c in MESSY_CHAPTERS]})
    assert _json_chapters(chapters_file.encode(), recording_end) == talk.chapters
    site = _talk({"extractor_key": "Vimeo", "id": "1", "title": "Scheduling", "duration": recording_end,
                  "chapters": MESSY_CHAPTERS}, {}, None, url="https://vimeo.com/1", media_url=None)
    assert site.chapters == talk.chapters


@pytest.mark.unit
def test_yt_dlps_placeholder_chapters_are_no_chapters():
    """yt-dlp titles a chapter its site names none for "<Untitled Chapter N>", and puts one such before a first
    chapter that starts later than 0: placeholders, not a talk's table of contents (shown as chapters, they read
    "<Untitled Chapter 1>"). Left out as a feed's untitled chapters are; the one before ends where it said."""
    import yt_dlp

    with yt_dlp.YoutubeDL({"quiet": True, "simulate": True}) as ydl:
        info = ydl.sanitize_info(ydl.process_ie_result({
            "id": "abc", "title": "Scheduling", "url": "http://127.0.0.1:9/talk.mp3", "ext": "mp3", "duration": 30,
            "extractor": "generic", "extractor_key": "Generic", "webpage_url": "http://127.0.0.1:9/talk.mp3",
            "chapters": [{"start_time": 4, "title": "Power capping"}, {"start_time": 9},
                         {"start_time": 12, "title": "Questions"}]}, download=False))
    assert [c["title"] for c in info["chapters"]] == [
        "<Untitled Chapter 1>", "Power capping", "<Untitled Chapter 3>", "Questions"]  # as yt-dlp hands them on
    talk = _talk(info, {}, None, url=info["webpage_url"], media_url=None)
    assert talk.chapters == [{"start_time": 4, "end_time": 9, "title": "Power capping"},
                             {"start_time": 12, "end_time": 30, "title": "Questions"}]


def _feed_with_huge_metadata(media_server) -> str:
    """A feed on the loopback media server whose one item has a 200 KB title, author and description, and captions
    (a podcast:transcript: nothing to transcribe); the feed's URL."""
    folder = media_server.directory / "hostile-feed"
    folder.mkdir()
    shutil.copy(DATA / "t01.ogg", folder / "talk.ogg")
    cues = [f"00:00:{int(s['start']):02d}.000 --> 00:00:{int(s['end']):02d}.000\n{s['text']}"
            for s in TRUTH["t01"]["sentences"]]
    (folder / "t01.vtt").write_text("WEBVTT\n\n" + "\n\n".join(cues) + "\n")
    huge = "word " * 40_000  # 200 KB
    (folder / "feed.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:podcast="https://podcastindex.org/namespace/1.0"><channel><title>Show</title><language>en</language>'
        f'<item><guid isPermaLink="false">hostile-1</guid><title>{huge}</title><author>{huge}</author>'
        f"<description>{huge}</description>"
        '<podcast:transcript url="t01.vtt" type="text/vtt"/>'
        '<enclosure url="talk.ogg" type="audio/ogg"/></item></channel></rss>')
    return media_server.url("hostile-feed/feed.xml")


@pytest.mark.models
def test_a_feed_items_megabytes_of_metadata_are_stored_capped_and_the_talk_indexes(media_server, tmp_path):
    """A feed item's 100 KB <title> took 80 s and 1.2 GB to index (it went before every passage's embedding text),
    a 1 MB one did not finish in 10 minutes. A source's free text is stored within the sizes a real talk's keeps
    to, cut at a word with "…": the talk indexes in seconds, is found, and indexing the feed again finds its
    details unchanged. With the default's models: MiniLM's alone read the text before a passage's in seconds."""
    feed, library = _feed_with_huge_metadata(media_server), str(tmp_path / "library")
    models = {"TALKSEARCH_EMBED_MODEL": default("embed_model")}
    run = _cli("index", feed, "--library", library, timeout=120, env=models)
    assert "1 added, 0 skipped, 0 failed" in run.stdout, run.stdout + run.stderr
    assert len(run.stdout) < 5000, run.stdout  # its outcome line names the talk by its capped title
    with Library.open(tmp_path / "library", readonly=True) as reader:
        [talk] = reader.talks()
    assert len(talk.title) <= 300 and talk.title.endswith("word" + ELLIPSIS), talk.title
    assert [len(name) <= 300 and name.endswith(ELLIPSIS) for name in talk.speakers] == [True]
    assert len(talk.description) <= 20_000 and talk.description.endswith(ELLIPSIS)
    found = _cli("search", "checkpoints go to an object storage bucket", "--library", library, "--json", timeout=120,
                 env=models)
    assert found.returncode == 0, found.stderr
    assert [hit["talk"]["id"] for hit in json.loads(found.stdout)["results"]][:1] == [talk.id]
    again = _cli("index", feed, "--library", library, timeout=120, env=models)
    assert "0 added, 1 skipped, 0 failed" in again.stdout, again.stdout + again.stderr  # and not "updated"


# --- /media serves a recording, never what replaced it --------------------------------------------------------------

def _encodings(folder) -> dict[str, list[str]]:
    """ffmpeg's arguments for a fraction of a second of sound (and a picture, where the container needs one) in each
    container a suffix of MEDIA_TYPES names, by suffix."""
    sound, picture = ["-f", "lavfi", "-i", "sine=r=48000:d=0.3"], ["-f", "lavfi", "-i", "testsrc=s=720x576:r=25:d=0.3"]
    special = {
        ".dv": picture + sound + ["-pix_fmt", "yuv420p", "-ac", "2"],
        ".m2ts": sound + ["-f", "mpegts", "-mpegts_m2ts_mode", "1"], ".mts": sound + ["-f", "mpegts"],
        ".mp2": sound + ["-c:a", "mp2", "-f", "mp2"], ".mpga": sound + ["-c:a", "mp2", "-f", "mp2"],
        ".aac": sound + ["-f", "adts"], ".aifc": sound + ["-f", "aiff"], ".f4v": sound + ["-f", "mp4"],
        ".m4b": sound + ["-f", "ipod"], ".spx": sound + ["-c:a", "libopus", "-f", "ogg"],
        ".oga": sound + ["-f", "ogg"], ".wma": sound + ["-f", "asf"], ".m4v": picture + ["-f", "mp4"],
        ".ogv": picture + ["-f", "ogg"], ".mpg": picture + sound, ".mpeg": picture + sound, ".ts": picture + sound,
        ".avi": picture + sound, ".flv": picture + sound + ["-ar", "44100"], ".3gp": sound + ["-c:a", "aac"],
        ".3g2": sound + ["-c:a", "aac"],
    }
    return {suffix: special.get(suffix, sound) for suffix in MEDIA_TYPES if suffix not in (".amr", ".ape")}


SOUND_ALONE = {"video/mp4": "audio/mp4", "video/webm": "audio/webm", "video/x-matroska": "audio/x-matroska",
               "video/quicktime": "audio/mp4", "video/ogg": "audio/ogg"}


@pytest.mark.unit
def test_every_container_a_local_talk_may_be_is_a_recording_and_text_under_its_name_is_not(tmp_path):
    """/media serves a file only when it begins as a recording does: every container whose suffix a local talk
    may have (ffmpeg's own files; .amr and .ape, which it cannot write, by their headers) is one, whatever it is
    named; a text, a page, UTF-16 text or an image under a recording's name is none."""
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    for suffix, args in _encodings(recordings).items():
        made = subprocess.run(["ffmpeg", "-v", "error", "-y", *args, "-t", "0.3", str(recordings / f"talk{suffix}")],
                              capture_output=True, text=True)
        assert made.returncode == 0, (suffix, made.stderr)
    (recordings / "talk.amr").write_bytes(b"#!AMR\n" + b"\x7c" * 50)  # NO_DATA frames
    (recordings / "talk.ape").write_bytes(b"MAC \x96\x0f\x00\x00" + bytes(200))
    assert sorted(p.suffix for p in recordings.iterdir()) == sorted(MEDIA_TYPES)
    encodings = _encodings(recordings)
    for recording in recordings.iterdir():
        # a film's suffix on sound alone is typed as the sound it holds (played as audio, not in a black box)
        pictured = "testsrc" in " ".join(encodings.get(recording.suffix, []))
        expected = MEDIA_TYPES[recording.suffix]
        if not pictured and expected in SOUND_ALONE:
            expected = SOUND_ALONE[expected]
        assert media_type(recording) == expected, recording.name
        if recording.suffix not in (".amr", ".ape"):  # (headers alone: ffmpeg reads no sound in them)
            shutil.copy(recording, tmp_path / "unnamed")  # a recording indexed by a name that says nothing
            assert media_type(tmp_path / "unnamed") is not None, recording.name
    texts = {"passwd": b"root:x:0:0:root:/root:/bin/bash\n", "page": b"<!doctype html><script>alert(1)</script>",
             "utf16": "hello".encode("utf-16"), "png": b"\x89PNG\r\n\x1a\n" + bytes(100),
             "webp": b"RIFF\x10\x00\x00\x00WEBPVP8 " + bytes(100), "G": b"GNU GENERAL PUBLIC LICENSE\n" * 20}
    for name, content in texts.items():
        for suffix in (".mp3", ".ogg", ".ts", ".wav", ""):
            (tmp_path / f"{name}{suffix}").write_bytes(content)
            assert media_type(tmp_path / f"{name}{suffix}") is None, f"{name}{suffix}"


@pytest.mark.models
def test_a_local_recording_replaced_by_a_link_or_a_copy_of_a_text_file_is_not_served(tmp_path):
    """`mv talk.ogg orig.ogg; ln -s /etc/passwd talk.ogg` (or `cp /etc/hostname talk.ogg`): /media answered 200
    audio/ogg with the file, typed by its name alone. Now it answers 404 in the one error shape and the search
    links the talk's page, as for a recording gone; a link to a recording (a media store) plays, and so does the
    recording put back."""
    library = tmp_path / "library"
    recording = index_captioned_copy(settings_for(library), tmp_path / "recordings")
    original = recording.read_bytes()
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    with Library.open(library, readonly=True) as reader:
        [talk_id] = [talk.id for talk in reader.talks()]
    with serving(settings_for(library)) as server:

        def media_link() -> str:
            hits = server.get("/api/search", params={"q": "object storage bucket", "talk": talk_id}).json()["results"]
            assert hits
            return hits[0]["link"]

        def plays() -> None:
            served = server.get(f"/media/{talk_id}")
            assert (served.status_code, served.headers["content-type"], served.content) == (200, "audio/ogg", original)
            assert media_link().startswith(f"/media/{talk_id}#t=")

        plays()
        recording.rename(tmp_path / "orig.ogg")
        recording.symlink_to(secret)
        refused = []
        for replaced in ("a link to a text file", "a copy of a text file"):
            if replaced == "a copy of a text file":
                recording.unlink()
                shutil.copy(secret, recording)
            whole, part = server.get(f"/media/{talk_id}"), server.get(f"/media/{talk_id}",
                                                                     headers={"Range": "bytes=0-9"})
            assert_error(whole, 404, "not_found")
            assert part.status_code == 404 and "root:" not in part.text, replaced
            assert media_link().startswith(f"/talks/{talk_id}?t="), replaced
            assert server.get(f"/api/talks/{talk_id}").json()["media_url"] is None, replaced
            refused.append(replaced)
        assert len(refused) == 2
        recording.unlink()
        recording.symlink_to(tmp_path / "orig.ogg")  # a recording kept in a media store, linked
        plays()
        recording.unlink()
        (tmp_path / "orig.ogg").rename(recording)
        plays()
