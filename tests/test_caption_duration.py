"""A duration a feed states (itunes:duration) is the publisher's word, often rounded down or wrong; a downloaded
file's is measured. Captions that run past the stated end are judged by the file's before they are refused, and a
talk whose file was downloaded keeps the file's duration. Captions that fit the stated end still download nothing.
Everything runs over the loopback media server, with the test talks' audio and their true sentences as a VTT."""

from __future__ import annotations

import json
import shutil

import pytest

from talksearch.indexer.sources import Sources
from tests.helpers import DATA, TRUTH, talksearch
from tests.service_fixtures import serving, settings_for
from tests.test_audio import vbr_mp3_without_xing
from tests.test_captions_indexing import outcome_lines, vtt

# What these check does not depend on the embedding model (conftest's light_embedding).
pytestmark = pytest.mark.usefixtures("light_embedding")

PODCAST = "https://podcastindex.org/namespace/1.0"
ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"


def _feed(media_server, name: str, items: list[tuple[str, str, str, str]]) -> str:
    """A feed on the media server of (title, stated itunes:duration, test talk, its captions' file name) items,
    each captions file the talk's true sentences unless the test wrote it already; the feed's URL."""
    listed = ""
    for title, stated, talk, captions in items:
        if not (media_server.directory / captions).exists():
            (media_server.directory / captions).write_text(vtt(talk))
        listed += (f'<item><title>{title}</title><guid isPermaLink="false">{name}-{title}</guid>'
                   f"<itunes:duration>{stated}</itunes:duration>"
                   f'<enclosure url="{media_server.url(talk)}.ogg" type="audio/ogg" length="1"/>'
                   f'<podcast:transcript url="{media_server.url(captions)}" type="text/vtt"/></item>')
    (media_server.directory / f"{name}.xml").write_text(
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:podcast="{PODCAST}" xmlns:itunes="{ITUNES}">'
        f"<channel><title>{name}</title><link>{media_server.base}/</link><language>en</language>{listed}"
        "</channel></rss>")
    return media_server.url(f"{name}.xml")


def _fetched(feed: str, tmp_path, keep_media: bool = False) -> dict:
    """Each item of the feed as the indexer's sources fetch it, by title."""
    sources = Sources(tmp_path / "downloads", lambda key: False, captions="uploaded", keep_media=keep_media)
    return {fetched.talk.title: fetched for fetched in map(sources.fetch, sources.expand(feed))}


@pytest.mark.unit
def test_captions_past_a_stated_end_are_judged_by_the_downloaded_file(media_server, tmp_path):
    feed = _feed(media_server, "stated", [
        ("Understated", "00:00:10", "t01", "t01.vtt"),  # a 20.6 s file, its captions to 0:20
        ("Stated right", "00:00:19", "t02", "t02.vtt"),  # an 18.8 s file, its captions to 0:18
    ])
    talks = _fetched(feed, tmp_path)
    understated = talks["Understated"]
    assert understated.captions is not None and understated.captions_refused is None
    assert understated.audio is not None  # downloaded to be measured (and whisper's, had the captions not fit)
    assert understated.talk.duration == pytest.approx(TRUTH["t01"]["duration"], abs=0.1)  # the file's, not 10
    right = talks["Stated right"]
    assert right.captions is not None and right.audio is None  # captions within the stated end: nothing downloaded
    assert right.talk.duration == 19  # nothing measured: the feed's word stands


@pytest.mark.unit
def test_with_keep_media_an_overstated_duration_gives_way_to_the_files(media_server, tmp_path):
    (media_server.directory / "overrun.vtt").write_text(vtt("t01").replace("00:00:20.287", "00:30:00.000"))
    feed = _feed(media_server, "overstated", [
        ("Overstated", "01:00:00", "t02", "t02.vtt"),  # an 18.8 s file said to last an hour
        ("Overrun", "01:00:00", "t01", "overrun.vtt"),  # captions to 0:30:00, within the hour, not the file
    ])
    talks = _fetched(feed, tmp_path, keep_media=True)
    overstated = talks["Overstated"]
    assert overstated.captions is not None and overstated.audio is not None
    assert overstated.talk.duration == pytest.approx(TRUTH["t02"]["duration"], abs=0.1)
    overrun = talks["Overrun"]
    assert overrun.captions is None
    assert overrun.captions_refused == "uploaded captions not used: cues run to 30:00, past the media's end at 0:20"
    assert overrun.talk.duration == pytest.approx(TRUTH["t01"]["duration"], abs=0.1)



@pytest.mark.unit
@pytest.mark.parametrize("info", [None, {"duration": 3600}])
def test_sidecar_captions_past_an_mp3s_estimated_end_are_judged_by_its_measured_one(tmp_path, info):
    """A VBR MP3 without a Xing header states ffmpeg's estimate from its bitrate (a lecture: 2:34 of 4:06): its right
    captions were refused ("cues run to 3:55, past the media's end at 2:34") and a captions-only talk kept 2:34.
    The talk keeps the file's duration, as a feed's downloaded file does, not what its .info.json says."""
    mp3 = vbr_mp3_without_xing(tmp_path / "lecture.mp3", seconds=20)  # stated about 8 s
    (tmp_path / "lecture.vtt").write_text("WEBVTT\n\n00:00:12.000 --> 00:00:15.000\nAnd that ends the lecture.\n")
    if info is not None:
        (tmp_path / "lecture.info.json").write_text(json.dumps(info))
    lecture = _fetched(str(mp3), tmp_path)["lecture"]
    assert lecture.captions_refused is None and lecture.captions is not None
    assert lecture.talk.duration == pytest.approx(20.0, abs=0.1)

@pytest.mark.models
def test_an_understated_feed_item_is_indexed_from_its_captions_with_the_files_duration(media_server, tmp_path):
    feed = _feed(media_server, "understated", [("Rounded down", "00:00:10", "t01", "t01.vtt")])
    # Whisper measures what it hears too: a recording without captions keeps that, not what its .info.json says.
    shutil.copy(DATA / "t02.ogg", tmp_path / "claimed.ogg")
    (tmp_path / "claimed.info.json").write_text(json.dumps({"title": "Claimed an hour", "duration": 3600}))
    library = tmp_path / "library"
    result = talksearch("index", feed, str(tmp_path / "claimed.ogg"), "--library", str(library),
                        "--whisper-model", "tiny.en")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = {line.split("(")[0].split(maxsplit=1)[1].strip(): line for line in outcome_lines(result)}
    assert lines["Rounded down"].endswith("uploaded captions)"), lines
    assert lines["Claimed an hour"].endswith("whisper tiny.en)"), lines
    assert not any((library / "downloads").glob("*"))  # measured, then discarded like any download
    with serving(settings_for(library)) as server:
        talks = {talk["title"]: talk for talk in server.get("/api/talks").json()["talks"]}
        captioned = talks["Rounded down"]
        assert captioned["transcript_source"] == "uploaded captions"
        assert captioned["duration"] == pytest.approx(TRUTH["t01"]["duration"], abs=0.1)
        segments = server.get(f"/api/talks/{captioned['id']}/transcript").json()["segments"]
        assert segments[-1]["end"] <= captioned["duration"]
        assert talks["Claimed an hour"]["duration"] == pytest.approx(TRUTH["t02"]["duration"], abs=0.1)
