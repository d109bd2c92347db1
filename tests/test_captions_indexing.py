"""Captions first, end to end through the CLI: a loopback page with <video> + <track> (yt-dlp's generic extractor),
a feed with <podcast:transcript>, sidecar files beside local recordings, and bad captions of every kind falling
back to Whisper with the reason on the talk's line. Everything is written here; nothing is downloaded."""

from __future__ import annotations

import codecs
import json
import re
import shutil
import subprocess

import pytest

from talksearch.library import Library
from tests.helpers import DATA, TRUTH, talksearch

# What these check does not depend on the embedding model (conftest's light_embedding).
pytestmark = pytest.mark.usefixtures("light_embedding")

FAST = ["--whisper-model", "tiny.en"]  # where the model is not the point


def vtt(talk: str, voice: str | None = None) -> str:
    """The publisher's captions for a test talk: its true sentences, one cue each."""
    cues = [f"{_stamp(s['start'])} --> {_stamp(s['end'])}\n{f'<v {voice}>' if voice else ''}{s['text']}"
            for s in TRUTH[talk]["sentences"]]
    return "WEBVTT\n\n" + "\n\n".join(cues) + "\n"


def srt(talk: str) -> str:
    cues = [f"{i}\n{_stamp(s['start']).replace('.', ',')} --> {_stamp(s['end']).replace('.', ',')}\n{s['text']}"
            for i, s in enumerate(TRUTH[talk]["sentences"], 1)]
    return "\n\n".join(cues) + "\n"


def podcast_json(talk: str) -> str:
    return json.dumps({"version": "1.0.0", "segments": [
        {"speaker": "Kenji Watanabe", "startTime": s["start"], "endTime": s["end"], "body": s["text"]}
        for s in TRUTH[talk]["sentences"]]})


def _stamp(seconds: float) -> str:
    return f"{int(seconds // 3600):02d}:{int(seconds % 3600 // 60):02d}:{seconds % 60:06.3f}"


def talks_of(library) -> dict[str, dict]:
    listing = json.loads(talksearch("talks", "--library", str(library), "--json").stdout)
    return {t["title"]: t for t in listing["talks"]}


def outcome_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith(("added", "failed", "skipped"))]


def search_top(library, query: str) -> dict:
    result = talksearch("search", query, "--library", str(library), "--limit", "1", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["results"][0]


@pytest.mark.models
def test_a_page_with_a_video_and_its_track_is_indexed_from_the_captions_without_downloading(media_server, tmp_path):
    (media_server.directory / "checkpointing.vtt").write_text(vtt("t01"))
    (media_server.directory / "checkpointing.html").write_text(
        "<!doctype html><html><head><title>Checkpointing to Object Storage</title></head><body>"
        '<video controls src="t01.ogg"><track kind="subtitles" src="checkpointing.vtt" srclang="en" label="English">'
        "</video></body></html>")
    library = tmp_path / "library"
    result = talksearch("index", media_server.url("checkpointing.html"), "--library", str(library))
    assert result.returncode == 0, result.stdout + result.stderr
    (line,) = outcome_lines(result)
    assert line.startswith("added   Checkpointing to Object Storage (") and line.endswith("uploaded captions)")
    talk = talks_of(library)["Checkpointing to Object Storage"]  # the page's title, without " (1)"
    assert talk["url"] == media_server.url("checkpointing.html")  # the page stays the talk's link
    # its <video>'s file is what players play (the talk page's player, a moment's link), from the page's host
    assert talk["media_url"] == media_server.url("t01.ogg")
    assert talk["published"] is None  # the page's HTTP Last-Modified (written just now) is no publication date
    assert talk["transcript_source"] == "uploaded captions"
    assert not any((library / "downloads").glob("*"))  # the captions sufficed: no audio fetched
    top = search_top(library, "checkpoints are written to an object storage bucket")
    assert top["text"] == TRUTH["t01"]["sentences"][1]["text"]  # the publisher's words, at their time
    assert abs(top["start"] - TRUTH["t01"]["sentences"][1]["start"]) < 0.05
    assert top["link"] == f"{media_server.url('t01.ogg')}#t={int(top['start'])}"

    # A track that names no language: whisper hears it in the opening minutes of the page's media, streamed.
    (media_server.directory / "untagged.html").write_text(
        "<!doctype html><html><head><title>Untagged</title></head><body>"
        '<video controls src="t01.ogg"><track kind="subtitles" src="checkpointing.vtt"></video></body></html>')
    result = talksearch("index", media_server.url("untagged.html"), "--library", str(library))
    assert result.returncode == 0 and outcome_lines(result)[0].endswith("uploaded captions)"), result.stdout
    assert talks_of(library)["Untagged"]["language"] == "en" and not any((library / "downloads").glob("*"))

    # --keep-media still keeps the audio; the captions are still what is indexed.
    kept = tmp_path / "kept"
    result = talksearch("index", media_server.url("checkpointing.html"), "--library", str(kept), "--keep-media")
    assert result.returncode == 0 and outcome_lines(result)[0].endswith("uploaded captions)"), result.stdout
    assert [p.suffix for p in (kept / "media").glob("*")] == [".ogg"] and not any((kept / "downloads").glob("*"))
    # Kept media is the user's: not a leftover of an interrupted run, so `check --repair` leaves it alone.
    checked = talksearch("check", "--library", str(kept), "--repair")
    assert checked.returncode == 0 and "leftover" not in checked.stdout, checked.stdout
    assert [p.suffix for p in (kept / "media").glob("*")] == [".ogg"]


@pytest.mark.models
def test_a_pages_video_takes_its_date_people_and_chapters_from_the_pages_json_ld(media_server, tmp_path):
    """A conference page states its recording in schema.org's terms (JSON-LD: its date, speaker, host, chapters); a
    talk indexed from the page's <video> had none of it (yt-dlp's generic extractor keeps no JSON-LD once it has
    found a <video>): undated, no speaker, no chapters."""
    stated = {"@context": "https://schema.org", "@graph": [
        {"@type": "WebPage", "name": "Program", "datePublished": "2019-01-01"},
        {"@type": "VideoObject", "name": "Checkpointing", "contentUrl": "t01.ogg",
         "description": "<p>How the <b>checkpoints</b> of long jobs (std::vector&lt;double&gt;) reach object storage.</p>",
         # late in the evening west of UTC: the day the page writes, not UTC's (the 6th)
         "uploadDate": "2024-03-05T23:30:00-05:00",
         "author": [{"@type": "Person", "name": "Kenji Watanabe"}, {"@type": "Person", "name": "Ana Lima"}],
         "publisher": {"@type": "Organization", "name": "Not the maker"},
         "creator": {"@type": "Organization", "name": "HPC Lab"},
         "hasPart": [{"@type": "Clip", "name": "Why checkpoint", "startOffset": 0, "endOffset": 11},
                     {"@type": "Clip", "name": "Object storage", "startOffset": 11, "endOffset": 20}]}]}
    (media_server.directory / "stated.vtt").write_text(vtt("t01"))
    (media_server.directory / "stated.html").write_text(
        "<!doctype html><html><head><title>Checkpointing | HPC Lab</title>"
        f'<script type="application/ld+json">{json.dumps(stated)}</script></head><body>'
        '<video controls src="t01.ogg"><track kind="subtitles" src="stated.vtt" srclang="en"></video></body></html>')
    library = tmp_path / "library"
    result = talksearch("index", media_server.url("stated.html"), "--library", str(library))
    assert result.returncode == 0, result.stdout + result.stderr
    [talk] = talks_of(library).values()
    assert talk["published"] == "2024-03-05"
    assert talk["speakers"] == ["Kenji Watanabe", "Ana Lima"]
    assert talk["channel"] == "HPC Lab"
    with Library.open(library, readonly=True) as reader:
        [stored] = reader.talks()
    assert stored.description == "How the checkpoints of long jobs (std::vector<double>) reach object storage."
    assert [(c["title"], c["start_time"]) for c in stored.chapters] == [("Why checkpoint", 0), ("Object storage", 11)]


@pytest.mark.models
def test_translate_says_on_the_talks_line_why_a_captioned_talk_got_no_english(media_server, tmp_path):
    """Captions first downloads no audio, so --translate has nothing to translate: the line says so, and how."""
    (media_server.directory / "german.vtt").write_text(vtt("t01"))  # the words do not matter here, the label does
    (media_server.directory / "german.html").write_text(
        "<!doctype html><html><head><title>Auf Deutsch</title></head><body>"
        '<video controls src="t01.ogg"><track kind="subtitles" src="german.vtt" srclang="de"></video></body></html>')
    result = talksearch("index", media_server.url("german.html"), "--library", str(tmp_path / "lib"), "--translate")
    assert result.returncode == 0, result.stdout + result.stderr
    (line,) = outcome_lines(result)
    assert line.startswith("added   Auf Deutsch (") and "uploaded captions; not translated:" in line, line
    assert "--captions never" in line


@pytest.mark.models
def test_a_members_feeds_password_is_not_stored_nor_shown(media_server, tmp_path):
    """A members' feed whose enclosures carry a user name and password (http://member:pw@host/...) was stored and
    shown as it was written: on the pages, the API, the feeds and MCP (a privacy hunt). They fetch the recording;
    the talk keeps the rest of its address, its signing token too, which a player needs."""
    (media_server.directory / "members.srt").write_text(srt("t01"))
    host = media_server.url("")
    feed = (media_server.directory / "feed.xml").read_text().replace(
        'length="53041"/>', f'length="53041"/><podcast:transcript url="{media_server.url("members.srt")}" '
        'type="application/x-subrip"/>').replace(f'url="{host}t01.ogg"', f'url="{host}t01.ogg?token=SIGNED"'.replace(
            "://", "://member:Hunter2pw@"))
    feed = feed.replace('<rss version="2.0">', '<rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0">')
    feed = feed.replace('<guid isPermaLink="false">t01</guid>', "")  # known by its enclosure's address alone
    assert "member:Hunter2pw@" in feed and "t01</guid>" not in feed
    (media_server.directory / "members.xml").write_text(feed)
    library = tmp_path / "library"
    first = talksearch("index", media_server.url("members.xml"), "--library", str(library))
    assert first.returncode == 0, first.stdout + first.stderr
    talk = talks_of(library)[TRUTH["t01"]["title"]]
    assert talk["media_url"] == talk["url"] == f"{host}t01.ogg?token=SIGNED"
    catalog = (library / "catalog.sqlite").read_bytes() + (library / "catalog.sqlite-wal").read_bytes() \
        if (library / "catalog.sqlite-wal").exists() else (library / "catalog.sqlite").read_bytes()
    assert b"Hunter2pw" not in catalog
    again = talksearch("index", media_server.url("members.xml"), "--library", str(library))
    assert outcome_lines(again)[0] == f"skipped {TRUTH['t01']['title']}: already in the library", again.stdout
    # nor is the talk's id made of it (a reviewer's hunt: the same feed was other talks with another password, and
    # an id a fixed function of the password): another member's feed, another library, the same talk
    (media_server.directory / "members.xml").write_text(feed.replace("member:Hunter2pw@", "other:Pw0@"))
    elsewhere = talksearch("index", media_server.url("members.xml"), "--library", str(tmp_path / "other"))
    assert elsewhere.returncode == 0, elsewhere.stdout + elsewhere.stderr
    assert talks_of(tmp_path / "other")[TRUTH["t01"]["title"]]["id"] == talk["id"]

    # a library written before: its stored password is not shown either
    with Library.open(library) as writer, writer.db:
        writer.db.execute("UPDATE talks SET media_url = ?, thumbnail = ?",
                          (f"{host}t01.ogg?token=SIGNED".replace("://", "://member:Hunter2pw@"),
                           "https://art:pw@example.org/a.png"))
    talk = talks_of(library)[TRUTH["t01"]["title"]]
    assert (talk["media_url"], talk["thumbnail"]) == (f"{host}t01.ogg?token=SIGNED", "https://example.org/a.png")


@pytest.mark.models
def test_talks_keyed_by_a_password_before_are_still_known_by_it(media_server, tmp_path):
    """Releases before 2026-12-06 keyed a talk by a digest of its feed's or page's URL with its user name and
    password; keyed without them now, such a talk was indexed again (a page's <video>: a removed one came back), or
    added a second time when its enclosure moved (a reviewer's hunt)."""
    from talksearch.indexer.source_identity import _feed_digest, _url_digest

    (media_server.directory / "keyed.srt").write_text(srt("t01"))
    (media_server.directory / "moved").mkdir()
    shutil.copy(media_server.directory / "t01.ogg", media_server.directory / "moved" / "t01.ogg")
    host = media_server.url("")
    feed = (media_server.directory / "feed.xml").read_text().replace(
        '<rss version="2.0">', '<rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0">').replace(
        'length="53041"/>', f'length="53041"/><podcast:transcript url="{media_server.url("keyed.srt")}" '
        'type="application/x-subrip"/>')
    (media_server.directory / "keyed.xml").write_text(feed)
    (media_server.directory / "keyed.html").write_text(
        '<!doctype html><html><head><title>Keyed</title></head><body><video controls src="t01.ogg">'
        '<track kind="subtitles" src="keyed.srt" srclang="en"></video></body></html>')
    with_password = lambda url: url.replace("://", "://member:pw@")  # noqa: E731
    feed_url, page_url = with_password(media_server.url("keyed.xml")), with_password(media_server.url("keyed.html"))
    library = tmp_path / "library"
    for source in (feed_url, page_url):
        made = talksearch("index", source, "--library", str(library))
        assert made.returncode == 0, made.stdout + made.stderr
    with Library.open(library) as writer, writer.db:  # as an earlier release keyed them
        for (archive_id,) in writer.db.execute("SELECT archive_id FROM talks").fetchall():
            digest = archive_id.rsplit("-", 1)[1]
            if digest == _feed_digest(feed_url):
                before = archive_id.replace(digest, _feed_digest(feed_url, as_before=True))
            elif digest == _url_digest(page_url):
                before = archive_id.replace(digest, _url_digest(page_url, as_before=True))
            else:
                continue
            assert before != archive_id
            writer.db.execute("UPDATE talks SET archive_id = ? WHERE archive_id = ?", (before, archive_id))
    (media_server.directory / "keyed.xml").write_text(feed.replace(f"{host}t01.ogg", f"{host}moved/t01.ogg"))
    for source in (feed_url, page_url):
        again = talksearch("index", source, "--library", str(library))
        assert again.returncode == 0 and not any(line.startswith("added") for line in outcome_lines(again)), again.stdout
    assert len(talks_of(library)) == 3, talks_of(library)  # the feed's two, the page's one


@pytest.mark.models
def test_a_feed_transcript_is_used_and_reindexing_with_another_choice_replaces_it(media_server, tmp_path):
    (media_server.directory / "t01.en.srt").write_text(srt("t01"))
    (media_server.directory / "t02.json").write_text(podcast_json("t02"))
    feed = (media_server.directory / "feed.xml").read_text()
    feed = feed.replace('<rss version="2.0">', '<rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0">')
    feed = feed.replace("<description>Recorded talks</description>", "<description>Recorded talks</description>"
                        "<language>en</language>")
    feed = feed.replace('length="53041"/>', f'length="53041"/><podcast:transcript url="{media_server.url("t01.html")}" '
                        f'type="text/html"/><podcast:transcript url="{media_server.url("t01.en.srt")}" '
                        'type="application/x-subrip" rel="captions"/>')
    feed = feed.replace('length="45714"/>', f'length="45714"/><podcast:transcript url="{media_server.url("t02.json")}" '
                        'type="application/json" language="en"/>')
    (media_server.directory / "transcribed.xml").write_text(feed)
    library = tmp_path / "library"
    result = talksearch("index", media_server.url("transcribed.xml"), "--library", str(library))
    assert result.returncode == 0, result.stdout + result.stderr
    assert [line.endswith("uploaded captions)") for line in outcome_lines(result)] == [True, True], result.stdout
    talks = talks_of(library)
    assert {t["transcript_source"] for t in talks.values()} == {"uploaded captions"}
    assert talks[TRUTH["t01"]["title"]]["speakers"] == ["Ines Moreau"]  # the feed's metadata as before
    with Library.open(library, readonly=True) as reader:
        t02 = talks[TRUTH["t02"]["title"]]["id"]
        sentences = reader.segments(t02)
        assert [s.text for s in sentences] == [s["text"] for s in TRUTH["t02"]["sentences"]]
        assert {s.speaker for s in sentences} == {"Kenji Watanabe"}
        before = reader.count_passages()
    exported = talksearch("export", t02, "--format", "vtt", "--library", str(library)).stdout
    first = TRUTH["t02"]["sentences"][0]["text"]  # the voice goes back out, on the first of the sentence's cues
    assert f"<v Kenji Watanabe>{' '.join(first.split()[:3])}" in exported

    again = talksearch("index", media_server.url("transcribed.xml"), "--library", str(library))
    assert "0 added, 2 skipped" in again.stdout  # a known talk is skipped, as before
    replaced = talksearch("index", media_server.url("transcribed.xml"), "--library", str(library), "--captions",
                          "never", "--reindex", *FAST)
    assert replaced.returncode == 0, replaced.stdout + replaced.stderr
    assert all(line.endswith("whisper tiny.en, replacing the earlier transcript)") for line in outcome_lines(replaced))
    after = talks_of(library)
    assert {t["id"] for t in after.values()} == {t["id"] for t in talks.values()}  # the same talks, replaced
    assert {t["transcript_source"] for t in after.values()} == {"whisper tiny.en"}
    with Library.open(library, readonly=True) as reader:
        assert reader.count_passages() != before or [s.text for s in reader.segments(t02)] != [
            s["text"] for s in TRUTH["t02"]["sentences"]]
        assert {s.speaker for s in reader.segments(t02)} == {None}
    assert talksearch("check", "--library", str(library)).returncode == 0


def _distinct_copy(source, target, pad: float) -> None:
    """A copy of a test talk with a little more silence at its end: another recording (another digest)."""
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(source), "-af", f"apad=pad_dur={pad}",
                    "-c:a", "libvorbis", str(target)], check=True)


@pytest.mark.models
def test_sidecar_files_beside_local_recordings(tmp_path):
    folder = tmp_path / "recordings"
    folder.mkdir()
    shutil.copy(DATA / "t01.ogg", folder / "checkpointing.ogg")
    (folder / "checkpointing.en.vtt").write_text(vtt("t01", voice="Ines Moreau"))
    (folder / "checkpointing.fr.vtt").write_text(vtt("t01").replace("checkpoint", "point de reprise"))
    shutil.copy(DATA / "t02.ogg", folder / "partition_keys.ogg")
    (folder / "partition_keys.srt").write_text(srt("t02"))
    library = tmp_path / "library"
    result = talksearch("index", str(folder), "--library", str(library), "--language", "en")
    assert result.returncode == 0, result.stdout + result.stderr
    assert sum(line.endswith("uploaded captions)") for line in outcome_lines(result)) == 2, result.stdout
    talks = talks_of(library)
    assert {t["transcript_source"] for t in talks.values()} == {"uploaded captions"}
    assert abs(talks["checkpointing"]["duration"] - TRUTH["t01"]["duration"]) < 0.5  # the file's, not the captions'
    top = search_top(library, "restarting after a node failure")
    assert top["text"] == TRUTH["t01"]["sentences"][3]["text"]


@pytest.mark.models
def test_bad_captions_fall_back_to_whisper_with_the_reason_on_the_talks_line(media_server, tmp_path):
    folder = tmp_path / "recordings"
    folder.mkdir()
    bad = {
        "empty": ("vtt", "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n[Music]\n"),
        "malformed": ("vtt", "WEBVTT\n\n1.0 to 3.0\nhello\n"),
        "german": ("de.vtt", vtt("t01")),
        "overrun": ("srt", srt("t01").replace("00:00:17,017 --> 00:00:20,287", "00:00:17,017 --> 01:00:20,287")),
        "overlapping": ("srt", "1\n00:00:01,000 --> 00:00:12,000\nOne.\n\n2\n00:00:04,000 --> 00:00:08,000\nTwo.\n"),
    }
    for number, (name, (suffix, text)) in enumerate(bad.items(), 1):
        _distinct_copy(DATA / "t01.ogg", folder / f"{name}.ogg", pad=0.2 * number)
        (folder / f"{name}.{suffix}").write_text(text)
    feed = (media_server.directory / "feed.xml").read_text().replace(
        '<rss version="2.0">', '<rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0">')
    feed = feed.replace('length="45714"/>', f'length="45714"/><podcast:transcript url="{media_server.url("gone.vtt")}" '
                        'type="text/vtt"/>')
    feed = feed.replace("<item><title>Checkpointing", "<item><title>Skipped Checkpointing", 1)
    (media_server.directory / "broken.xml").write_text(feed)
    library = tmp_path / "library"
    result = talksearch("index", str(folder), media_server.url("broken.xml"), "--library", str(library),
                        "--language", "en", *FAST)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = {line.split()[1]: line for line in outcome_lines(result)}
    reasons = {
        "empty": "uploaded captions not used: empty (no words)",
        "malformed": "uploaded captions not used: malformed WebVTT (a block without timing: '1.0 to 3.0')",
        "german": "captions not used: no captions in en (only de)",
        "overrun": "uploaded captions not used: cues run to 1:00:20, past the media's end at 0:21",  # 20.6 s + padding
        "overlapping": "uploaded captions not used: overlapping cues at 0:04 (8.0 s)",
        "InfiniBand": "uploaded captions not used: HTTP Error 404: File not found",
    }
    for name, reason in reasons.items():
        assert lines[name].startswith("added") and lines[name].endswith(f"whisper tiny.en; {reason})"), lines[name]
    # ... and said before whisper starts on the talk (a long talk's outcome line comes hours later)
    out = result.stdout.splitlines()
    for name, reason in reasons.items():
        note = next((i for i, line in enumerate(out) if line.startswith("note") and line.split()[1].rstrip(":") == name), None)
        assert note is not None, (name, out)
        assert out[note].endswith(f"{reason}; transcribing its audio") and note < out.index(lines[name]), out[note]
    assert lines["Skipped"].endswith("whisper tiny.en)")  # no captions at all: whisper, nothing to explain
    assert {t["transcript_source"] for t in talks_of(library).values()} == {"whisper tiny.en"}


def _captioned_page(media_server, tmp_path, name: str, title: str, captions: str):
    """A page titled ``title`` with t02's video and ``captions`` as its English track, indexed into a new library:
    the library and the talk's id."""
    (media_server.directory / f"{name}.vtt").write_text(captions)
    (media_server.directory / f"{name}.html").write_text(
        f"<html><head><title>{title}</title></head><body><video src='t02.ogg'>"
        f"<track src='{name}.vtt' srclang='en'></video></body></html>")
    library = tmp_path / "library"
    assert talksearch("index", media_server.url(f"{name}.html"), "--library", str(library)).returncode == 0
    return library, talks_of(library)[title]["id"]


@pytest.mark.models
def test_the_talk_page_and_api_say_where_the_transcript_came_from(media_server, tmp_path):
    from fastapi.testclient import TestClient

    from talksearch.service.app import create_app
    from talksearch.settings import Settings

    library, talk_id = _captioned_page(media_server, tmp_path, "ib", "Partition Keys", vtt("t02"))
    with TestClient(create_app(Settings(library=library))) as client:
        detail = client.get(f"/api/talks/{talk_id}").json()
        assert detail["transcript_source"] == "uploaded captions" and detail["whisper_model"] == ""
        page = client.get(f"/talks/{talk_id}").text
        assert "Transcript: uploaded captions" in page


@pytest.mark.models
def test_the_speakers_captions_name_are_on_the_talk_page_and_in_every_export(media_server, tmp_path):
    """Two speakers named by a page's captions: the talk page names each where they start (a name is untrusted
    markup, shown as text), and the CLI's and the API's text and SubRip exports start their lines with it there;
    the JSON gives each sentence's speaker."""
    from fastapi.testclient import TestClient

    from talksearch.service.app import create_app
    from talksearch.settings import Settings

    first, second, third = (s["text"] for s in TRUTH["t02"]["sentences"])
    captions = vtt("t02", voice="Kenji Watanabe").replace(f"<v Kenji Watanabe>{third}", f"<v Ana <script>{third}")
    library, talk_id = _captioned_page(media_server, tmp_path, "turns", "Turns", captions)
    said = [f"Kenji Watanabe: {first}", second, f"Ana <script: {third}"]

    def export(fmt: str) -> str:
        result = talksearch("export", talk_id, "--format", fmt, "--library", str(library))
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert export("txt").splitlines() == said
    subtitles = export("srt")
    sentences, sentence = [], ""  # the cues' text (a long sentence is cut into several: talksearch.cues), rejoined
    for cue in subtitles.strip().split("\n\n"):
        sentence = " ".join([sentence, *cue.splitlines()[2:]]).strip()
        if sentence.endswith("."):
            sentences, sentence = [*sentences, sentence], ""
    assert sentences == [said[0], said[1], f"Ana \u2039script: {third}"]  # no "<" a player would take for a tag
    speakers = ["Kenji Watanabe", "Kenji Watanabe", "Ana <script"]
    assert [s["speaker"] for s in json.loads(export("json"))["segments"]] == speakers
    with TestClient(create_app(Settings(library=library))) as client:
        assert client.get(f"/api/talks/{talk_id}/transcript.txt").text.splitlines() == said
        assert client.get(f"/api/talks/{talk_id}/transcript.srt").text == subtitles
        assert [s["speaker"] for s in client.get(f"/api/talks/{talk_id}/transcript").json()["segments"]] == speakers
        page = client.get(f"/talks/{talk_id}").text
    transcript = page.split('id="transcript"')[1].split("</section>")[0]
    paragraphs = [re.findall(r'<b class="speaker" dir="auto">(.*?)</b>:', p) for p in transcript.split("<p>")[1:]]
    assert paragraphs == [["Kenji Watanabe"], ["Ana &lt;script"]]  # a paragraph per speaker, named once, escaped
    assert "Ana <script" not in page


@pytest.mark.unit
def test_which_site_captions_are_chosen():
    from talksearch.indexer.caption_sources import choose, site_tracks, spoken_language
    from talksearch.indexer.captions import CaptionError

    youtube = {  # as yt-dlp gives a YouTube video: uploaded English and German, automatic with translations
        "subtitles": {"de": [{"ext": "json3", "url": "u:de.json3"}, {"ext": "vtt", "url": "u:de.vtt"}],
                      "en-GB": [{"ext": "srv3", "url": "u:en.srv3"}, {"ext": "vtt", "url": "u:en.vtt"}]},
        "automatic_captions": {"en-orig": [{"ext": "vtt", "url": "a:en-orig"}], "en": [{"ext": "vtt", "url": "a:en"}],
                               "fr": [{"ext": "vtt", "url": "a:fr"}]},
    }
    assert spoken_language(youtube) == "en"
    assert choose(site_tracks(youtube, "uploaded"), "en").url == "u:en.vtt"
    assert choose(site_tracks(youtube, "never"), "en") is None
    automatic_only = {"automatic_captions": youtube["automatic_captions"]}
    assert choose(site_tracks(automatic_only, "uploaded"), "en") is None  # machine captions only when asked
    chosen = choose(site_tracks(automatic_only, "any"), "en")
    assert (chosen.url, chosen.source) == ("a:en-orig", "automatic captions")
    with pytest.raises(CaptionError, match=r"captions in 2 languages \(de, en\) and the talk's language is not known"):
        choose(site_tracks(youtube, "uploaded"), None)
    with pytest.raises(CaptionError, match=r"no captions in es \(only de, en, fr\)"):
        choose(site_tracks(youtube, "any"), "es")


@pytest.mark.models
def test_captions_that_name_no_language_get_the_language_whisper_hears(tmp_path):
    """Neither the recording (no .info.json) nor its captions (talk.vtt, untagged) say the language: whisper
    detects it from the audio, as for a transcribed talk, so that a language filter finds the talk."""
    folder = tmp_path / "recordings"
    folder.mkdir()
    said = "Slurm gang scheduling lets MPI jobs share nodes."
    subprocess.run(["espeak-ng", "-w", str(folder / "gang.wav"), said], check=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(folder / "gang.wav"), "-c:a", "aac",
                    str(folder / "gang.m4a")], check=True)
    (folder / "gang.wav").unlink()
    (folder / "gang.vtt").write_text(f"WEBVTT\n\n00:00:00.500 --> 00:00:03.000\n{said}\n")
    library = tmp_path / "library"
    result = talksearch("index", str(folder), "--library", str(library))
    assert result.returncode == 0 and outcome_lines(result)[0].endswith("uploaded captions)"), result.stdout + result.stderr
    assert talks_of(library)["gang"]["language"] == "en"
    found = talksearch("search", "gang scheduling", "--language", "en", "--library", str(library), "--json")
    assert [r["text"] for r in json.loads(found.stdout)["results"]] == [said], found.stdout + found.stderr


@pytest.mark.models
def test_captions_in_two_languages_are_chosen_by_the_language_whisper_hears(tmp_path):
    """talk.de.vtt and talk.en.vtt beside a recording nothing names the language of: whisper base hears German
    (a few seconds), and the German captions are the transcript, not refused for want of a --language."""
    folder = tmp_path / "recordings"
    folder.mkdir()
    said = "Die Wärmepumpe heizt das Haus im Winter und kühlt es im Sommer."
    subprocess.run(["espeak-ng", "-v", "de", "-w", str(folder / "kuehl.wav"), said], check=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(folder / "kuehl.wav"), str(folder / "kuehl.mp3")],
                   check=True)
    (folder / "kuehl.wav").unlink()
    (folder / "kuehl.de.vtt").write_text(f"WEBVTT\n\n00:00:00.300 --> 00:00:03.000\n{said}\n")
    (folder / "kuehl.en.vtt").write_text("WEBVTT\n\n00:00:00.300 --> 00:00:03.000\n"
                                         "The heat pump heats the house in winter and cools it in summer.\n")
    library = tmp_path / "library"
    result = talksearch("index", str(folder), "--library", str(library))
    assert result.returncode == 0 and "passages, uploaded captions" in outcome_lines(result)[0], result.stdout + result.stderr
    assert "not used" not in result.stdout
    talk = talks_of(library)["kuehl"]
    assert (talk["transcript_source"], talk["language"]) == ("uploaded captions", "de")
    found = talksearch("search", "Wärmepumpe", "--library", str(library), "--json")
    assert [r["text"] for r in json.loads(found.stdout)["results"]][:1] == [said], found.stdout + found.stderr


def _fetched_one(source: str, tmp_path, language: str | None = None):
    """The one talk ``source`` names, as the indexer's sources fetch it with the publisher's captions allowed."""
    from talksearch.indexer.sources import Sources

    sources = Sources(tmp_path / "downloads", lambda key: False, captions="uploaded", language=language)
    (fetched,) = map(sources.fetch, sources.expand(source))
    return fetched


CAFE = "Welcome to the storage café — it’s about erasure coding."
CAFE_SRT = f"1\n00:00:01,000 --> 00:00:03,000\n{CAFE}\n"


@pytest.mark.unit
@pytest.mark.parametrize(("encoded", "said", "note"), [
    (codecs.BOM_UTF16_LE + CAFE_SRT.encode("utf-16-le"), CAFE, None),
    (codecs.BOM_UTF16_BE + CAFE_SRT.encode("utf-16-be"), CAFE, None),
    (CAFE_SRT.encode("utf-32"), CAFE, None),  # (with its byte order mark)
    (codecs.BOM_UTF8 + CAFE_SRT.encode(), CAFE, None),
    (CAFE_SRT.encode("cp1252"), CAFE, "uploaded captions read as Windows-1252"),
    (CAFE_SRT.replace("— it’s", "it is").encode("latin-1"), CAFE.replace("— it’s", "it is"),
     "uploaded captions read as Windows-1252"),
], ids=["utf-16-le", "utf-16-be", "utf-32", "utf-8-bom", "cp1252", "latin-1"])
def test_captions_in_utf16_or_windows_1252_are_read(tmp_path, encoded, said, note):
    """Captions saved by Windows tools (UTF-16 with its byte order mark, or Windows-1252/Latin-1) were refused as
    "not UTF-8 text" and the talk transcribed; a guessed encoding is said on the talk's line."""
    shutil.copy(DATA / "t01.ogg", tmp_path / "cafe.ogg")
    (tmp_path / "cafe.srt").write_bytes(encoded)
    fetched = _fetched_one(str(tmp_path / "cafe.ogg"), tmp_path, language="en")
    assert fetched.captions is not None, fetched.captions_refused
    assert [s.text for s in fetched.captions.segments] == [said]
    assert fetched.captions_refused == note


@pytest.mark.unit
@pytest.mark.parametrize(("encoded", "reason"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00", "uploaded captions not used: not UTF-8 text"),
    (codecs.BOM_UTF16_LE + b"1\x00\n", "uploaded captions not used: not UTF-16 text"),  # an odd byte at its end
], ids=["binary", "broken-utf-16"])
def test_bytes_that_read_as_captions_in_no_encoding_are_refused(tmp_path, encoded, reason):
    shutil.copy(DATA / "t01.ogg", tmp_path / "junk.ogg")
    (tmp_path / "junk.srt").write_bytes(encoded)
    fetched = _fetched_one(str(tmp_path / "junk.ogg"), tmp_path, language="en")
    assert fetched.captions is None and fetched.captions_refused.startswith(reason), fetched.captions_refused


def _transcribed_feed(media_server, name: str, transcripts: str) -> str:
    """A feed of one item, t01's recording with ``transcripts`` (its <podcast:transcript> elements), stating no
    language of its own: the feed's URL."""
    (media_server.directory / f"{name}.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:podcast="https://podcastindex.org/namespace/1.0"><channel><title>Transcribed</title>'
        f"<link>{media_server.base}/</link><language>en</language><item><title>{name}</title>"
        f'<guid isPermaLink="false">{name}</guid><enclosure url="{media_server.url("t01.ogg")}" type="audio/ogg" '
        f'length="1"/>{transcripts}</item></channel></rss>')
    return media_server.url(f"{name}.xml")


@pytest.mark.unit
def test_a_timed_transcript_is_taken_before_an_html_one_named_in_the_language(media_server, tmp_path):
    """With --language en, an HTML transcript tagged "en" was chosen before a VTT that names no language, and the
    talk transcribed ("the feed's transcript is text/html, without timings"); a track that cannot be read gives
    way to the next that fits before whisper."""
    (media_server.directory / "f2.html").write_text("<html><body><p>Hello.</p></body></html>")
    (media_server.directory / "f2.vtt").write_text(vtt("t01"))
    feed = _transcribed_feed(media_server, "f2", (
        f'<podcast:transcript url="{media_server.url("f2.html")}" type="text/html" language="en"/>'
        f'<podcast:transcript url="{media_server.url("f2.vtt")}" type="text/vtt" rel="captions"/>'))
    fetched = _fetched_one(feed, tmp_path, language="en")
    assert fetched.captions is not None, fetched.captions_refused
    assert [s.text for s in fetched.captions.segments] == [s["text"] for s in TRUTH["t01"]["sentences"]]

    (media_server.directory / "f2.srt").write_text(srt("t01"))
    feed = _transcribed_feed(media_server, "f2b", (  # the English VTT is gone: the SubRip that names none is read
        f'<podcast:transcript url="{media_server.url("f2-gone.vtt")}" type="text/vtt" language="en"/>'
        f'<podcast:transcript url="{media_server.url("f2.srt")}" type="application/x-subrip"/>'))
    fetched = _fetched_one(feed, tmp_path, language="en")
    assert fetched.captions is not None and fetched.captions_refused is None, fetched.captions_refused
    assert fetched.captions.segments[0].text == TRUTH["t01"]["sentences"][0]["text"]


@pytest.mark.unit
def test_tracks_that_name_no_language_among_others_wait_for_the_language_heard(media_server, tmp_path):
    """A page's <track label="Deutsch"> before its <track label="English">, neither with a srclang, over English
    audio: the German track was taken (the first) and stored as the English talk's words. The choice now waits
    for the language whisper hears, and takes the track named in it."""
    from talksearch.indexer.caption_sources import CaptionTrack, needs_language

    (media_server.directory / "labels.de.vtt").write_text(
        "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nWillkommen zum Vortrag über Speicher.\n")
    (media_server.directory / "labels.en.vtt").write_text(
        "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nWelcome to the talk about storage.\n")
    (media_server.directory / "labels.html").write_text(
        "<!doctype html><html><head><title>Labels only</title></head><body><video controls src='t01.ogg'>"
        "<track kind='captions' src='labels.de.vtt' label='Deutsch'>"
        "<track kind='captions' src='labels.en.vtt' label='English'></video></body></html>")
    fetched = _fetched_one(media_server.url("labels.html"), tmp_path)
    assert fetched.captions is None and fetched.pending_captions is not None  # chosen once the language is heard
    english, refused = fetched.pending_captions.read("en")
    assert refused is None and (english.language, english.segments[0].text) == ("en", "Welcome to the talk about storage.")
    german, _ = fetched.pending_captions.read("de")
    assert (german.language, german.segments[0].text) == ("de", "Willkommen zum Vortrag über Speicher.")
    assert "2 caption tracks (Deutsch, en)" in fetched.pending_captions.refused  # where none is heard

    unnamed = CaptionTrack("uploaded", None, "vtt", url="u:talk.vtt")
    assert not needs_language([unnamed], None)  # the one track offered: taken, as the README says
    # several that all name none: the language heard could not tell them apart
    assert not needs_language([unnamed, CaptionTrack("uploaded", None, "srt", url="u:talk.srt")], None)
    assert not needs_language([unnamed, CaptionTrack("uploaded", "en", "vtt", url="u:en.vtt")], "en")


@pytest.mark.unit
def test_a_feeds_windows_1252_captions_are_said_to_be_read_as_such(media_server, tmp_path):
    """Captions that stand in for a download carry their note too: the talk's line says the encoding was guessed."""
    (media_server.directory / "cafe.srt").write_bytes(CAFE_SRT.encode("cp1252"))
    feed = _transcribed_feed(media_server, "cafe", (
        f'<podcast:transcript url="{media_server.url("cafe.srt")}" type="application/x-subrip" language="en"/>'))
    fetched = _fetched_one(feed, tmp_path)
    assert fetched.audio is None and [s.text for s in fetched.captions.segments] == [CAFE]
    assert fetched.captions_refused == "uploaded captions read as Windows-1252"
