"""A talk the library has whose source now states other details (a feed item's corrected title, another speaker; a
local recording's edited .info.json): a plain re-run stores them, without downloading or transcribing it again,
and says so on an ``updated`` line. Through the CLI, with a loopback feed and the real yt-dlp, whisper and MiniLM."""

from __future__ import annotations

import json
import shutil
import sqlite3
import xml.etree.ElementTree as ET
from datetime import datetime

import numpy as np
import pytest

from talksearch.indexer.passages import PassageOptions, make_passages
from talksearch.indexer.pipeline import IndexRun
from talksearch.library import Library
from tests.helpers import DATA, talksearch
from tests.service_fixtures import index_captioned_copy, serving, settings_for

# What these check does not depend on the embedding model (conftest's light_embedding).
pytestmark = [pytest.mark.models, pytest.mark.usefixtures("light_embedding")]

MODELS = ("--whisper-model", "tiny.en", "--embed-model", "all-MiniLM-L6-v2")
ATOM = "{http://www.w3.org/2005/Atom}"
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


def _embedded_as(library, title: str) -> bool:
    """Whether every passage's stored vector is its text's embedding after ``title``, as the indexer makes it."""
    from talksearch.embedding import Embedder
    from talksearch.indexer.passages import embedding_texts

    with Library.open(library, readonly=True) as reader:
        ids = sorted(int(i) for i in reader.passage_ids())
        hits = reader.passages(ids)
        stored = reader.passage_vectors(ids)
    expected, _ = Embedder("all-MiniLM-L6-v2").passages_with_tokens(embedding_texts([hits[i] for i in ids],
                                                                                    {"title": title}))
    return bool(np.allclose(stored, expected, atol=1e-3))


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
                        f"kept; its {len(vectors)} passages made again after its new title"), line
        assert summary.startswith("0 added, 1 updated, 0 skipped, 0 failed; 0.00 h of audio"), summary
        assert reader.talk_names() == [(talk_id, ["Bob"], "Summit 2024")]
    [talk] = _talks(library)
    assert (talk["id"], talk["title"], talk["speakers"]) == (talk_id, "Power Capping v2 (corrected title)", ["Bob"])
    assert (talk["event"], talk["published"]) == ("Summit 2024", "2024-05-14")
    transcript_now, vectors_now = _stored(library)
    assert transcript_now == transcript  # nothing transcribed again
    # ... but its passages embedded after the new title, as a talk indexed with it is (window passages hold the
    # title: a query naming the talk finds them), as new passages: an id names one vector for good
    assert len(vectors_now) == len(vectors) and not set(vectors_now) & set(vectors)
    assert _embedded_as(library, "Power Capping v2 (corrected title)")

    # Unchanged since: skipped, named by the title the library holds.
    line, summary = _index(library, media_server.url("refresh/feed.xml"))
    assert line == "skipped Power Capping v2 (corrected title): already in the library", line
    assert summary.startswith("0 added, 1 skipped, 0 failed"), summary


def test_a_feed_items_chapters_follow_the_description_that_lists_them(media_server, tmp_path):
    """A feed item's chapters made from its description's timestamp lines stayed the first description's when a
    re-run stored a new one (a chapters hunt); a local recording's edited sidecar changed them. They follow now."""
    folder = media_server.directory / "refresh-chapters"
    folder.mkdir(exist_ok=True)
    shutil.copy(DATA / "t01.ogg", folder / "talk.ogg")
    feed, library = folder / "feed.xml", tmp_path / "library"

    def publish(description: str) -> None:
        item = FEED.format(title="Chaptered", author="Alice", event="Summit 2024",
                           media=media_server.url("refresh-chapters/talk.ogg"))
        feed.write_text(item.replace("<guid", f"<description>{description}</description><guid"))

    publish("A talk about object storage.")  # no chapters at first; then the publisher lists them (a review's hunt:
    assert _index(library, media_server.url("refresh-chapters/feed.xml"))[-1].startswith("1 added")  # never taken)
    publish("0:00 Intro\n0:05 Buckets\n0:12 Questions")
    line, _ = _index(library, media_server.url("refresh-chapters/feed.xml"))
    assert line.startswith("updated Chaptered: details changed (description, chapters); transcript kept"), line
    with Library.open(library, readonly=True) as reader:
        assert [c["title"] for c in reader.talks()[0].chapters] == ["Intro", "Buckets", "Questions"]
    publish("0:00 Opening\n0:08 Object storage\n0:15 Answers")
    line, _ = _index(library, media_server.url("refresh-chapters/feed.xml"))
    assert line.startswith("updated Chaptered: details changed (description, chapters); transcript kept; its "), line
    assert line.endswith(" passages made again after its new chapters"), line
    with Library.open(library, readonly=True) as reader:
        [talk] = reader.talks()
        windows = [(p.start, p.end) for p in reader.passages_within(talk.id, 0, 1e9) if p.kind == "window"]
        sentences = reader.segments(talk.id)
    assert [(c["start_time"], c["title"]) for c in talk.chapters] == [
        (0, "Opening"), (8, "Object storage"), (15, "Answers")], talk.chapters
    # cut at the new chapters' starts (no window runs from one chapter into the next), not at the earlier ones'
    cut = lambda chapters: [(p.start, p.end) for p in make_passages(sentences, PassageOptions(), chapters)  # noqa: E731
                            if p.kind == "window"]
    assert windows == cut(talk.chapters) != cut([{"start_time": 0, "end_time": 5, "title": "Intro"},
                                                 {"start_time": 5, "end_time": 12, "title": "Buckets"},
                                                 {"start_time": 12, "end_time": None, "title": "Questions"}])


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


def _talks_feed_times(server) -> tuple[str, str, str, str]:
    """/talks.atom's one entry's title and <updated>, the feed's <updated>, and its ETag."""
    response = server.get("/talks.atom")
    assert response.status_code == 200, response.text
    feed = ET.fromstring(response.content)
    [entry] = feed.findall(f"{ATOM}entry")
    return (entry.findtext(f"{ATOM}title"), entry.findtext(f"{ATOM}updated"), feed.findtext(f"{ATOM}updated"),
            response.headers["etag"])


def _rerun(settings, folder) -> list[str]:
    run = IndexRun(settings, report=lambda line: None)
    try:
        return [f"{o.status} {o.detail}" for o in run.run([str(folder)]).outcomes]
    finally:
        run.close()


def test_a_talks_feed_entry_is_updated_when_its_details_change(tmp_path):
    """Atom's <updated> is "the most recent instant an entry was modified in a way the publisher considers
    significant" (RFC 4287 4.2.15): a corrected title is one, so a feed reader must be told. The talk's entry, and
    the feed with it, take the time its details changed; a re-run that changes nothing leaves both as they were.
    A captioned local recording, indexed and refreshed by the real indexer, its feed from the real service."""
    settings = settings_for(tmp_path / "library")
    recording = index_captioned_copy(settings, tmp_path / "recordings")
    catalog = sqlite3.connect(settings.library / "catalog.sqlite")  # indexed a while ago
    with catalog:
        catalog.execute("UPDATE talks SET indexed_at = '2024-06-01T00:00:00+00:00'")
    catalog.close()
    with serving(settings) as server:
        title, entry_updated, feed_updated, _ = _talks_feed_times(server)
        assert (title, entry_updated, feed_updated) == ("checkpointing", "2024-06-01T00:00:00+00:00",
                                                        "2024-06-01T00:00:00+00:00")
        [talk] = server.get("/api/talks").json()["talks"]
        assert server.get(f"/api/talks/{talk['id']}").json()["details_changed_at"] is None  # never changed

        recording.with_suffix(".info.json").write_text(json.dumps({"title": "Checkpointing, corrected"}))
        [outcome] = _rerun(settings, recording.parent)
        assert outcome.startswith("updated details changed (title"), outcome
        refreshed = _talks_feed_times(server)
        title, entry_updated, feed_updated, _ = refreshed
        assert title == "Checkpointing, corrected"
        assert datetime.fromisoformat(entry_updated) > datetime.fromisoformat("2024-06-01T00:00:00+00:00")
        assert feed_updated == entry_updated
        assert server.get(f"/api/talks/{talk['id']}").json()["details_changed_at"] == entry_updated

        [outcome] = _rerun(settings, recording.parent)
        assert outcome.startswith("skipped "), outcome
        assert _talks_feed_times(server) == refreshed  # the same bytes: the same ETag, and a 304 to a reader's poll
