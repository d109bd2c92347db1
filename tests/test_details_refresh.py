"""A talk the library has whose source now states other details (a feed item's corrected title, another speaker; a
local recording's edited .info.json): a plain re-run stores them, without downloading or transcribing it again,
and says so on an ``updated`` line. Through the CLI, with a loopback feed and the real yt-dlp, whisper and MiniLM."""

from __future__ import annotations

import json
import shutil

import pytest

from talksearch.library import Library
from tests.helpers import DATA, talksearch

# What these check does not depend on the embedding model (conftest's light_embedding).
pytestmark = [pytest.mark.models, pytest.mark.usefixtures("light_embedding")]

MODELS = ("--whisper-model", "tiny.en", "--embed-model", "all-MiniLM-L6-v2")
FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><channel><title>Refresh show</title>
<item><title>{title}</title><itunes:author>{author}</itunes:author><category>{event}</category>
<guid isPermaLink="false">talk-b-guid</guid><pubDate>Tue, 14 May 2024 00:00:00 +0000</pubDate>
<enclosure url="{media}" type="audio/ogg" length="53041"/></item></channel></rss>"""


def _index(library, *sources: str) -> list[str]:
    result = talksearch("index", *sources, "--library", str(library), *MODELS)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.splitlines()


def _talks(library) -> list[dict]:
    return json.loads(talksearch("talks", "--library", str(library), "--json").stdout)["talks"]


def _stored(library) -> tuple[list, dict]:
    """The transcript (sentences with their words) and every passage's embedding: what indexing made."""
    with Library.open(library, readonly=True) as reader:
        [talk] = reader.talks()
        ids = [int(i) for i in reader.passage_ids()]
        return reader.segments(talk.id), dict(zip(ids, reader.passage_vectors(ids).tolist()))


def test_a_feed_items_new_details_are_stored_without_transcribing_again(media_server, tmp_path):
    folder = media_server.directory / "refresh"
    folder.mkdir(exist_ok=True)
    shutil.copy(DATA / "t01.ogg", folder / "talk.ogg")
    feed, library = folder / "feed.xml", tmp_path / "library"
    media = media_server.url("refresh/talk.ogg")
    feed.write_text(FEED.format(title="Power Capping v1", author="Alice", event="Summit 2024", media=media))
    *_, added = _index(library, media_server.url("refresh/feed.xml"))
    assert added.startswith("1 added, 0 skipped, 0 failed"), added
    transcript, vectors = _stored(library)

    # The publisher corrects the item; its recording is gone from the server, so a download would fail the talk.
    feed.write_text(FEED.format(title="Power Capping v2 (corrected title)", author="Bob", event="Summit 2024",
                                media=media))
    (folder / "talk.ogg").unlink()
    with Library.open(library, readonly=True) as reader:  # a reader (a running service) that read the names before
        [(talk_id, speakers, _)] = reader.talk_names()
        assert speakers == ["Alice"]
        line, summary = _index(library, media_server.url("refresh/feed.xml"))
        assert line == ("updated Power Capping v2 (corrected title): details changed (title, speakers); transcript "
                        "kept (its passages stay embedded with the earlier title: --reindex embeds the new one)"), line
        assert summary.startswith("0 added, 1 updated, 0 skipped, 0 failed; 0.00 h of audio"), summary
        assert reader.talk_names() == [(talk_id, ["Bob"], "Summit 2024")]
    [talk] = _talks(library)
    assert (talk["id"], talk["title"], talk["speakers"]) == (talk_id, "Power Capping v2 (corrected title)", ["Bob"])
    assert (talk["event"], talk["published"]) == ("Summit 2024", "2024-05-14")
    assert _stored(library) == (transcript, vectors)  # nothing transcribed or embedded again

    # Unchanged since: skipped, named by the title the library holds.
    line, summary = _index(library, media_server.url("refresh/feed.xml"))
    assert line == "skipped Power Capping v2 (corrected title): already in the library", line
    assert summary.startswith("0 added, 1 skipped, 0 failed"), summary


def test_a_local_recordings_edited_sidecar_is_stored_without_transcribing_again(tmp_path):
    folder, library = tmp_path / "talks", tmp_path / "library"
    folder.mkdir()
    recording, sidecar = folder / "talk.ogg", folder / "talk.info.json"
    shutil.copy(DATA / "t02.ogg", recording)
    sidecar.write_text(json.dumps({"title": "Partition Keys v1", "creators": ["Ann Lee"]}))
    *_, added = _index(library, str(folder))
    assert added.startswith("1 added, 0 skipped, 0 failed"), added
    transcript, vectors = _stored(library)

    sidecar.write_text(json.dumps({"title": "Partition Keys v1", "creators": ["Ann Lee", "Bo Chen"],
                                   "series": "HPC Days"}))
    line, summary = _index(library, str(folder))
    assert line == f"updated {recording}: details changed (speakers, event); transcript kept", line
    assert summary.startswith("0 added, 1 updated, 0 skipped, 0 failed"), summary
    [talk] = _talks(library)
    assert (talk["title"], talk["speakers"], talk["event"]) == ("Partition Keys v1", ["Ann Lee", "Bo Chen"], "HPC Days")
    assert _stored(library) == (transcript, vectors)

    line, summary = _index(library, str(folder))
    assert line == f"skipped {recording}: already in the library", line
    assert summary.startswith("0 added, 1 skipped, 0 failed"), summary
